"""``python -m inference_server``: run the server with settings from the environment."""

from __future__ import annotations

from inference_server.settings import InferenceSettings
from shared_schemas.serving import serve


def main() -> None:
    settings = InferenceSettings()
    serve(
        "inference_server",
        "inference_server.app:create_app",
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
    )


if __name__ == "__main__":
    main()
