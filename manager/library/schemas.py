"""Wire types of the manager's library: local models, imports, deletes, compatibility, storage.

Times are Unix seconds (floats), sizes are bytes, as in the pool contract (``pool.py``).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared_schemas.characteristics import ModelCharacteristics
from shared_schemas.model_ids import LOCAL_NAME_PATTERN, MAX_LOCAL_NAME
from shared_schemas.openai import ModelState, ModelType

ModelSource = Literal["hub", "imported"]
ModelFormat = Literal["mlx", "transformers", "gguf", "unknown"]
WeightsKind = Literal["safetensors", "gguf", "pickle", "none"]
ImportMode = Literal["link", "copy"]
SkipReason = Literal["hidden", "linked_folder", "link_outside_source", "not_a_regular_file"]
LibrarySort = Literal[
    "name", "-name", "size", "-size", "added", "-added", "last_used", "-last_used"
]
CompatibilityLabel = Literal["runs", "tight", "too-big", "not-loadable", "unknown"]
ReasonSeverity = Literal["blocker", "warning", "info"]
CleanupKind = Literal["partial", "unreferenced_blob", "stale_import"]


# ---- the library ----------------------------------------------------------------------------


class CompatibilitySummary(BaseModel):
    """The compatibility verdict in short, for a badge next to a model."""

    compatible: bool
    score: float = Field(ge=0, le=1)
    label: CompatibilityLabel = Field(
        description="runs: fits with room; tight: fits, little headroom; too-big: over the "
        "memory budget; not-loadable: format or architecture the server cannot load."
    )


class LocalModel(BaseModel):
    """One model on disk: a Hub cache repo (``org/name``) or an imported folder (``local/x``)."""

    model_config = ConfigDict(protected_namespaces=())

    id: str = Field(description="`org/name` for the Hub cache, `local/<name>` for imports.")
    source: ModelSource
    path: str = Field(description="The current snapshot folder, or the imported folder.")
    revision: str | None = Field(default=None, description="Commit of the current snapshot.")
    revisions: list[str] = Field(
        default_factory=list, description="Every snapshot kept in the cache for this repo."
    )
    size_bytes: int = Field(description="Bytes on disk, all revisions, partial files excluded.")
    file_count: int = Field(description="Files in the current snapshot.")
    format: ModelFormat
    weights: WeightsKind = Field(description="The kind of weight files present.")
    weight_bytes: int = Field(description="Size of the weight files of the current snapshot.")
    gguf_files: list[str] = Field(default_factory=list, description="GGUF files, if any.")
    type: ModelType = Field(description="chat, image, speech or embedding.")
    characteristics: ModelCharacteristics
    badges: list[str] = Field(default_factory=list)
    compatibility: CompatibilitySummary
    state: ModelState = Field(description="In the inference server's pool; unknown when down.")
    added_at: float | None = Field(default=None, description="First seen (Unix time).")
    last_used_at: float | None = Field(default=None, description="Last served (Unix time).")
    import_origin: str | None = Field(default=None, description="Where an import came from.")
    import_mode: ImportMode | None = None


class LocalModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[LocalModel]
    total: int = Field(description="Models on disk before filters.")
    inference_reachable: bool = Field(description="Whether pool states could be fetched.")


class ImportRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        min_length=1,
        max_length=4096,
        description="Absolute path, on the manager's host, of a model folder or a .gguf file.",
        # Declared, not enforced here: the importer answers 400 ``invalid_path``.
        json_schema_extra={"pattern": "^/"},
    )
    name: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_LOCAL_NAME,
        description="Registered as `local/<name>`; default: the folder or file name.",
        # Declared, not enforced here: the importer answers 400 ``invalid_name``.
        json_schema_extra={"pattern": LOCAL_NAME_PATTERN},
    )
    mode: ImportMode = Field(
        default="link",
        description="link: hard links (no bytes duplicated, same file system); copy: copies.",
    )


class SkippedFile(BaseModel):
    path: str = Field(description="Relative to the imported folder.")
    reason: SkipReason = Field(
        description=(
            "hidden: a name starting with '.'; linked_folder: a symlink to a folder; "
            "link_outside_source: a symlink whose target lies outside the folder (and, for a "
            "Hugging Face snapshot, outside its repo's blobs); not_a_regular_file: a device, "
            "pipe, socket or a link to nothing."
        )
    )


class ImportedModel(LocalModel):
    """The imported model, and what in the source folder was left out."""

    skipped: list[SkippedFile] = Field(
        default_factory=list,
        description="Entries of the source that were not imported, and why.",
    )


class DeleteResult(BaseModel):
    id: str
    dry_run: bool = Field(default=False, description="Nothing was removed: what would be.")
    unloaded: bool | None = Field(
        description="Whether it was unloaded first; null when the inference server was down "
        "(and on a dry run)."
    )
    freed_bytes: int
    removed_revisions: list[str] = Field(default_factory=list)
    removed_paths: list[str] = Field(
        default_factory=list,
        description="What was removed; always the model's own folder or paths inside it.",
    )
    kept_repos: list[str] = Field(
        default_factory=list,
        description=(
            "Other cached models holding one of the removed commits (a copy, a mirror, a "
            "renamed repo); a delete leaves them as they are."
        ),
    )
    kept_paths: list[str] = Field(
        default_factory=list,
        description="What the delete leaves in place: the folder or file an imported model "
        "came from (linked or copied from there).",
    )


# ---- compatibility --------------------------------------------------------------------------


class CompatibilityReason(BaseModel):
    code: str = Field(description="e.g. unsupported_format, unsafe_format, exceeds_budget.")
    severity: ReasonSeverity
    message: str


class CompatibilityRequirements(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    format: ModelFormat
    weights: WeightsKind
    model_type: str | None = None
    architecture_supported: bool | None = Field(
        default=None, description="mlx_lm.models.<model_type> exists; null when unknown."
    )
    quantization: str | None = Field(default=None, description='e.g. "mlx 4-bit", "Q4_K_M".')
    weights_bytes: int | None = None
    kv_cache_bytes: int | None = Field(default=None, description="At `context_tokens`.")
    context_tokens: int
    estimated_memory_bytes: int | None = Field(
        default=None, description="Weights + KV cache + runtime overhead."
    )
    budget_bytes: int | None = Field(
        default=None, description="The inference server's pool budget; null when unreachable."
    )
    physical_memory_bytes: int | None = None


class CompatibilityReport(BaseModel):
    model_id: str
    local: bool = Field(description="On disk here; false: judged from the Hub's description.")
    source: ModelSource
    compatible: bool
    score: float = Field(ge=0, le=1, description="1: runs with room; 0: cannot run here.")
    label: CompatibilityLabel
    reasons: list[CompatibilityReason]
    requirements: CompatibilityRequirements
    recommendations: list[str]


# ---- storage --------------------------------------------------------------------------------


class DiskUsage(BaseModel):
    path: str
    total_bytes: int
    used_bytes: int
    free_bytes: int


class ModelUsage(BaseModel):
    id: str
    source: ModelSource
    size_bytes: int


class LooseFile(BaseModel):
    """A partial download, an unreferenced blob or a stale import folder."""

    path: str
    kind: CleanupKind
    model_id: str | None = None
    size_bytes: int
    modified_at: float
    protected: bool = Field(
        description="Kept by cleanup: owned by a download job or modified too recently."
    )


class StorageStats(BaseModel):
    cache_dir: str
    models_dir: str
    total_bytes: int = Field(description="Models + partial files + unreferenced blobs.")
    models_bytes: int
    partial_bytes: int
    unreferenced_bytes: int
    models: list[ModelUsage]
    partial_downloads: list[LooseFile]
    unreferenced: list[LooseFile] = Field(
        description="Blobs no snapshot references and stale import folders."
    )
    disks: list[DiskUsage] = Field(description="The file systems of the cache and models dir.")
    free_bytes: int = Field(description="Free space where downloads go (the cache).")


class CleanupResult(BaseModel):
    dry_run: bool
    removed: list[LooseFile] = Field(description="What was removed, or would be on a dry run.")
    kept: list[LooseFile] = Field(description="Loose files left alone (protected).")
    freed_bytes: int


# ---- the configured catalog -----------------------------------------------------------------


class StaticCatalogEntry(BaseModel):
    """An entry of MODEL_MANAGER_CATALOG_FILE: a model served elsewhere, or extra metadata."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    id: str = Field(min_length=1, max_length=256)
    name: str | None = None
    description: str | None = None
    context_length: int | None = Field(default=None, alias="contextLength", gt=0)
    type: ModelType | None = Field(default=None, description="Default: chat.")
    provider: str | None = Field(default=None, description="Shown as `owned_by`.")
