"""Inference server settings (env prefix ``MLX_SERVER_``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Literal

import psutil
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from service_kit.host_origin import parse_allowed_hosts, wildcard_needs_token
from shared_schemas import storage

DEFAULT_MEMORY_SHARE = 0.6


def _default_memory_gb() -> float:
    return round(psutil.virtual_memory().total * DEFAULT_MEMORY_SHARE / 2**30, 2)


def _default_models_dirs() -> list[Path]:
    """The manager's default models directory (imports land there): MODELYARD_HOME/models."""
    return [storage.models_dir(os.environ)]


def _split_csv(value: object) -> object:
    if isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


class InferenceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MLX_SERVER_", extra="ignore")

    # Network
    host: str = "127.0.0.1"
    port: int = 8001
    api_key: SecretStr | None = Field(
        default=None, description="When set, every route but /health needs this bearer key."
    )
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Host names answered besides loopback and the bound address ('*': any).",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Allowed browser origins (comma-separated); default: any localhost port.",
    )
    max_body_bytes: int = Field(default=8 * 2**20, ge=1024, description="Request body cap.")
    limit_concurrency: int | None = Field(
        default=None, ge=1, description="Connections plus running requests; past it, 503."
    )
    timeout_keep_alive_s: int = Field(default=30, ge=1, description="Idle keep-alive close.")
    header_timeout_s: float = Field(default=10.0, gt=0, description="Request head deadline.")

    # Where models come from (never downloaded here)
    hf_cache_dir: Path = Field(
        default_factory=lambda: storage.hf_hub_cache(os.environ),
        validate_default=True,
        description="Hugging Face hub cache; default: HF_HUB_CACHE / HF_HOME, as huggingface_hub.",
    )
    models_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=_default_models_dirs,
        validate_default=True,
        description="Folders holding imported models, served as local/<name>; default: "
        "MODELYARD_HOME/models, the manager's default models directory.",
    )
    available_models: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="If set, only these model ids are served."
    )
    default_model: str | None = None
    preload_models: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Loaded at start-up and pinned (never evicted)."
    )

    # Pool budget
    max_memory_gb: float = Field(default_factory=_default_memory_gb, gt=0)
    max_models: int = Field(default=4, ge=1)
    idle_ttl_s: float = Field(
        default=0, ge=0, description="Unload idle models after this; 0 = never."
    )
    cpu_blas: str = Field(
        default="auto",
        description="The BLAS library MLX's CPU backend uses for float32 products on Linux: "
        "'auto' (OpenBLAS when the dynamic linker finds libopenblas.so.0, else the bundled "
        "reference BLAS), 'bundled', or a path to a CBLAS library.",
    )
    cpu_float32: Literal["auto"] | bool = Field(
        default="auto",
        description="On the CPU backend, upcast models to float32 as they load (when twice "
        "their bytes fit in the budget). 'auto': float16 and bfloat16 models when an optimized "
        "BLAS is loaded (MLX_SERVER_CPU_BLAS); true: float16 models always; false: never.",
    )

    distributed: Literal["off", "tensor", "pipeline"] = Field(
        default="off",
        description="Serve each model sharded over the processes mlx.launch started: 'tensor' "
        "(tensor parallel) or 'pipeline' (layers split); rank 0 serves HTTP, the others "
        "follow its steps. 'off': one process.",
    )
    distributed_step_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="With MLX_SERVER_DISTRIBUTED: a batch step or collective operation that "
        "has not returned after this long means a rank is lost; the requests in flight end "
        "with 'distributed_rank_lost' (503) and the server reports itself not ready. Keep it "
        "above the slowest step (a long prompt's prefill chunk on the largest model).",
    )

    # Generation
    default_max_tokens: int = Field(default=512, ge=1)
    max_tokens_cap: int = Field(default=32768, ge=1)
    completion_batch_size: int = Field(default=64, ge=1)
    prefill_batch_size: int = Field(default=8, ge=1)
    prefill_step_size: int = Field(default=2048, ge=16)
    keepalive_interval_s: float = Field(default=5.0, gt=0)
    prompt_cache_bytes: int = Field(default=512 * 2**20, ge=0)

    # Embeddings and images
    embedding_batch_size: int = Field(
        default=32, ge=1, description="Most inputs of an embeddings request encoded together."
    )
    max_image_pixels: int = Field(
        default=4096 * 4096,
        ge=1,
        description="Images with more pixels are refused (400 image_too_large), not resized.",
    )
    allow_remote_images: bool = Field(
        default=False,
        description="Fetch http(s) image URLs in chat messages; off: only data URLs.",
    )
    remote_image_max_bytes: int = Field(
        default=20 * 2**20, ge=1, description="Largest remote image fetched, in bytes."
    )
    remote_image_timeout_s: float = Field(
        default=10.0, gt=0, description="Longest time to fetch one remote image."
    )

    log_level: str = "INFO"
    log_format: Literal["auto", "text", "json"] = Field(
        default="auto", description="text for people, json for machines; auto: text on a terminal."
    )

    @field_validator("models_dirs", "available_models", "preload_models", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: object) -> object:
        return parse_allowed_hosts(value)

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _origins(cls, value: object) -> object:
        value = _split_csv(value)
        if isinstance(value, list) and "*" in value:
            raise ValueError("a wildcard CORS origin is not allowed; list the origins")
        return value

    @model_validator(mode="after")
    def _key_for_any_host(self) -> InferenceSettings:
        wildcard_needs_token(
            self.allowed_hosts,
            self.api_key is not None,
            hosts_var="MLX_SERVER_ALLOWED_HOSTS",
            token_var="MLX_SERVER_API_KEY",
        )
        return self

    @field_validator("hf_cache_dir")
    @classmethod
    def _absolute_cache(cls, value: Path) -> Path:
        source = "MLX_SERVER_HF_CACHE_DIR, else HF_HUB_CACHE / HF_HOME"
        return storage.absolute_folder(value, os.environ, source)

    @field_validator("models_dirs")
    @classmethod
    def _absolute_models(cls, value: list[Path]) -> list[Path]:
        source = "MLX_SERVER_MODELS_DIRS, else MODELYARD_HOME"
        return [storage.absolute_folder(path, os.environ, source) for path in value]

    @field_validator("cpu_blas")
    @classmethod
    def _blas_choice(cls, value: str) -> str:
        value = value.strip()
        if value in ("auto", "bundled"):
            return value
        if not Path(value).expanduser().is_file():
            raise ValueError(
                f"'auto', 'bundled' or the path of a CBLAS library; {value!r} is not a file"
            )
        return str(Path(value).expanduser())

    @property
    def max_memory_bytes(self) -> int:
        return int(self.max_memory_gb * 2**30)
