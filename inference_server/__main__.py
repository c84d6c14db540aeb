"""``python -m inference_server``: run the server with settings from the environment."""

from __future__ import annotations

import uvicorn

from inference_server.settings import InferenceSettings
from shared_schemas.observability import configure_logging, uvicorn_log_config


def main() -> None:
    settings = InferenceSettings()
    configure_logging("inference_server", settings.log_level)
    uvicorn.run(
        "inference_server.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        backlog=2048,
        timeout_keep_alive=30,
        log_config=uvicorn_log_config(),
    )


if __name__ == "__main__":
    main()
