"""A small upstream served by uvicorn on loopback, standing in for the inference server where a
test needs to see exactly what the proxy sent or make the upstream misbehave."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from modelyard_dev.procs import free_port


def echo_app() -> FastAPI:
    app = FastAPI()

    @app.api_route("/v1/{path:path}", methods=["GET", "POST"])
    async def echo(path: str, request: Request) -> object:
        body = await request.body()
        data = json.loads(body) if body else {}
        if data.get("stream"):
            return StreamingResponse(
                _events(int(data.get("chunks", 3)), bool(data.get("drop"))),
                media_type="text/event-stream",
                headers={"x-upstream": "yes"},
            )
        return JSONResponse(
            {
                "path": path,
                "method": request.method,
                "query": str(request.query_params),
                "headers": dict(request.headers),
                "body": body.decode(),
            },
            status_code=int(data.get("status", 200)),
            headers={"x-upstream": "yes"},
        )

    return app


async def _events(chunks: int, drop: bool) -> AsyncIterator[bytes]:
    for index in range(chunks):
        yield f"data: {json.dumps({'index': index})}\n\n".encode()
        await asyncio.sleep(0.01)
    if drop:
        raise RuntimeError("upstream dies mid-stream")
    yield b"data: [DONE]\n\n"


@contextmanager
def serve_upstream() -> Iterator[str]:
    port = free_port()
    config = uvicorn.Config(echo_app(), host="127.0.0.1", port=port, log_level="critical")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise TimeoutError("upstream did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
