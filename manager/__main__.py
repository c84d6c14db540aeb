"""``python -m manager``: run the manager with settings from the environment."""

from __future__ import annotations

import sys

from manager.settings import ManagerSettings
from service_kit.serving import serve, settings_or_exit
from service_kit.settings_help import handle_arguments

USAGE = "python -m manager [--help]"
SUMMARY = (
    "The modelyard manager: Hub search, downloads, the local library and the OpenAI proxy "
    "(REST API, /docs). Settings come from the environment."
)


def main() -> None:
    handle_arguments(sys.argv[1:], ManagerSettings, USAGE, SUMMARY)
    settings = settings_or_exit("manager", ManagerSettings)
    serve(
        "manager",
        "manager.app:create_app",
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        log_format=settings.log_format,
        limit_concurrency=settings.limit_concurrency,
        timeout_keep_alive_s=settings.timeout_keep_alive_s,
        header_timeout_s=settings.header_timeout_s,
    )


if __name__ == "__main__":
    main()
