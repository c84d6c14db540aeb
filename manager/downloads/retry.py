"""Retry policy shared by the Hub API calls and the byte transfers (tenacity).

Transient failures of a transfer (connect errors, timeouts, dropped connections, 5xx, 429)
raise :class:`Transient`; a Hub API call that finds the Hub unavailable raises
``HubUnavailableError``; everything else is permanent and propagates at once. Waits grow
exponentially with full jitter, are capped; a server's ``Retry-After`` (read once, in
:mod:`manager.hub.errors`) is honoured as given.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from tenacity import RetryCallState

from manager.errors import HubUnavailableError


class Transient(Exception):
    """A failure worth another try; ``reason`` labels the retry metric."""

    def __init__(self, reason: str, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.retry_after = retry_after


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
        if isinstance(exc, HubUnavailableError) and exc.retry_after_s is not None:
            return exc.retry_after_s
        return delay
