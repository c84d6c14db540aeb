"""A JSON response rendered straight from a pydantic model.

A route that returns a model has FastAPI validate it again against ``response_model`` and
turn it into Python objects before ``json.dumps``; for a large answer (a search page of
twenty results with their characteristics) that costs several times pydantic's own
``model_dump_json``. Routes on a hot path return ``ModelResponse(model)`` instead and keep
``response_model`` in their decorator for the OpenAPI document; the bytes are the same.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi.responses import Response
from pydantic import BaseModel


class ModelResponse(Response):
    media_type = "application/json"

    def __init__(
        self,
        content: BaseModel,
        status_code: int = 200,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(content, status_code=status_code, headers=headers)

    def render(self, content: object) -> bytes:
        if not isinstance(content, BaseModel):  # pragma: no cover - the constructor's type
            raise TypeError("ModelResponse renders pydantic models")
        return content.model_dump_json(by_alias=True).encode()
