"""``python -m manager``: run the manager with settings from the environment."""

from __future__ import annotations

from manager.settings import ManagerSettings
from shared_schemas.serving import serve, settings_or_exit


def main() -> None:
    settings = settings_or_exit("manager", ManagerSettings)
    serve(
        "manager",
        "manager.app:create_app",
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        limit_concurrency=settings.limit_concurrency,
        timeout_keep_alive_s=settings.timeout_keep_alive_s,
        header_timeout_s=settings.header_timeout_s,
    )


if __name__ == "__main__":
    main()
