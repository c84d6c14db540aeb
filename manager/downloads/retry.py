"""Retry policy shared by the Hub API calls and the byte transfers (tenacity).

Transient failures (connect errors, timeouts, dropped connections, 5xx, 429) raise
:class:`Transient`; everything else is permanent and propagates at once. Waits grow
exponentially with full jitter, are capped; a server's ``Retry-After`` is honoured as given.
"""

from __future__ import annotations

import email.utils
import math
import random
import time
from dataclasses import dataclass

from tenacity import RetryCallState

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_S = 120.0


class Transient(Exception):
    """A failure worth another try; ``reason`` labels the retry metric."""

    def __init__(self, reason: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date).

    A value that is no wait at all (``nan``, ``inf``, a negative number, garbage) is treated
    as absent: the caller's own backoff applies. A date in the past means "now" (0).
    """
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
        if not math.isfinite(seconds) or seconds < 0:
            return None
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def backoff_delay(failures: int, initial: float, maximum: float) -> float:
    """Full-jitter exponential backoff for the ``failures``-th failure in a row (1-based)."""
    ceiling = min(maximum, initial * 2 ** max(failures - 1, 0))
    return random.uniform(ceiling / 2, ceiling)


@dataclass
class BackoffWait:
    """A tenacity ``wait``: exponential with jitter, or the server's ``Retry-After``."""

    initial: float
    maximum: float

    def __call__(self, state: RetryCallState) -> float:
        delay = backoff_delay(state.attempt_number, self.initial, self.maximum)
        outcome = state.outcome
        exc = outcome.exception() if outcome is not None and outcome.failed else None
        if isinstance(exc, Transient) and exc.retry_after is not None:
            return exc.retry_after
        return delay
