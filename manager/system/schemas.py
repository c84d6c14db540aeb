"""The answer of ``GET /api/system`` (the command line and the web UI read it)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from shared_schemas.capabilities import InferenceCapabilities


class DiskInfo(BaseModel):
    free_bytes: int = Field(description="Free space where downloads go (the HF cache's disk).")
    reserve_bytes: int = Field(description="Free space a download must leave (DISK_RESERVE_GB).")


class InferenceHostInfo(BaseModel):
    url: str
    up: bool = Field(description="Requests are routed to it (down after failed checks).")
    reachable: bool = Field(description="It answered its last check.")
    error: str | None = Field(default=None, description="Why it does not serve, when it does not.")
    capabilities: InferenceCapabilities | None = Field(
        description="Its GET /admin/capabilities (the last answer while it is unreachable)."
    )
    storage_agrees: bool | None = Field(
        description="Whether it reads the folders the manager keeps models in; null when it "
        "could not be asked."
    )
    mismatches: list[str] = Field(description="What disagrees, one sentence each.")


class InferenceInfo(BaseModel):
    """The inference server, or with several (``MODEL_MANAGER_INFERENCE_URLS``) all of them:
    ``url`` is the first, ``reachable`` whether any answers, ``capabilities`` those of the
    first that answers, ``storage_agrees`` whether every server asked agrees, ``mismatches``
    every server's (each naming it), and ``hosts`` each server on its own."""

    url: str
    reachable: bool
    capabilities: InferenceCapabilities | None = Field(
        description="GET /admin/capabilities of the inference server (the last answer while "
        "it is unreachable); null when it has never answered."
    )
    storage_agrees: bool | None = Field(
        description="Whether the inference server reads the folders the manager keeps models "
        "in; null when it could not be asked."
    )
    mismatches: list[str] = Field(description="What disagrees, one sentence each.")
    hosts: list[InferenceHostInfo] = Field(
        default_factory=list, description="Each inference server (one with a single server)."
    )


class SystemInfo(BaseModel):
    version: str
    data_dir: str
    hf_cache_dir: str
    models_dir: str
    hf_endpoint: str
    auth_required: bool
    bind_host: str
    disk: DiskInfo
    local_models: int = Field(description="Models on disk (Hub cache and imports).")
    inference: InferenceInfo
