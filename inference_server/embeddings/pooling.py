"""Pooling of hidden states into one vector per input, as sentence-transformers does it.

Batches are right-padded: ``mask`` is 1 on real tokens and 0 on padding. A decoder's causal
attention never lets a real token see the padding after it, so padded rows give the same
hidden states as unpadded ones; encoders are given the mask.
"""

from __future__ import annotations

from typing import Any


def pool(hidden: Any, mask: Any, modes: tuple[str, ...]) -> Any:
    """``hidden`` (batch, tokens, width) and ``mask`` (batch, tokens) → (batch, width * modes)."""
    import mlx.core as mx

    hidden = hidden.astype(mx.float32)
    weights = mask.astype(mx.float32)[..., None]
    counts = mx.maximum(weights.sum(axis=1), 1e-9)
    parts = []
    for mode in modes:
        if mode == "cls":
            parts.append(hidden[:, 0])
        elif mode == "max":
            parts.append(mx.where(weights > 0, hidden, -mx.inf).max(axis=1))
        elif mode == "mean":
            parts.append((hidden * weights).sum(axis=1) / counts)
        elif mode == "mean_sqrt_len":
            parts.append((hidden * weights).sum(axis=1) / mx.sqrt(counts))
        elif mode == "weightedmean":
            positions = mx.arange(1, hidden.shape[1] + 1, dtype=mx.float32)[None, :, None]
            scaled = weights * positions
            parts.append((hidden * scaled).sum(axis=1) / mx.maximum(scaled.sum(axis=1), 1e-9))
        elif mode == "lasttoken":
            last = mask.astype(mx.int32).sum(axis=1) - 1
            parts.append(hidden[mx.arange(hidden.shape[0]), last])
        else:  # pragma: no cover - spec.py only yields the modes above
            raise ValueError(f"unknown pooling mode {mode!r}")
    return parts[0] if len(parts) == 1 else mx.concatenate(parts, axis=-1)


def normalize(vectors: Any) -> Any:
    """Each row scaled to unit L2 norm (a zero row stays zero)."""
    import mlx.core as mx

    norms = mx.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / mx.maximum(norms, 1e-12)
