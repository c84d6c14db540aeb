"""Will it run here? ``assess(facts)`` is a pure function: the facts in, the verdict out.

Checks, in order:

- **Format.** The inference server loads safetensors weights with mlx-lm (MLX conversions,
  and Hugging Face checkpoints, which mlx-lm converts while loading). GGUF is not loaded by
  this server; pickle-based weights (``.bin``, ``.pt``, ...) can run code when loaded and are
  never loaded (``unsafe_format``); a folder without weights cannot run.
- **Architecture.** The ``model_type`` must be one the inference server says its mlx-lm can
  load (``GET /admin/capabilities``, ``model_types``; mlx-lm's own renames included, e.g.
  ``mistral`` → ``llama``). The manager never decides this from its own environment: the two
  may run on different hosts with different mlx-lm versions. When the server cannot be
  asked, the last answer it gave is used (and the verdict says so), or, if it never
  answered, the architecture is not checked (a warning).
- **Quantization.** MLX quantization loads as is; AWQ/GPTQ 4-bit and some FP8 and
  compressed-tensors forms are converted at load; bitsandbytes is not supported.
- **Memory.** Weights + KV cache at ``context_tokens`` (2 x layers x KV heads x head size x
  2 bytes per token) + 10 % runtime overhead, against the inference server's pool budget and
  the machine's physical memory.

The score is 1 for a model that fits with room to spare (at most half the limit), falls to
0.6 as it fills the limit, is below 0.25 when it does not fit, and 0 when it cannot load.
Warnings (conversion at load, text-only serving of a multimodal model) take a little off; a
vision-language model whose type the server's mlx-vlm loads is served with its images (the
server's ``vision_model_types``), so it has no such warning.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from manager.library.schemas import (
    CompatibilityLabel,
    CompatibilityReason,
    CompatibilityReport,
    CompatibilityRequirements,
    CompatibilitySummary,
    ModelFormat,
    ModelSource,
    ReasonSeverity,
    WeightsKind,
)
from shared_schemas.characteristics import ModelCharacteristics

DEFAULT_CONTEXT_TOKENS = 4096
KV_BYTES_PER_ELEMENT = 2
RUNTIME_OVERHEAD = 0.10
LARGE_UNQUANTIZED_PARAMETERS = 3_000_000_000
_CONVERTED_AT_LOAD = frozenset({"awq", "gptq", "fp8", "compressed-tensors", "mxfp4", "bitnet"})
_UNSUPPORTED_QUANT = frozenset({"bitsandbytes", "hqq", "eetq", "aqlm", "quanto", "exl2"})


@dataclass(frozen=True)
class CompatibilityFacts:
    model_id: str
    local: bool
    source: ModelSource
    format: ModelFormat
    weights: WeightsKind
    characteristics: ModelCharacteristics
    architecture_supported: bool | None
    weight_bytes: int | None
    head_dim: int | None
    context_tokens: int
    budget_bytes: int | None
    physical_memory_bytes: int | None
    #: The model types came from an earlier answer: the inference server does not answer now.
    model_types_stale: bool = False
    #: The inference server serves this model's images (mlx-vlm loads its type).
    images_served: bool = False


def head_dim_of(config: Mapping[str, Any] | None, ch: ModelCharacteristics) -> int | None:
    """``head_dim`` from the config (top level or ``text_config``), else hidden / heads."""
    for source in (config or {}, (config or {}).get("text_config") or {}):
        value = source.get("head_dim") if isinstance(source, Mapping) else None
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    if ch.hidden_size and ch.num_attention_heads:
        return max(ch.hidden_size // ch.num_attention_heads, 1)
    return None


def kv_cache_bytes(ch: ModelCharacteristics, head_dim: int | None, tokens: int) -> int | None:
    layers = ch.num_hidden_layers
    kv_heads = ch.num_key_value_heads or ch.num_attention_heads
    if not layers or not kv_heads or not head_dim:
        return None
    return 2 * layers * kv_heads * head_dim * KV_BYTES_PER_ELEMENT * tokens


def _quantization_text(ch: ModelCharacteristics) -> str | None:
    method, bits = ch.quantization_method, ch.quantization_bits
    if method and method.startswith("gguf "):
        return method.removeprefix("gguf ")
    if method and bits:
        return f"{method} {bits}-bit"
    if bits:
        return f"{bits}-bit"
    return method or ch.torch_dtype


class _Verdict:
    def __init__(self) -> None:
        self.reasons: list[CompatibilityReason] = []
        self.recommendations: list[str] = []
        self.cannot_load = False
        self.too_big = False
        self.factor = 1.0

    def add(self, code: str, severity: ReasonSeverity, message: str) -> None:
        self.reasons.append(CompatibilityReason(code=code, severity=severity, message=message))

    def recommend(self, text: str) -> None:
        if text not in self.recommendations:
            self.recommendations.append(text)


def _mlx_variant_hint(ch: ModelCharacteristics) -> str:
    family = ch.architecture_family if ch.architecture_family != "Unknown" else "this model"
    return (
        f"Download an MLX variant of {family} from the Hub "
        "(GET /api/hub/models/{base model}/variants?format=mlx)."
    )


def _check_format(facts: CompatibilityFacts, v: _Verdict) -> None:
    ch = facts.characteristics
    if facts.weights == "gguf":
        v.cannot_load = True
        v.add("unsupported_format", "blocker", "GGUF models are not loaded by this server.")
        v.recommend(_mlx_variant_hint(ch))
    elif facts.weights == "pickle":
        v.cannot_load = True
        v.add(
            "unsafe_format",
            "blocker",
            "Only pickle-based weights (.bin/.pt): they can run code when loaded and are "
            "never loaded here.",
        )
        v.recommend("Download a safetensors (MLX) variant of this model.")
    elif facts.weights == "none":
        v.cannot_load = True
        v.add("no_weights", "blocker", "No weight files in the model folder.")
        v.recommend("Download the model again; the weights are missing.")
    elif facts.format == "transformers":
        v.add(
            "converted_at_load",
            "info",
            "Hugging Face safetensors checkpoint: mlx-lm converts it while loading.",
        )


def _check_architecture(facts: CompatibilityFacts, v: _Verdict) -> None:
    if facts.weights == "gguf":
        return
    model_type = facts.characteristics.model_type
    if not model_type:
        v.cannot_load = True
        v.add("unknown_architecture", "blocker", "config.json has no model_type.")
    elif facts.architecture_supported is False:
        v.cannot_load = True
        v.add(
            "unsupported_architecture",
            "blocker",
            f"model_type {model_type!r} is not supported by the inference server's mlx-lm.",
        )
        v.recommend("Upgrade mlx-lm on the inference server, or pick a supported model.")
    elif facts.architecture_supported is None:
        v.factor *= 0.9
        v.add(
            "architecture_unknown",
            "warning",
            "The inference server could not be asked which model types it loads; not checked.",
        )
    if facts.architecture_supported is not None and facts.model_types_stale:
        v.add(
            "architecture_last_known",
            "info",
            "The inference server could not be asked now; model_type checked against the "
            "model types it reported when it was last reached.",
        )


def _check_quantization(facts: CompatibilityFacts, v: _Verdict) -> None:
    ch = facts.characteristics
    method = (ch.quantization_method or "").lower()
    if facts.weights != "safetensors" or not method or method == "mlx":
        if (
            facts.weights == "safetensors"
            and not method
            and (ch.parameter_count or 0) > LARGE_UNQUANTIZED_PARAMETERS
        ):
            v.factor *= 0.95
            v.add("unquantized", "info", "Full-precision weights: a 4-bit variant needs ~1/4.")
            v.recommend(_mlx_variant_hint(ch).replace("an MLX variant", "a 4-bit MLX variant"))
        return
    if method in _UNSUPPORTED_QUANT:
        v.cannot_load = True
        v.add(
            "unsupported_quantization",
            "blocker",
            f"{method} quantization is not supported by mlx-lm.",
        )
        v.recommend(_mlx_variant_hint(ch))
    elif method in ("awq", "gptq") and ch.quantization_bits not in (None, 4):
        v.cannot_load = True
        v.add(
            "unsupported_quantization",
            "blocker",
            f"{method} {ch.quantization_bits}-bit: mlx-lm converts 4-bit AWQ/GPTQ only.",
        )
        v.recommend(_mlx_variant_hint(ch))
    elif method in _CONVERTED_AT_LOAD:
        v.factor *= 0.9
        v.add(
            "converted_at_load",
            "warning",
            f"{method} weights are converted by mlx-lm while loading; some forms are refused.",
        )
    else:
        v.factor *= 0.8
        v.add("quantization_unknown", "warning", f"Unfamiliar quantization {method!r}.")


def _check_modality(facts: CompatibilityFacts, v: _Verdict) -> None:
    ch = facts.characteristics
    if ch.is_multimodal and not v.cannot_load and facts.images_served:
        v.add("images_served", "info", "Vision-language model: images are served (mlx-vlm).")
    elif ch.is_multimodal and not v.cannot_load:
        v.factor *= 0.9
        v.add(
            "text_only",
            "warning",
            f"Multimodal ({ch.multimodal_type or 'unknown'}): served for text only here.",
        )


def _check_memory(
    facts: CompatibilityFacts, v: _Verdict, needed: int | None
) -> tuple[int | None, float]:
    """Returns the memory limit that applies and the score for memory alone."""
    limits = [x for x in (facts.budget_bytes, facts.physical_memory_bytes) if x]
    limit = min(limits) if limits else None
    if facts.budget_bytes is None:
        v.add(
            "budget_unknown",
            "info",
            "The inference server could not be asked for its memory budget; "
            "compared with physical memory only.",
        )
    if needed is None:
        v.factor *= 0.8
        v.add("memory_unknown", "warning", "The weights' size is unknown; memory not checked.")
        return limit, 1.0
    if limit is None:
        return None, 1.0
    ratio = needed / limit
    gib = needed / 2**30
    if facts.physical_memory_bytes and needed > facts.physical_memory_bytes:
        v.too_big = True
        v.add(
            "exceeds_memory",
            "blocker",
            f"Needs about {gib:.1f} GiB; this machine has "
            f"{facts.physical_memory_bytes / 2**30:.1f} GiB.",
        )
    elif facts.budget_bytes and needed > facts.budget_bytes:
        v.too_big = True
        v.add(
            "exceeds_budget",
            "blocker",
            f"Needs about {gib:.1f} GiB; the inference server's budget is "
            f"{facts.budget_bytes / 2**30:.1f} GiB.",
        )
        v.recommend("Raise MLX_SERVER_MAX_MEMORY_GB if the machine has the memory.")
    if v.too_big:
        v.recommend("Use a smaller or more strongly quantized (4-bit) variant.")
        return limit, min(0.25, 0.25 / ratio)
    if ratio > 0.8:
        v.add("memory_tight", "warning", f"Fills {ratio:.0%} of the available memory.")
    return limit, 1.0 - 0.4 * max(0.0, ratio - 0.5) / 0.5


def assess(facts: CompatibilityFacts) -> CompatibilityReport:
    """The verdict for one model. Pure: no I/O."""
    ch = facts.characteristics
    v = _Verdict()
    _check_format(facts, v)
    _check_architecture(facts, v)
    _check_quantization(facts, v)
    _check_modality(facts, v)
    head_dim = facts.head_dim
    kv = kv_cache_bytes(ch, head_dim, facts.context_tokens)
    needed = None
    if facts.weight_bytes:
        needed = int((facts.weight_bytes + (kv or 0)) * (1 + RUNTIME_OVERHEAD))
    _limit, memory_score = _check_memory(facts, v, needed)

    if v.cannot_load:
        score, label = 0.0, "not-loadable"
    elif v.too_big:
        score, label = memory_score, "too-big"
    else:
        score = memory_score * v.factor
        label = "runs" if score >= 0.8 else "tight"
    compatible = not (v.cannot_load or v.too_big)
    final_label: CompatibilityLabel = label  # type: ignore[assignment]
    return CompatibilityReport(
        model_id=facts.model_id,
        local=facts.local,
        source=facts.source,
        compatible=compatible,
        score=round(max(0.0, min(1.0, score)), 3),
        label=final_label,
        reasons=v.reasons,
        requirements=CompatibilityRequirements(
            format=facts.format,
            weights=facts.weights,
            model_type=ch.model_type,
            architecture_supported=facts.architecture_supported,
            quantization=_quantization_text(ch),
            weights_bytes=facts.weight_bytes or None,
            kv_cache_bytes=kv,
            context_tokens=facts.context_tokens,
            estimated_memory_bytes=needed,
            budget_bytes=facts.budget_bytes,
            physical_memory_bytes=facts.physical_memory_bytes,
        ),
        recommendations=v.recommendations,
    )


def summary(report: CompatibilityReport) -> CompatibilitySummary:
    return CompatibilitySummary(
        compatible=report.compatible, score=report.score, label=report.label
    )


def images_served(ch: ModelCharacteristics, vision_model_types: Iterable[str] | None) -> bool:
    """Whether the inference server takes images for this model: a vision (not audio) model
    whose type its mlx-vlm loads, by the ``vision_model_types`` it reported."""
    if ch.multimodal_type != "vision" or not ch.model_type or vision_model_types is None:
        return False
    return ch.model_type in vision_model_types


def architecture_supported(
    model_type: str | None, model_types: frozenset[str] | None
) -> bool | None:
    """Whether the inference server can load ``model_type``, by the ``model_types`` it
    reported; None when it has not told us."""
    if model_types is None:
        return None
    return bool(model_type) and model_type in model_types
