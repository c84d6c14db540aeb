"""How both processes are started by ``python -m``: JSON logs, then uvicorn on the app factory."""

from __future__ import annotations

import uvicorn

from shared_schemas.observability import configure_logging, uvicorn_log_config


def serve(service: str, factory: str, *, host: str, port: int, log_level: str) -> None:
    """Run ``factory`` (``"package.app:create_app"``) with uvicorn until it is stopped."""
    configure_logging(service, log_level)
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        log_level=log_level.lower(),
        backlog=2048,
        timeout_keep_alive=30,
        log_config=uvicorn_log_config(),
    )
