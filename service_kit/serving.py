"""How both processes are started by ``python -m``: JSON logs, then uvicorn on the app factory."""

from __future__ import annotations

import sys
from typing import NoReturn, TypeVar

import uvicorn
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from service_kit.http_protocol import guarded_protocol
from service_kit.observability import configure_logging, uvicorn_log_config
from shared_schemas.errors import ErrorSource

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
        lines = [_variable(env_prefix, e["loc"]) + _message(e["msg"]) for e in exc.errors()]
        if len(lines) == 1:
            exit_with(service, f"invalid settings: {lines[0]}")
        exit_with(service, "invalid settings\n" + "\n".join(f"  {line}" for line in lines))


def _message(text: str) -> str:
    """pydantic's message without its ``Value error, `` prefix (the message says what)."""
    return text.removeprefix("Value error, ")


def _variable(env_prefix: str, loc: tuple[int | str, ...]) -> str:
    """``MLX_SERVER_PORT: `` for a field's error; nothing for one about the whole settings."""
    return f"{env_prefix}{'_'.join(str(part) for part in loc).upper()}: " if loc else ""


def serve(
    service: ErrorSource,
    factory: str,
    *,
    host: str,
    port: int,
    log_level: str,
    log_format: str = "auto",
    limit_concurrency: int | None = None,
    timeout_keep_alive_s: int = 30,
    header_timeout_s: float = 10.0,
) -> None:
    """Run ``factory`` (``"package.app:create_app"``) with uvicorn until it is stopped.

    ``limit_concurrency``: connections plus running requests past which new requests get 503;
    ``timeout_keep_alive_s``: an idle keep-alive connection is closed after this;
    ``header_timeout_s``: a connection that has not sent a complete request head in this long
    is closed (see ``http_protocol``).
    """
    configure_logging(service, log_level, log_format)
    uvicorn.run(
        factory,
        factory=True,
        host=host,
        port=port,
        log_level=log_level.lower(),
        backlog=2048,
        http=guarded_protocol(src=service, header_timeout_s=header_timeout_s),
        limit_concurrency=limit_concurrency,
        timeout_keep_alive=timeout_keep_alive_s,
        log_config=uvicorn_log_config(),
    )
