"""The inference server's exception tree; ``service_kit.service_errors`` maps it to the envelope.

    InferenceError (500 server_error)
     ├── BadRequestError (400 invalid_request_error)
     │    ├── ContextLengthExceededError (400 context_length_exceeded)
     │    ├── InvalidSchemaError (400 invalid_schema)
     │    ├── UnsupportedParameterError (400 unsupported_parameter)
     │    ├── ToolsNotSupportedError (400 tools_not_supported)
     │    └── ModelNotLoadableError (422 model_not_loadable)
     ├── ModelNotFoundError (404 model_not_found)
     ├── QueueFullError (429 queue_full)
     ├── PoolBusyError (503 pool_busy, Retry-After)
     └── ModelLoadError (500 model_load_failed)

A missing or wrong API key is answered 401 ``INVALID_TOKEN`` by the bearer-token middleware.
"""

from __future__ import annotations

from typing import ClassVar

from service_kit.service_errors import ServiceError
from shared_schemas.errors import ErrorSource


class InferenceError(ServiceError):
    src: ClassVar[ErrorSource | None] = "inference_server"


class BadRequestError(InferenceError):
    status = 400
    code = "invalid_request"


class ContextLengthExceededError(BadRequestError):
    code = "context_length_exceeded"


class InvalidSchemaError(BadRequestError):
    """A JSON schema or grammar the grammar engine cannot compile (reason and pointer in
    ``details``)."""

    code = "invalid_schema"


class UnsupportedParameterError(BadRequestError):
    code = "unsupported_parameter"


class ToolsNotSupportedError(BadRequestError):
    """Tools were sent for a model whose chat template has no tool-call format."""

    code = "tools_not_supported"


class ModelNotLoadableError(BadRequestError):
    status = 422
    code = "model_not_loadable"


class ModelNotFoundError(InferenceError):
    status = 404
    code = "model_not_found"
    type = "invalid_request_error"


class QueueFullError(InferenceError):
    status = 429
    code = "queue_full"


class PoolBusyError(InferenceError):
    status = 503
    code = "pool_busy"


class ModelLoadError(InferenceError):
    status = 500
    code = "model_load_failed"
