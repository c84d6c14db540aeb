"""The manager's client for the inference server: one shared ``httpx.AsyncClient``.

The proxy streams ``/v1/*`` through ``client`` byte for byte; the library, the catalog and
``/api/inference/*`` use the typed admin calls below. Failures become the manager's errors:
unreachable → ``ServiceUnavailableError`` (503), an error answer → the same status and
envelope, re-tagged nowhere (``src`` stays ``inference_server``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from manager.errors import ServiceUnavailableError, UpstreamError
from manager.settings import ManagerSettings
from service_kit.service_errors import ServiceError
from shared_schemas.capabilities import InferenceCapabilities
from shared_schemas.openai import ModelList
from shared_schemas.pool import LoadRequest, LoadResult, PoolStatus, UnloadResult

ADMIN_TIMEOUT_S = 10.0
CAPABILITIES_TIMEOUT_S = 5.0
LOAD_TIMEOUT_S = 600.0


class UpstreamAnswer(ServiceError):
    """An error answered by the inference server, passed on with its own status and body."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        assert isinstance(error, dict)
        super().__init__(str(error.get("message") or f"inference server answered {status}"))
        self._status = status
        self._body = body

    def body(self) -> dict[str, Any]:
        return self._body

    def response(self) -> JSONResponse:
        return JSONResponse(self._body, status_code=self._status)


def make_http_client(settings: ManagerSettings) -> httpx.AsyncClient:
    headers = {}
    if settings.inference_api_key is not None:
        headers["Authorization"] = f"Bearer {settings.inference_api_key.get_secret_value()}"
    return httpx.AsyncClient(
        base_url=settings.inference_url,
        headers=headers,
        timeout=httpx.Timeout(connect=5.0, read=settings.proxy_read_timeout_s, write=30, pool=30),
        limits=httpx.Limits(
            max_connections=settings.proxy_max_connections,
            max_keepalive_connections=settings.proxy_max_connections,
        ),
        trust_env=False,
    )


class InferenceClient:
    """Typed calls to the inference server's admin API."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def _call(
        self, method: str, path: str, *, json: Any = None, wait_s: float = ADMIN_TIMEOUT_S
    ) -> Any:
        try:
            response = await self.client.request(method, path, json=json, timeout=wait_s)
        except httpx.TransportError as exc:
            raise ServiceUnavailableError(
                f"the inference server is unreachable: {type(exc).__name__}",
                headers={"Retry-After": "1"},
                resolution_steps=[
                    "Start the inference server (python -m inference_server) or check "
                    "MODEL_MANAGER_INFERENCE_URL."
                ],
            ) from exc
        try:
            body = response.json()
        except ValueError as exc:
            raise UpstreamError(
                f"the inference server answered {response.status_code} without JSON"
            ) from exc
        if response.status_code >= 400:
            if isinstance(body, dict) and isinstance(body.get("error"), dict):
                raise UpstreamAnswer(response.status_code, body)
            raise UpstreamError(f"the inference server answered {response.status_code}")
        return body

    async def health(self, wait_s: float = 1.0) -> bool:
        try:
            response = await self.client.get("/health", timeout=wait_s)
        except httpx.TransportError:
            return False
        return response.status_code == 200

    async def pool(self) -> PoolStatus:
        return PoolStatus.model_validate(await self._call("GET", "/admin/pool"))

    async def capabilities(self, wait_s: float = CAPABILITIES_TIMEOUT_S) -> InferenceCapabilities:
        """What the server can load and where it reads models (``GET /admin/capabilities``)."""
        data = await self._call("GET", "/admin/capabilities", wait_s=wait_s)
        try:
            return InferenceCapabilities.model_validate(data)
        except ValidationError as exc:
            raise UpstreamError(
                "the inference server's capabilities do not parse (a different version?)"
            ) from exc

    async def models(self, wait_s: float = ADMIN_TIMEOUT_S) -> ModelList:
        return ModelList.model_validate(await self._call("GET", "/v1/models", wait_s=wait_s))

    async def load(self, model_id: str, request: LoadRequest | None = None) -> LoadResult:
        body = (request or LoadRequest()).model_dump(exclude_none=True)
        data = await self._call(
            "POST", f"/admin/models/{quote(model_id)}/load", json=body, wait_s=LOAD_TIMEOUT_S
        )
        return LoadResult.model_validate(data)

    async def unload(self, model_id: str) -> UnloadResult:
        data = await self._call("POST", f"/admin/models/{quote(model_id)}/unload")
        return UnloadResult.model_validate(data)
