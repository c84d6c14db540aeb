"""The children's output under ``modelyard serve``, relayed tidily to serve's stderr.

Each child's stdout and stderr come through one pipe, read by a thread of its own, line by line:

- uvicorn's own start and stop lines ("Started server process", "Uvicorn running on", "Shutting
  down", ...) are dropped: the banner and serve's own lines say the same, once;
- until the banner is printed, INFO and DEBUG lines are held back (the last ``HOLD_LINES``),
  so the banner is the first thing a person reads; warnings, errors and lines that are not log
  lines (a traceback, a settings error) pass at once. When start-up fails, the held lines are
  printed, in order, before serve says so; after a good start they are dropped (the banner
  sums them up);
- after the banner, every other line passes as it came.

Log lines are recognised in both formats the processes write (``shared_schemas.observability``):
a JSON object with ``level``, or ``HH:MM:SS.mmm LEVEL service  message``.
"""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from collections.abc import Callable
from typing import IO, TypeVar

T = TypeVar("T")

HOLD_LINES = 500
QUIET_LEVELS = frozenset({"DEBUG", "INFO"})
UVICORN_LIFECYCLE = re.compile(
    r"^(Started server process \[\d+\]"
    r"|Waiting for application (startup|shutdown)\."
    r"|Application (startup|shutdown) complete\."
    r"|Uvicorn running on \S+ \(Press CTRL\+C to quit\)"
    r"|Shutting down"
    r"|Finished server process \[\d+\])$"
)
TEXT_LINE = re.compile(r"^\d{2}:\d{2}:\d{2}\.\d{3} (?P<level>[A-Z]+) +\S+  (?P<message>.*)$")


def classify(line: str) -> tuple[str | None, bool]:
    """``(level, lifecycle)`` of one output line: its log level (None when it is not a log
    line) and whether it is one of uvicorn's start or stop lines. Pure."""
    text = line.rstrip("\r\n")
    if text.startswith("{"):
        try:
            entry = json.loads(text)
        except ValueError:
            return None, False
        if not isinstance(entry, dict) or not isinstance(entry.get("level"), str):
            return None, False
        logger = str(entry.get("logger", ""))
        lifecycle = logger.startswith("uvicorn") and bool(
            UVICORN_LIFECYCLE.match(str(entry.get("msg", "")))
        )
        return entry["level"].upper(), lifecycle
    match = TEXT_LINE.match(text)
    if match is None:
        return None, False
    return match["level"], bool(UVICORN_LIFECYCLE.match(match["message"]))


class LogRelay:
    """Relays the children's lines to ``out``; holds the quiet ones until ``release``."""

    def __init__(self, out: IO[str], hold_lines: int = HOLD_LINES) -> None:
        self.out = out
        self.lock = threading.Lock()
        self.holding = True
        self.held: deque[str] = deque(maxlen=hold_lines)

    def follow(self, stream: IO[bytes]) -> threading.Thread:
        """Read ``stream`` (a child's pipe) to its end in a daemon thread."""
        thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        thread.start()
        return thread

    def _pump(self, stream: IO[bytes]) -> None:
        with stream:
            for raw in stream:
                self.line(raw.decode("utf-8", errors="replace"))

    def line(self, line: str) -> None:
        level, lifecycle = classify(line)
        if lifecycle:
            return
        if not line.endswith("\n"):
            line += "\n"
        with self.lock:
            if self.holding and level in QUIET_LEVELS:
                self.held.append(line)
                return
            self._write(line)

    def release(self, *, replay: bool) -> None:
        """Stop holding lines back; ``replay``: print the held ones first (start-up failed)."""
        with self.lock:
            if replay:
                for line in self.held:
                    self._write(line)
            self.held.clear()
            self.holding = False

    def locked(self, action: Callable[[], T]) -> T:
        """Run ``action`` (printing the banner) with no child line written in between."""
        with self.lock:
            return action()

    def _write(self, line: str) -> None:
        try:
            self.out.write(line)
            self.out.flush()
        except (OSError, ValueError):  # stderr closed: nothing left to tell
            pass
