"""Inference server settings (env prefix ``MLX_SERVER_``)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import platformdirs
import psutil
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

DEFAULT_MEMORY_SHARE = 0.6


def _default_memory_gb() -> float:
    return round(psutil.virtual_memory().total * DEFAULT_MEMORY_SHARE / 2**30, 2)


def _default_models_dirs() -> list[Path]:
    """The manager's default models directory (imports land there)."""
    return [Path(platformdirs.user_data_dir("modelyard", appauthor=False)) / "models"]


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

    # Where models come from (never downloaded here)
    hf_cache_dir: Path | None = Field(
        default=None, description="Hugging Face hub cache; default: huggingface_hub's own."
    )
    models_dirs: Annotated[list[Path], NoDecode] = Field(
        default_factory=_default_models_dirs,
        description="Folders holding imported models, served as local/<name>; default: the "
        "manager's default models directory.",
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

    @field_validator("models_dirs", "available_models", "preload_models", mode="before")
    @classmethod
    def _csv(cls, value: object) -> object:
        return _split_csv(value)

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
