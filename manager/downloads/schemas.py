"""Wire types of the manager's download API (`/api/downloads/*`) and its SSE events.

A job downloads one model at one revision into the Hugging Face cache. Its life:

    queued ──► downloading ──► verifying ──► completed
      ▲  │          │
      │  └─► paused ◄┘   (pause keeps partial files; resume goes back to queued)
      │         │
      └─────────┘
    downloading / verifying ──► failed ──(resume)──► queued
    any active state ──(DELETE)──► cancelled (partial files removed)

``queued``, ``downloading``, ``paused`` and ``verifying`` are active (a second request for the
same model and revision returns the job); ``completed``, ``failed`` and ``cancelled`` are
finished and kept as history.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from shared_schemas.errors import ErrorBody
from shared_schemas.model_ids import HUB_REPO_PATTERN, MAX_ID_LENGTH, InvalidModelId, ModelId

REVISION_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,254}$"
# The same rules as one pattern, for the OpenAPI (the validator below enforces them).
_REVISION_SCHEMA_PATTERN = r"^(?!.*(?:\.\.|//))(?!.*(?:/|\.lock)$)" + REVISION_PATTERN[1:]
_REVISION = re.compile(REVISION_PATTERN)


def is_valid_model_id(value: str) -> bool:
    """A Hub repo id with its namespace, ``org/name`` (the shared grammar)."""
    try:
        return ModelId.parse(value).namespace is not None
    except InvalidModelId:
        return False


def is_valid_revision(value: str) -> bool:
    """A branch, tag or commit name: no ``..``, no ``//``, no trailing ``/`` or ``.lock``."""
    return (
        bool(_REVISION.match(value))
        and ".." not in value
        and "//" not in value
        and not value.endswith(("/", ".lock"))
    )


class JobStatus(StrEnum):
    QUEUED = "queued"
    DOWNLOADING = "downloading"
    PAUSED = "paused"
    VERIFYING = "verifying"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def active(self) -> bool:
        return self in ACTIVE_STATUSES

    @property
    def finished(self) -> bool:
        return not self.active


ACTIVE_STATUSES = frozenset(
    {JobStatus.QUEUED, JobStatus.DOWNLOADING, JobStatus.PAUSED, JobStatus.VERIFYING}
)


class FileStatus(StrEnum):
    PENDING = "pending"
    DOWNLOADING = "downloading"
    VERIFYING = "verifying"
    COMPLETED = "completed"
    FAILED = "failed"


DownloadFormat = Literal["mlx", "gguf"]
MAX_ALLOW_PATTERNS = 64
AllowPattern = Annotated[str, Field(min_length=1, max_length=256)]


class DownloadRequest(BaseModel):
    """Start downloading a model (or get the job that already does)."""

    model_id: str = Field(
        description="Hub repo id `org/name`.",
        examples=["mlx-community/Qwen3-0.6B-4bit"],
        json_schema_extra={"pattern": HUB_REPO_PATTERN, "maxLength": MAX_ID_LENGTH},
    )
    revision: str = Field(
        default="main",
        description="Branch, tag or commit.",
        json_schema_extra={"pattern": _REVISION_SCHEMA_PATTERN},
    )
    allow_patterns: Annotated[list[AllowPattern], Field(max_length=MAX_ALLOW_PATTERNS)] = Field(
        default_factory=list,
        description=(
            "Glob patterns of the files to fetch (`*` matches across folders; at most 64 "
            "patterns of at most 256 characters). Empty: the "
            "defaults for the format (weights, config, tokenizer and templates for MLX; one "
            "quantization for GGUF). Pickle files (.bin, .pt, .pth, .ckpt, .pkl) are only "
            "fetched when a pattern names their extension."
        ),
    )
    format: DownloadFormat | None = Field(
        default=None, description="Repository format; default: detected from the file list."
    )
    force: bool = Field(
        default=False,
        strict=True,
        description=(
            "Download even when the model's compatibility verdict is not `runs` (otherwise "
            "409 `model_not_servable`); the job then records the verdict as its `warning`."
        ),
    )

    @field_validator("model_id")
    @classmethod
    def _model_id(cls, value: str) -> str:
        if not is_valid_model_id(value):
            raise ValueError("must be a Hub repo id 'org/name' (letters, digits, '-', '_', '.')")
        return value

    @field_validator("revision")
    @classmethod
    def _revision(cls, value: str) -> str:
        if not is_valid_revision(value):
            raise ValueError("must be a branch, tag or commit name")
        return value


class FileProgress(BaseModel):
    path: str = Field(description="Path inside the repository.")
    size: int = Field(description="Size in bytes.")
    bytes_done: int = Field(description="Bytes on disk for this file (partial or verified).")
    status: FileStatus
    lfs: bool = Field(description="Stored in LFS (verified by sha256, else by git blob sha1).")


class DownloadJob(BaseModel):
    id: str = Field(description="Job id (UUID).")
    model_id: str
    revision: str = Field(description="The revision asked for.")
    commit: str | None = Field(default=None, description="The commit it resolved to.")
    status: JobStatus
    format: DownloadFormat | None = None
    allow_patterns: list[str] = Field(default_factory=list)
    bytes_total: int = Field(description="Size of all selected files.")
    bytes_done: int = Field(description="Bytes on disk (partials included).")
    bytes_transferred: int = Field(
        description="Bytes received over the network by this job (resumed bytes not counted)."
    )
    files_total: int
    files_done: int
    speed_bps: float | None = Field(
        default=None, description="Smoothed transfer speed in bytes/s while downloading."
    )
    eta_s: float | None = Field(default=None, description="Seconds left at the current speed.")
    error: ErrorBody | None = Field(default=None, description="Why the job failed.")
    warning: ErrorBody | None = Field(
        default=None,
        description=(
            "Why the model may not run here, recorded when the download was forced past its "
            "compatibility verdict (`force: true`)."
        ),
    )
    created_at: float = Field(description="Unix time.")
    updated_at: float
    started_at: float | None = None
    finished_at: float | None = None
    files: list[FileProgress] = Field(default_factory=list)


class DownloadList(BaseModel):
    downloads: list[DownloadJob]
    total: int = Field(description="Jobs matching the filter (before limit/offset).")


class SnapshotEvent(BaseModel):
    """Sent first on every connection (and after a subscriber fell behind): the current state."""

    type: Literal["snapshot"] = "snapshot"
    jobs: list[DownloadJob]


class JobEvent(BaseModel):
    """``progress``: at most every 250 ms per job while bytes move; ``status``: on every change."""

    type: Literal["progress", "status"]
    job: DownloadJob


class JobDeletedEvent(BaseModel):
    """A finished job was removed from the history."""

    type: Literal["deleted"] = "deleted"
    job_id: str


DownloadEvent = Annotated[SnapshotEvent | JobEvent | JobDeletedEvent, Field(discriminator="type")]
