"""What the manager answers about models on the Hugging Face Hub (`/api/hub/*`).

Search results, a model's details (files, sizes, what to download for MLX or GGUF, the
characteristics read from its ``config.json``), the quantized variants of a base model, and a
model's characteristics from a local copy or the Hub (``/api/models/config/{id}``).

Every answer built from Hub data carries ``stale``: true when the Hub could not be reached and
a cached answer older than the cache TTL was served instead of an error.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from manager.library.schemas import CompatibilityReport
from shared_schemas.characteristics import ModelCharacteristics

HubLibrary = Literal["mlx", "gguf", "transformers"]
HubSort = Literal["downloads", "likes", "trending", "lastModified"]
VariantFormat = Literal["mlx", "gguf"]
WeightsFormat = Literal["safetensors", "gguf", "pickle"]
SelectionFormat = Literal["mlx", "safetensors", "gguf"]
ConfigStatus = Literal["ok", "missing", "gated", "invalid"]


class _Model(BaseModel):
    model_config = ConfigDict(protected_namespaces=())


class QuantLevel(_Model):
    """A quantization level read from a file or repository name."""

    label: str = Field(description='Canonical spelling, e.g. "Q4_K_M", "4bit", "4bit-DWQ".')
    bits: int | None = Field(
        default=None, description="Nominal bits per weight; unknown for mixed schemes."
    )


class HubSearchResult(_Model):
    id: str = Field(description="Repository id, org/name.")
    author: str | None = None
    downloads: int = 0
    likes: int = 0
    last_modified: datetime | None = None
    tags: list[str] = Field(default_factory=list)
    library_name: str | None = None
    pipeline_tag: str | None = None
    gated: bool = False
    quant: QuantLevel | None = Field(
        default=None, description="Quantization level from the config, else from the name."
    )
    characteristics: ModelCharacteristics | None = Field(
        default=None,
        description="From the config the listing carries (family, quantization), or from the "
        "full config.json when the search asked for configs.",
    )
    badges: list[str] = Field(default_factory=list, description='e.g. ["Qwen", "4-bit"].')
    compatibility: CompatibilityReport | None = Field(
        default=None,
        description="Will it run here: the report of GET /api/models/compatibility/{id}, when "
        "the search asked for verdicts; null otherwise, or when it could not be made.",
    )


class HubSearchPage(_Model):
    results: list[HubSearchResult]
    next_cursor: str | None = Field(
        default=None, description="Pass as `cursor` for the next page; null on the last page."
    )
    stale: bool = False


class HubFile(_Model):
    path: str
    size: int | None = Field(default=None, description="Bytes; null when the Hub did not say.")
    sha256: str | None = Field(default=None, description="For files stored in LFS.")
    lfs: bool = False
    weights_format: WeightsFormat | None = None
    unsafe_format: bool = Field(
        default=False,
        description="Pickle-based (.bin, .pt, .pth, .ckpt, .pkl): loading it can run code.",
    )


class DownloadSelection(_Model):
    """A set of files that makes one usable model, and its total size."""

    name: str = Field(description='"mlx", "safetensors", or the GGUF quant label.')
    format: SelectionFormat
    quant: QuantLevel | None = None
    files: list[str]
    size: int = Field(description="Total bytes of `files` (split GGUF parts summed).")


class HubModelDetails(_Model):
    id: str = Field(description="Canonical repository id, as the Hub spells it.")
    author: str | None = None
    sha: str | None = Field(default=None, description="Commit the details describe.")
    last_modified: datetime | None = None
    downloads: int = 0
    likes: int = 0
    tags: list[str] = Field(default_factory=list)
    library_name: str | None = None
    pipeline_tag: str | None = None
    license: str | None = None
    gated: bool = False
    gated_mode: Literal["auto", "manual"] | None = None
    base_models: list[str] = Field(default_factory=list)
    card_summary: str | None = Field(
        default=None, description="First paragraph of the model card, plain text."
    )
    files: list[HubFile] = Field(default_factory=list)
    total_size: int = Field(default=0, description="Bytes of all files in the repository.")
    selections: list[DownloadSelection] = Field(
        default_factory=list,
        description="What to download: the MLX / safetensors weights, or one GGUF quant.",
    )
    config_status: ConfigStatus = Field(
        description="ok; missing (no config.json, e.g. GGUF repos); gated (refused without "
        "access); invalid (not a JSON object)."
    )
    characteristics: ModelCharacteristics | None = None
    badges: list[str] = Field(default_factory=list)
    unsafe_format: bool = Field(
        default=False, description="The repository holds pickle-based weights."
    )
    stale: bool = False


class HubModelCard(_Model):
    """A repository's model card (README.md) for display; render it as untrusted Markdown."""

    id: str = Field(description="Canonical repository id.")
    sha: str | None = Field(default=None, description="Commit the card was read from.")
    markdown: str | None = Field(
        default=None,
        description="README.md without its YAML front matter, at most 256 KiB; null when the "
        "repository has none.",
    )
    stale: bool = False


class HubVariant(_Model):
    id: str = Field(description="Repository id of the quantized model.")
    format: VariantFormat
    quant: QuantLevel | None = None
    files: list[str] = Field(
        default_factory=list, description="Files to download for this variant."
    )
    size: int | None = Field(default=None, description="Total bytes of `files`.")
    downloads: int = 0
    likes: int = 0
    last_modified: datetime | None = None


class HubVariants(_Model):
    base_model: str = Field(description="Canonical id of the base model.")
    format: VariantFormat | None = Field(description="The format asked for; null: both.")
    match: Literal["base_model", "name"] = Field(
        description="base_model: repositories that declare the base model; name: a name "
        "search, used when none declares it."
    )
    variants: list[HubVariant]
    stale: bool = False


class ModelConfigInfo(_Model):
    model_id: str
    source: Literal["local", "hub"]
    revision: str | None = Field(default=None, description="Commit of the config read.")
    characteristics: ModelCharacteristics
    stale: bool = False
