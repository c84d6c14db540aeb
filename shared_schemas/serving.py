"""How both processes are started by ``python -m``: JSON logs, then uvicorn on the app factory."""

from __future__ import annotations

import sys
from typing import NoReturn, TypeVar

import uvicorn
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from shared_schemas.observability import configure_logging, uvicorn_log_config

SettingsT = TypeVar("SettingsT", bound=BaseSettings)


def exit_with(service: str, message: str) -> NoReturn:
    """Stop a process that cannot start, with one readable message and exit status 2."""
    print(f"{service}: {message}", file=sys.stderr)
    raise SystemExit(2)


def settings_or_exit(service: str, read: type[SettingsT]) -> SettingsT:
    """Read the settings from the environment, or exit naming each variable that is wrong."""
    try:
        return read()
    except ValidationError as exc:
        env_prefix = read.model_config.get("env_prefix", "")
        lines = [f"  {_variable(env_prefix, error['loc'])}{error['msg']}" for error in exc.errors()]
        exit_with(service, "invalid settings\n" + "\n".join(lines))


def _variable(env_prefix: str, loc: tuple[int | str, ...]) -> str:
    """``MLX_SERVER_PORT: `` for a field's error; nothing for one about the whole settings."""
    return f"{env_prefix}{'_'.join(str(part) for part in loc).upper()}: " if loc else ""


def serve(
    service: str, factory: str, *, host: str, port: int, log_level: str, log_format: str = "auto"
) -> None:
    """Run ``factory`` (``"package.app:create_app"``) with uvicorn until it is stopped."""
    configure_logging(service, log_level, log_format)
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
