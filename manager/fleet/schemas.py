"""``GET /api/inference/pool``: the pool of every inference server behind the manager."""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared_schemas.capabilities import InferenceCapabilities
from shared_schemas.pool import PoolStatus


class HostStatus(BaseModel):
    url: str
    up: bool = Field(description="Answering its checks (down after repeated failures).")
    error: str | None = Field(default=None, description="Why it is down, when it is.")
    in_flight: int = Field(default=0, description="Requests the manager is forwarding to it.")
    models_on_disk: int | None = Field(
        default=None, description="Models it can see on its disk (null: not known)."
    )
    pool: PoolStatus | None = Field(description="Its pool, as last fetched (null: never).")
    capabilities: InferenceCapabilities | None = Field(
        default=None, description="Its GET /admin/capabilities, as last fetched."
    )
    checked_at: float | None = Field(default=None, description="Unix time of the last check.")


class InferencePool(PoolStatus):
    """The pools of all inference servers: the fields of one pool, summed over the servers
    that answer (``slots`` of every server, each naming its ``host``), and each server's own
    state in ``hosts``. With one inference server, its pool and one host."""

    hosts: list[HostStatus]
