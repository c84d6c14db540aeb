"""What a model is, read from its ``config.json``: family, shape, quantization, modality.

Built by ``manager.characteristics.extract_characteristics``; every field may be unknown.
The context window is written under two names with one value: ``context_length`` and
``max_position_embeddings`` (the name frontends built on mlx-manager's characteristics read).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, computed_field


class ModelCharacteristics(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())

    model_type: str | None = Field(default=None, description="`model_type` from config.json.")
    architecture_family: str = Field(
        default="Unknown", description="Normalised family name, e.g. Llama, Qwen, Mistral."
    )
    architectures: list[str] = Field(default_factory=list)
    context_length: int | None = Field(
        default=None, description="Context window in tokens (max_position_embeddings etc.)."
    )
    num_hidden_layers: int | None = None
    hidden_size: int | None = None
    intermediate_size: int | None = None
    vocab_size: int | None = None
    num_attention_heads: int | None = None
    num_key_value_heads: int | None = Field(
        default=None, description="Key/value heads; unknown when the config does not say."
    )
    quantization_bits: int | None = None
    quantization_group_size: int | None = None
    quantization_method: str | None = Field(
        default=None, description='e.g. "mlx", "gptq", "awq", "bitsandbytes", "fp8".'
    )
    is_multimodal: bool = False
    multimodal_type: str | None = Field(
        default=None, description='"vision", "audio" or "vision+audio".'
    )
    use_cache: bool = True
    torch_dtype: str | None = None
    parameter_count: int | None = Field(
        default=None, description="Estimate from the shape of the language model, not a count."
    )
    badges: list[str] = Field(
        default_factory=list, description='Short labels for display, e.g. ["Qwen", "4-bit"].'
    )

    @computed_field(  # type: ignore[prop-decorator]
        description="The context window under the name mlx-manager's frontends read; "
        "always equal to `context_length`.",
    )
    @property
    def max_position_embeddings(self) -> int | None:
        return self.context_length
