"""The one error envelope both processes answer with.

```json
{"error": {"message": "...", "type": "invalid_request_error", "code": "model_not_found",
           "param": null, "src": "manager", "details": {}, "resolution_steps": []}}
```

OpenAI clients read ``message``/``type``/``code``/``param``; frontends also get ``details``
and ``resolution_steps``.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

ErrorSource = Literal["manager", "inference_server", "hub"]


class ErrorBody(BaseModel):
    message: str
    type: str = "invalid_request_error"
    code: str | None = None
    param: str | None = None
    src: ErrorSource | None = None
    details: dict[str, Any] = Field(default_factory=dict)
    resolution_steps: list[str] = Field(default_factory=list)


class ErrorEnvelope(BaseModel):
    error: ErrorBody


def envelope(
    message: str,
    *,
    type: str = "invalid_request_error",
    code: str | None = None,
    param: str | None = None,
    src: ErrorSource | None = None,
    details: dict[str, Any] | None = None,
    resolution_steps: list[str] | None = None,
) -> dict[str, Any]:
    """Build the envelope as a plain dict (ready for JSON)."""
    body = ErrorBody(
        message=message,
        type=type,
        code=code,
        param=param,
        src=src,
        details=details or {},
        resolution_steps=resolution_steps or [],
    )
    return {"error": body.model_dump()}


def status_type(status: int) -> str:
    """The OpenAI ``type`` that goes with an HTTP status."""
    if status == 401:
        return "authentication_error"
    if status == 403:
        return "permission_error"
    if status == 404:
        return "not_found_error"
    if status == 429:
        return "rate_limit_error"
    if status >= 500:
        return "server_error" if status != 503 else "service_unavailable_error"
    return "invalid_request_error"


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries declaring the envelope for the given statuses."""
    return {s: {"model": ErrorEnvelope, "description": "Error in the envelope"} for s in statuses}
