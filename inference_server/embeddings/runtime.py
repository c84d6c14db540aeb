"""A loaded embedding model: its weights, its tokenizer and its pooling pipeline.

``load_embedding_runtime`` and ``EmbeddingRuntime.embed`` run on the MLX worker thread;
``tokenize`` runs anywhere (the tokenizer is immutable once loaded).

Encoders (BERT, XLM-RoBERTa, ModernBERT, ...) are built by ``mlx-embeddings``; decoders
trained for embeddings by mlx-lm, whose inner model gives the final hidden states. Either
way the pooling and normalisation are the ones the model's files name (``spec.py``), not the
library's defaults.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from inference_server.embeddings.pooling import normalize, pool
from inference_server.embeddings.spec import EmbeddingSpec, read_spec
from inference_server.errors import ModelNotLoadableError


@dataclass(eq=False)
class EmbeddingRuntime:
    model_id: str
    model: Any
    tokenizer: Any  # tokenizers.Tokenizer
    spec: EmbeddingSpec
    vocab_size: int
    pad_id: int
    compute_dtype: str | None = None
    inputs_embedded: int = 0

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids of each text, with the special tokens the model's tokenizer adds."""
        return [list(encoding.ids) for encoding in self.tokenizer.encode_batch(texts)]

    def embed(self, batch: list[list[int]], dimensions: int | None) -> npt.NDArray[np.float32]:
        """One padded forward pass over ``batch``; one row per input (worker thread)."""
        import mlx.core as mx

        width = max(len(ids) for ids in batch)
        ids = np.full((len(batch), width), self.pad_id, dtype=np.int32)
        mask = np.zeros((len(batch), width), dtype=np.int32)
        for row, tokens in enumerate(batch):
            ids[row, : len(tokens)] = tokens
            mask[row, : len(tokens)] = 1
        inputs, attention = mx.array(ids), mx.array(mask)
        vectors = pool(self._hidden_states(inputs, attention), attention, self.spec.pooling)
        if self.spec.normalize:
            vectors = normalize(vectors)
        if dimensions is not None and dimensions < vectors.shape[-1]:
            vectors = vectors[:, :dimensions]
            if self.spec.normalize:
                vectors = normalize(vectors)
        result = np.array(vectors.astype(mx.float32), dtype=np.float32)
        self.inputs_embedded += len(batch)
        return result

    def _hidden_states(self, inputs: Any, attention: Any) -> Any:
        if self.spec.architecture == "decoder":
            return self.model.model(inputs)
        out = self.model(inputs, attention_mask=attention)
        hidden = out.get("last_hidden_state") if isinstance(out, dict) else None
        return hidden if hidden is not None else out.last_hidden_state


def _tokenizer(model_id: str, path: Path) -> Any:
    from tokenizers import Tokenizer

    tokenizer_path = path / "tokenizer.json"
    if not tokenizer_path.is_file():
        raise ModelNotLoadableError(
            f"{model_id}: no tokenizer.json in the model folder",
            code="no_tokenizer",
            details={"missing": "tokenizer.json"},
        )
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    tokenizer.no_truncation()  # lengths are checked, never cut silently
    tokenizer.no_padding()  # batches are padded by ``embed``
    return tokenizer


def _pad_id(config: dict[str, Any]) -> int:
    pad = config.get("pad_token_id")
    if isinstance(pad, int) and pad >= 0:
        return pad
    return 0  # any valid id: padded positions are masked (encoders) or come last (decoders)


def load_embedding_runtime(
    model_id: str, path: Path, *, float32: bool = False
) -> tuple[EmbeddingRuntime, int]:
    """Load an embedding model on the worker; returns it and the memory it took."""
    import mlx.core as mx

    from inference_server.runtime.models import compute_dtype

    config = json.loads((path / "config.json").read_text())
    spec = read_spec(model_id, path, config)
    tokenizer = _tokenizer(model_id, path)
    before = mx.get_active_memory()
    if spec.architecture == "encoder":
        from mlx_embeddings.utils import load_model as load_encoder

        model: Any = load_encoder(path, lazy=True, path_to_repo=str(path))
    else:
        from mlx_lm.utils import load_model as load_decoder

        model, _ = load_decoder(path, lazy=True)
        if not hasattr(model, "model"):
            raise ModelNotLoadableError(
                f"{model_id}: mlx-lm's {config.get('model_type')} model does not expose its "
                "hidden states",
                code="unsupported_model_type",
            )
    if float32:
        model.set_dtype(mx.float32, predicate=lambda dtype: dtype in (mx.float16, mx.bfloat16))
    mx.eval(model.parameters())
    mx.synchronize()
    used = max(0, mx.get_active_memory() - before)
    vocab = config.get("vocab_size")
    runtime = EmbeddingRuntime(
        model_id=model_id,
        model=model,
        tokenizer=tokenizer,
        spec=spec,
        vocab_size=vocab if isinstance(vocab, int) else tokenizer.get_vocab_size(),
        pad_id=_pad_id(config),
        compute_dtype=compute_dtype(model),
    )
    return runtime, used
