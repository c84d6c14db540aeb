"""What an inference server can do and where it reads models (``GET /admin/capabilities``).

The manager asks the inference server rather than looking at its own environment: the two
may run on different hosts, with different mlx-lm versions and different folders.
"""

from __future__ import annotations

from importlib import metadata

from pydantic import BaseModel, Field


class InferenceCapabilities(BaseModel):
    version: str = Field(description="The modelyard version of the inference server.")
    mlx_version: str | None = Field(description="The installed mlx; null when not installed.")
    mlx_lm_version: str | None = Field(description="The installed mlx-lm; null when not installed.")
    model_types: list[str] = Field(
        description="The config.json `model_type` values it can load (sorted): its mlx-lm's, "
        "including the ones mlx-lm serves with another type's implementation, the encoders "
        "its mlx-embeddings loads and the vision-language models its mlx-vlm loads."
    )
    vision_model_types: list[str] = Field(
        default_factory=list,
        description="The `model_type` values of vision-language models it serves with images "
        "(through mlx-vlm, when the config has a `vision_config`), sorted.",
    )
    hf_cache_dir: str = Field(description="The Hugging Face cache it finds Hub models in.")
    models_dirs: list[str] = Field(
        description="The folders it serves imported models from, as local/<folder name>."
    )
    memory_budget_bytes: int = Field(description="The memory budget of its model pool.")
    max_models: int = Field(description="The most models it keeps loaded at once.")
    cpu_blas: str | None = Field(
        description="The optimized BLAS library MLX's CPU backend uses (MLX_SERVER_CPU_BLAS); "
        "null: the bundled one, or not on Linux."
    )
    features: list[str] = Field(
        description="The OpenAI API features it serves (e.g. chat, completion, stream)."
    )


def package_version(name: str) -> str | None:
    """An installed distribution's version, read from its metadata (nothing is imported)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def modelyard_version() -> str:
    return package_version("modelyard") or "unknown"
