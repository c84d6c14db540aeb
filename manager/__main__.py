"""``python -m manager``: run the manager with settings from the environment."""

from __future__ import annotations

import uvicorn

from manager.settings import ManagerSettings
from shared_schemas.observability import configure_logging, uvicorn_log_config


def main() -> None:
    settings = ManagerSettings()
    configure_logging("manager", settings.log_level)
    uvicorn.run(
        "manager.app:create_app",
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
