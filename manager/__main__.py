"""``python -m manager``: run the manager with settings from the environment."""

from __future__ import annotations

from manager.settings import ManagerSettings
from shared_schemas.serving import serve


def main() -> None:
    settings = ManagerSettings()
    serve(
        "manager",
        "manager.app:create_app",
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
    )


if __name__ == "__main__":
    main()
