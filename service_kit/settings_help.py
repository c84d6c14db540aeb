"""``python -m manager --help`` and ``python -m inference_server --help``: the settings a
process reads, each with its environment variable, default and meaning."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from pydantic_core import PydanticUndefined
from pydantic_settings import BaseSettings

HELP_FLAGS = ("-h", "--help")


def _default(field: Any) -> str:
    value = field.default
    if field.default_factory is not None:
        try:
            value = field.default_factory()
        except Exception:  # a factory that needs the other fields
            return "computed"
    if value is None or value is PydanticUndefined:
        return "unset"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "empty"
    return str(value)


def settings_help(settings: type[BaseSettings], usage: str, summary: str) -> str:
    """The help text: usage, summary, then one block per setting."""
    prefix = settings.model_config.get("env_prefix", "")
    lines = [f"usage: {usage}", "", summary, "", "Settings (environment variables):"]
    for name, field in settings.model_fields.items():
        lines.append(f"  {prefix}{name.upper()}  (default: {_default(field)})")
        if field.description:
            lines.append(f"      {field.description}")
    lines += ["", "Full tables: README.md, section Configuration."]
    return "\n".join(lines)


def handle_arguments(
    args: Sequence[str], settings: type[BaseSettings], usage: str, summary: str
) -> None:
    """Print the help and exit 0 when asked; refuse any other argument (exit 2)."""
    if not args:
        return
    if any(arg in HELP_FLAGS for arg in args):
        print(settings_help(settings, usage, summary))
        raise SystemExit(0)
    program = usage.removeprefix("python -m ").split()[0]
    print(
        f"{program}: unexpected argument {args[0]!r}: settings come from the environment "
        "(see --help)",
        file=sys.stderr,
    )
    raise SystemExit(2)
