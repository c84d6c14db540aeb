"""Which inference server a request for a model goes to: a pure policy over what the manager
last learned of each server (no I/O; ``fleet.py`` keeps the views fresh).

In order, the first rule that names a server wins:

1. **pinned**: ``MODEL_MANAGER_PLACEMENT`` names the server for this model. If it is down,
   the request waits for it (503 with ``Retry-After``) rather than loading the model
   somewhere it was not meant to be.
2. **loaded**: servers that have the model loaded; the one with the fewest requests in
   flight (then the most free memory).
3. **loading**: a server already loading it (the request waits for that load rather than
   starting a second one elsewhere).
4. **can load**: servers that see the model on their disk and have the memory for it, counting
   the models they could evict (not pinned, not serving); the one with the most free memory
   now (then the fewest in flight).
5. **on disk**: servers that see the model but would have to refuse it for memory; the one
   with the most free memory (it answers with its own error, or has freed memory by then).
6. Otherwise, if a server that is down had the model loaded or on its disk: 503 with
   ``Retry-After`` (it may come back). If no server is up at all: 503.
7. Otherwise the least busy server that is up: the model is unknown everywhere, and that
   server answers the request with its own error (404 ``model_not_found``, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from shared_schemas.pool import SlotState

Reason = Literal["pinned", "loaded", "loading", "can_load", "on_disk", "any"]


@dataclass(frozen=True)
class SlotView:
    state: SlotState
    memory_bytes: int = 0
    pinned: bool = False
    busy: bool = False  # requests active or queued: not evictable


@dataclass(frozen=True)
class HostView:
    """One inference server as last seen. ``models`` is None when its disk is not known."""

    url: str
    up: bool
    in_flight: int = 0
    budget_bytes: int = 0
    used_bytes: int = 0
    max_models: int = 0
    slots: Mapping[str, SlotView] = field(default_factory=dict)
    models: frozenset[str] | None = None

    @property
    def free_bytes(self) -> int:
        return self.budget_bytes - self.used_bytes

    def evictable_bytes(self) -> int:
        return sum(
            s.memory_bytes
            for s in self.slots.values()
            if s.state == SlotState.READY and not s.pinned and not s.busy
        )

    def has_room_for(self, model_bytes: int | None) -> bool:
        """Whether the model fits, after evicting what can be evicted (unknown size: yes)."""
        if self.max_models:
            kept = sum(
                1 for s in self.slots.values() if s.state != SlotState.READY or s.pinned or s.busy
            )
            if kept >= self.max_models:
                return False
        if model_bytes is None:
            return True
        return model_bytes <= self.free_bytes + self.evictable_bytes()

    def sees(self, model_id: str) -> bool:
        return (self.models is not None and model_id in self.models) or model_id in self.slots


@dataclass(frozen=True)
class Route:
    url: str
    reason: Reason


@dataclass(frozen=True)
class NoRoute:
    """No server can take the request now; ``retry_after_s`` for the 503."""

    message: str
    retry_after_s: int = 2


def _state(host: HostView, model_id: str) -> SlotState | None:
    slot = host.slots.get(model_id)
    return slot.state if slot is not None else None


def _least_busy(hosts: Sequence[HostView]) -> HostView:
    return min(hosts, key=lambda h: (h.in_flight, -h.free_bytes, h.url))


def _most_room(hosts: Sequence[HostView]) -> HostView:
    return min(hosts, key=lambda h: (-h.free_bytes, h.in_flight, h.url))


def choose_host(
    model_id: str | None,
    hosts: Sequence[HostView],
    *,
    pins: Mapping[str, str] | None = None,
    model_bytes: int | None = None,
    exclude: Collection[str] = (),
) -> Route | NoRoute:
    """The server for a request naming ``model_id`` (see the module docstring); ``exclude``:
    servers that just failed this request."""
    up = [h for h in hosts if h.up and h.url not in exclude]
    pinned = (pins or {}).get(model_id or "")
    if pinned is not None:
        for host in up:
            if host.url == pinned:
                return Route(host.url, "pinned")
        return NoRoute(f"'{model_id}' is placed on {pinned}, which is not answering now")
    if model_id:
        rules: list[tuple[Reason, Callable[[HostView], bool], Callable[..., HostView]]] = [
            ("loaded", lambda h: _state(h, model_id) == SlotState.READY, _least_busy),
            ("loading", lambda h: _state(h, model_id) == SlotState.LOADING, _least_busy),
            (
                "can_load",
                lambda h: h.sees(model_id) and h.has_room_for(model_bytes),
                _most_room,
            ),
            ("on_disk", lambda h: h.sees(model_id), _most_room),
        ]
        for reason, matches, pick in rules:
            candidates = [h for h in up if matches(h)]
            if candidates:
                return Route(pick(candidates).url, reason)
        elsewhere = [h.url for h in hosts if h not in up and h.sees(model_id)]
        if elsewhere:
            return NoRoute(
                f"'{model_id}' is only on inference servers that are not answering now "
                f"({', '.join(elsewhere)})"
            )
    if not up:
        return NoRoute("no inference server is answering now")
    return Route(_least_busy(up).url, "any")
