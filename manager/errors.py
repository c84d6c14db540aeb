"""The manager's exception tree; ``service_kit.service_errors`` maps it to the envelope.

    ManagerError (500 server_error)
     ├── BadRequestError (400 invalid_request)
     ├── HubAccessDeniedError (403 HUB_ACCESS_DENIED, src hub: gated or private)
     ├── NotFoundError (404 NOT_FOUND)
     │    ├── HubModelNotFoundError (404 model_not_found, src hub)
     │    ├── ModelNotFoundError (404 model_not_found: not local, not in the catalog)
     │    └── ModelNotVisibleError (404 model_not_visible_to_inference: in the library, in a
     │         folder the inference server does not read)
     ├── ConflictError (409 CONFLICT)
     │    └── WriteConflictError (409 WRITE_CONFLICT: a row another writer just added)
     ├── PayloadTooLargeError (413 PAYLOAD_TOO_LARGE)
     ├── InsufficientStorageError (507 INSUFFICIENT_STORAGE)
     ├── UpstreamError (502 BAD_GATEWAY)
     │    └── HubResponseError (502 BAD_GATEWAY, src hub: an answer that makes no sense)
     └── ServiceUnavailableError (503 SERVICE_UNAVAILABLE, Retry-After)
          ├── DatabaseUnavailableError (503 DATABASE_UNAVAILABLE)
          └── HubUnavailableError (503 SERVICE_UNAVAILABLE, src hub: unreachable, 5xx, 429)

A missing or wrong token is answered 401 ``INVALID_TOKEN`` by the bearer-token middleware.
"""

from __future__ import annotations

from typing import ClassVar

from service_kit.service_errors import ServiceError
from shared_schemas.errors import ErrorSource


class ManagerError(ServiceError):
    src: ClassVar[ErrorSource | None] = "manager"


class BadRequestError(ManagerError):
    status = 400
    code = "invalid_request"


class NotFoundError(ManagerError):
    status = 404
    code = "NOT_FOUND"


class ConflictError(ManagerError):
    status = 409
    code = "CONFLICT"


class WriteConflictError(ConflictError):
    """A database constraint refused a write because another writer (another request, or
    another manager on a shared database) wrote the same record first."""

    code = "WRITE_CONFLICT"


class PayloadTooLargeError(ManagerError):
    status = 413
    code = "PAYLOAD_TOO_LARGE"


class InsufficientStorageError(ManagerError):
    status = 507
    code = "INSUFFICIENT_STORAGE"


class UpstreamError(ManagerError):
    status = 502
    code = "BAD_GATEWAY"


class ServiceUnavailableError(ManagerError):
    status = 503
    code = "SERVICE_UNAVAILABLE"


class DatabaseUnavailableError(ServiceUnavailableError):
    code = "DATABASE_UNAVAILABLE"


class HubAccessDeniedError(ManagerError):
    """The Hub refused access: a gated model whose licence is not accepted, a private one."""

    status = 403
    code = "HUB_ACCESS_DENIED"
    src = "hub"


class HubModelNotFoundError(NotFoundError):
    code = "model_not_found"
    src = "hub"


class HubResponseError(UpstreamError):
    src = "hub"


class HubUnavailableError(ServiceUnavailableError):
    src = "hub"
    retry_after_s: float | None = None  # the wait the Hub asked for, when it said


class ModelNotFoundError(NotFoundError):
    """A model id that is not in the library or the catalog (OpenAI's 404 for models)."""

    code = "model_not_found"
    type = "invalid_request_error"


class ModelNotVisibleError(NotFoundError):
    """A model in the library that the inference server cannot find, because the two
    processes read different folders (the ``not_visible_to_inference`` state)."""

    code = "model_not_visible_to_inference"
    type = "invalid_request_error"
