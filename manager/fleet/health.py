"""What ``/ready`` and ``/api/system`` say of several inference servers: pure functions over
each server as last checked (``HostHealth``; ``fleet.py`` checks them).

- **inference**: ready when at least one server answers and describes itself; the servers
  that do not are named either way.
- **storage**: ready when at least one answering server reads the folders the manager keeps
  models in; the servers that read other folders are named either way (requests for a model
  go only to servers that see it, so one misconfigured server does not stop the others).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared_schemas.capabilities import InferenceCapabilities
from shared_schemas.storage import MISMATCH_ADVICE, FolderMismatch


@dataclass(frozen=True)
class HostHealth:
    """One inference server as last checked. ``up``: routed to (down after repeated failed
    checks); ``answering``: its last check succeeded; ``capabilities`` are the last ones it
    gave (kept while it is away)."""

    url: str
    up: bool
    answering: bool
    error: str | None = None
    capabilities: InferenceCapabilities | None = None
    model_types: frozenset[str] | None = None
    budget_bytes: int | None = None
    mismatches: tuple[FolderMismatch, ...] = ()

    @property
    def serving(self) -> bool:
        return self.answering and self.capabilities is not None

    @property
    def storage_agrees(self) -> bool | None:
        return None if self.capabilities is None else not self.mismatches

    def problem(self) -> str | None:
        """Why it does not serve now; None when it does."""
        if not self.up:
            return f"{self.url} is down ({self.error or 'not answering'})"
        if not self.answering:
            return f"{self.url} did not answer its last check ({self.error or 'not checked'})"
        if self.capabilities is None:
            return f"{self.url} answers but cannot be asked its capabilities ({self.error})"
        return None

    def mismatch_messages(self) -> list[str]:
        return [f"{self.url}: {m.message}" for m in self.mismatches]


def inference_check(hosts: list[HostHealth]) -> tuple[bool, str | None]:
    serving = [h.url for h in hosts if h.serving]
    problems = [p for p in (h.problem() for h in hosts) if p]
    if not serving:
        return False, "no inference server serves: " + "; ".join(problems)
    if problems:
        return True, f"serving on {', '.join(serving)}; " + "; ".join(problems)
    return True, None


def storage_check(hosts: list[HostHealth]) -> tuple[bool, str | None]:
    known = [h for h in hosts if h.capabilities is not None]
    if not known:
        return False, (
            "not checked: no inference server could be asked which folders it reads models from"
        )
    disagree = [m for h in known for m in h.mismatch_messages()]
    if not disagree:
        return True, None
    agree = [h.url for h in known if h.serving and not h.mismatches]
    message = "; ".join(disagree) + ". " + MISMATCH_ADVICE
    if agree:
        return True, f"{', '.join(agree)} read the manager's folders; " + message
    return False, message
