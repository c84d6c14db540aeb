"""Which models to unload to make room (a pure policy).

Least recently used first, over slots that are idle: a model serving or queued requests,
a pinned model, or one that is loading is never a victim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class SlotView:
    id: str
    memory_bytes: int
    last_used: float
    evictable: bool


def choose_victims(
    needed_bytes: int,
    slots: Sequence[SlotView],
    *,
    budget_bytes: int,
    max_models: int,
) -> list[str] | None:
    """Ids to unload so a model of ``needed_bytes`` fits, or None if it cannot fit.

    ``slots`` are the models held now (loading ones included, as not evictable).
    """
    if needed_bytes > budget_bytes:
        return None
    used = sum(s.memory_bytes for s in slots)
    count = len(slots)
    victims: list[str] = []
    for slot in sorted((s for s in slots if s.evictable), key=lambda s: s.last_used):
        if used + needed_bytes <= budget_bytes and count + 1 <= max_models:
            break
        victims.append(slot.id)
        used -= slot.memory_bytes
        count -= 1
    if used + needed_bytes <= budget_bytes and count + 1 <= max_models:
        return victims
    return None


def expired(
    last_used: float,
    now: float,
    *,
    idle_ttl_s: float,
    keep_alive_until: float | None,
) -> bool:
    """Whether an idle, unpinned model should be unloaded now."""
    if keep_alive_until is not None:
        return now >= keep_alive_until
    return idle_ttl_s > 0 and now - last_used >= idle_ttl_s
