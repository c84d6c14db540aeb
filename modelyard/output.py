"""What the command line prints: sizes and durations for people, JSON for programs, errors."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

from rich.console import Console
from rich.markup import escape

from modelyard.client import CliError


def stdout() -> Console:
    return Console(highlight=False, soft_wrap=True)


def stderr() -> Console:
    return Console(stderr=True, highlight=False)


def human_bytes(n: float | None) -> str:
    """``1.2 GB``, ``340.0 MB``, ``512 B`` (decimal units, as disks are sold)."""
    if n is None:
        return "?"
    value = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(value) < 1000 or unit == "TB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def human_duration(seconds: float | None) -> str:
    """``850 ms``, ``12.3 s``, ``4 min 5 s``, ``2 h 10 min``."""
    if seconds is None:
        return "?"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def ago(timestamp: float | None, now: float | None = None) -> str:
    """How long ago a Unix time was (``-`` when unknown)."""
    if timestamp is None:
        return "-"
    return human_duration(max(0.0, (now or time.time()) - timestamp))


def emit_json(value: Any) -> None:
    """One JSON document on stdout, nothing else."""
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")
    sys.stdout.flush()


def print_error(error: CliError, *, as_json: bool) -> None:
    """The message and its resolution steps on stderr (the envelope on stdout with --json)."""
    if as_json:
        emit_json(error.envelope())
        return
    console = stderr()
    console.print(f"[bold red]Error:[/] {escape(error.message)}")
    for step in error.steps:
        console.print(f"  [yellow]→[/] {escape(step)}")
