"""The pool contract between the manager and the inference server (`/admin/*`)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class SlotState(StrEnum):
    LOADING = "loading"
    READY = "ready"
    UNLOADING = "unloading"
    FAILED = "failed"


class SlotInfo(BaseModel):
    id: str
    state: SlotState
    memory_bytes: int = Field(default=0, description="Measured active memory of the model.")
    estimated_bytes: int = Field(default=0, description="Weight files' size before loading.")
    pinned: bool = False
    active_requests: int = 0
    queued_requests: int = 0
    last_used: float | None = Field(default=None, description="Unix time of the last use.")
    loaded_at: float | None = None
    load_time_s: float | None = None
    load_count: int = 0
    keep_alive_until: float | None = None
    tokens_generated: int = Field(default=0, description="Tokens generated since the load.")
    compute_dtype: str | None = Field(
        default=None,
        description="The dtype the loaded weights compute in (float32 when a half-precision "
        "model was upcast on the CPU backend, MLX_SERVER_CPU_FLOAT32).",
    )
    error: str | None = None
    host: str | None = Field(
        default=None,
        description="In the manager's merged pool of several inference servers: the server "
        "this slot is on.",
    )


class PoolStatus(BaseModel):
    slots: list[SlotInfo]
    max_memory_bytes: int
    max_models: int
    used_memory_bytes: int
    active_memory_bytes: int = 0
    total_loads: int = 0
    total_evictions: int = 0
    cpu_blas: str | None = Field(
        default=None,
        description="The optimized BLAS library MLX's CPU backend multiplies float32 matrices "
        "with (MLX_SERVER_CPU_BLAS); null: the one bundled with MLX, or not on Linux.",
    )


class LoadRequest(BaseModel):
    pin: bool = False
    keep_alive: float | None = Field(
        default=None, description="Seconds to keep the model loaded when idle."
    )


class LoadResult(BaseModel):
    slot: SlotInfo
    loaded: bool = Field(description="False when the model was already loaded.")


class UnloadResult(BaseModel):
    id: str
    unloaded: bool
