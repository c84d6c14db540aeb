"""A pool slot: one model and its explicit state.

(new) ──load──► LOADING ──ok──► READY ──unload──► UNLOADING ──► (gone)
                   └──error──► FAILED (answered to every waiter, then removed)
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from inference_server.pool.kinds import ModelKind
from shared_schemas.pool import SlotInfo, SlotState


@dataclass(eq=False)
class Slot:
    id: str
    path: str
    estimated_bytes: int
    context_length: int | None
    ready: asyncio.Future[None]
    float32: bool = False
    kind: ModelKind = ModelKind.CHAT
    state: SlotState = SlotState.LOADING
    pinned: bool = False
    memory_bytes: int = 0
    active: int = 0
    waiting: int = 0
    last_used: float = field(default_factory=time.time)
    loaded_at: float | None = None
    load_time_s: float | None = None
    load_count: int = 0
    keep_alive_until: float | None = None
    error: str | None = None
    runtime: Any = None

    @property
    def accounted_bytes(self) -> int:
        return self.memory_bytes if self.state == SlotState.READY else self.estimated_bytes

    @property
    def idle(self) -> bool:
        return self.active == 0 and self.waiting == 0

    def info(self) -> SlotInfo:
        tokens = getattr(self.runtime, "tokens_generated", 0) if self.runtime else 0
        return SlotInfo(
            id=self.id,
            kind=self.kind.value,
            state=self.state,
            memory_bytes=self.memory_bytes,
            estimated_bytes=self.estimated_bytes,
            pinned=self.pinned,
            active_requests=self.active,
            queued_requests=self.waiting,
            last_used=self.last_used,
            loaded_at=self.loaded_at,
            load_time_s=self.load_time_s,
            load_count=self.load_count,
            keep_alive_until=self.keep_alive_until,
            tokens_generated=tokens,
            compute_dtype=getattr(self.runtime, "compute_dtype", None) if self.runtime else None,
            error=self.error,
        )
