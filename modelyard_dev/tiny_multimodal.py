"""Make small, real embedding and vision-language models for tests and benchmarks.

    python -m modelyard_dev.tiny_multimodal {bert-embedding,decoder-embedding,vision}
        [--repo-id ORG/NAME] [--seed N] [--out DIR | --cache-dir DIR]

Each maker returns the files of a plain Hugging Face model folder, with random weights
(deterministic from a seed) and a tokenizer trained on the spot:

- ``bert_embedding_files``: a BERT encoder (``BertModel``) as sentence-transformers saves
  it: ``modules.json`` (Transformer, mean Pooling, Normalize), ``1_Pooling/config.json``,
  ``sentence_bert_config.json``, a WordPiece tokenizer adding ``[CLS]`` and ``[SEP]``, and a
  model card whose tags say it was trained with a Matryoshka loss. ``mlx-embeddings`` loads it.
- ``decoder_embedding_files``: a Qwen3-Embedding-shaped decoder (``model_type`` ``qwen3``,
  tied embeddings) with last-token pooling and Normalize; its tokenizer appends the end token
  to every text, as Qwen3-Embedding's does. ``mlx-lm`` loads it.
- ``vision_files``: a Qwen2-VL-shaped vision-language model (``Qwen2VLForConditionalGeneration``
  with a two-layer vision tower) with its image processor and chat template, in the layout
  ``mlx-vlm`` loads.

The same arguments give the same bytes, so ``install_files_in_cache`` can put a model into
the Hugging Face cache exactly as a fake Hub would serve it.
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from safetensors.numpy import save as save_safetensors
from tokenizers import (
    Tokenizer,
    decoders,
    models,
    normalizers,
    pre_tokenizers,
    processors,
    trainers,
)

from modelyard_dev.tiny_model import (
    BOS,
    EOS,
    PAD,
    SPECIAL_TOKENS,
    english_corpus,
    install_files_in_cache,
    train_tokenizer,
)

BERT_SPECIALS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
BERT_VOCAB = 600
BERT_MAX_POSITIONS = 128


@dataclass(frozen=True)
class EncoderShape:
    """The dimensions of a BERT encoder."""

    name: str
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int


TINY_ENCODER = EncoderShape("tiny", 64, 2, 4, 128)
MINILM_ENCODER = EncoderShape("minilm", 384, 6, 12, 1536)  # all-MiniLM-L6-v2's shape
ENCODER_SHAPES = {shape.name: shape for shape in (TINY_ENCODER, MINILM_ENCODER)}

DECODER_HIDDEN = 64
DECODER_LAYERS = 2
DECODER_HEADS = 4
DECODER_KV_HEADS = 2
DECODER_VOCAB = 512
DECODER_MAX_POSITIONS = 512


def _json_bytes(value: object) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


def _normal(rng: np.random.Generator, shape: tuple[int, ...], std: float = 0.02) -> Any:
    return (rng.standard_normal(shape) * std).astype(np.float32)


# --------------------------------------------------------------------------------------------
# sentence-transformers files


def sentence_transformers_files(
    dimension: int, *, pooling: str, normalize: bool, max_seq_length: int
) -> dict[str, bytes]:
    """``modules.json``, ``1_Pooling/config.json`` and ``sentence_bert_config.json``."""
    modes = ("cls_token", "mean_tokens", "max_tokens", "mean_sqrt_len_tokens")
    pooling_config: dict[str, Any] = {"word_embedding_dimension": dimension}
    pooling_config.update({f"pooling_mode_{mode}": mode == pooling for mode in modes})
    pooling_config["pooling_mode_weightedmean_tokens"] = pooling == "weightedmean_tokens"
    pooling_config["pooling_mode_lasttoken"] = pooling == "lasttoken"
    pooling_config["include_prompt"] = True
    kinds = [("", "Transformer"), ("1_Pooling", "Pooling")]
    if normalize:
        kinds.append(("2_Normalize", "Normalize"))
    modules = [
        {"idx": i, "name": str(i), "path": path, "type": f"sentence_transformers.models.{kind}"}
        for i, (path, kind) in enumerate(kinds)
    ]
    return {
        "modules.json": _json_bytes(modules),
        "1_Pooling/config.json": _json_bytes(pooling_config),
        "sentence_bert_config.json": _json_bytes(
            {"max_seq_length": max_seq_length, "do_lower_case": False}
        ),
        "config_sentence_transformers.json": _json_bytes(
            {"prompts": {}, "default_prompt_name": None, "similarity_fn_name": "cosine"}
        ),
    }


# --------------------------------------------------------------------------------------------
# BERT encoder


def train_wordpiece(vocab_size: int = BERT_VOCAB) -> Tokenizer:
    """A lower-casing WordPiece tokenizer that wraps each text in ``[CLS] ... [SEP]``."""
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, special_tokens=list(BERT_SPECIALS), show_progress=False
    )
    tokenizer.train_from_iterator(english_corpus(vocab_size), trainer)
    cls_id, sep_id = BERT_SPECIALS.index("[CLS]"), BERT_SPECIALS.index("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    return tokenizer


def bert_config(vocab_size: int, shape: EncoderShape = TINY_ENCODER) -> dict[str, Any]:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": shape.hidden_size,
        "intermediate_size": shape.intermediate_size,
        "num_attention_heads": shape.num_attention_heads,
        "num_hidden_layers": shape.num_hidden_layers,
        "max_position_embeddings": BERT_MAX_POSITIONS,
        "type_vocab_size": 2,
        "vocab_size": vocab_size,
        "hidden_act": "gelu",
        "layer_norm_eps": 1e-12,
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "pad_token_id": 0,
        "torch_dtype": "float32",
    }


def bert_weights(
    vocab_size: int, seed: int, shape: EncoderShape = TINY_ENCODER
) -> dict[str, npt.NDArray[Any]]:
    """Random weights named as in a Hugging Face ``BertModel`` checkpoint."""
    rng = np.random.default_rng(seed)
    h, inter = shape.hidden_size, shape.intermediate_size
    w: dict[str, npt.NDArray[Any]] = {
        "embeddings.word_embeddings.weight": _normal(rng, (vocab_size, h), 0.5),
        "embeddings.position_embeddings.weight": _normal(rng, (BERT_MAX_POSITIONS, h), 0.1),
        "embeddings.token_type_embeddings.weight": _normal(rng, (2, h), 0.1),
        "embeddings.LayerNorm.weight": np.ones(h, np.float32),
        "embeddings.LayerNorm.bias": np.zeros(h, np.float32),
    }

    def linear(name: str, out: int, inp: int) -> None:
        w[f"{name}.weight"] = _normal(rng, (out, inp), 1 / math.sqrt(inp))
        w[f"{name}.bias"] = np.zeros(out, np.float32)

    def norm(name: str) -> None:
        w[f"{name}.weight"] = np.ones(h, np.float32)
        w[f"{name}.bias"] = np.zeros(h, np.float32)

    for i in range(shape.num_hidden_layers):
        layer = f"encoder.layer.{i}"
        for part in ("query", "key", "value"):
            linear(f"{layer}.attention.self.{part}", h, h)
        linear(f"{layer}.attention.output.dense", h, h)
        norm(f"{layer}.attention.output.LayerNorm")
        linear(f"{layer}.intermediate.dense", inter, h)
        linear(f"{layer}.output.dense", h, inter)
        norm(f"{layer}.output.LayerNorm")
    linear("pooler.dense", h, h)
    return w


def _bert_tokenizer_files(tokenizer: Tokenizer) -> dict[str, bytes]:
    config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "unk_token": "[UNK]",
        "cls_token": "[CLS]",
        "sep_token": "[SEP]",
        "pad_token": "[PAD]",
        "mask_token": "[MASK]",
        "model_max_length": BERT_MAX_POSITIONS,
        "do_lower_case": True,
        "clean_up_tokenization_spaces": False,
    }
    specials = {k: config[k] for k in ("unk_token", "cls_token", "sep_token", "pad_token")}
    specials["mask_token"] = "[MASK]"
    return {
        "tokenizer.json": tokenizer.to_str(pretty=True).encode(),
        "tokenizer_config.json": _json_bytes(config),
        "special_tokens_map.json": _json_bytes(specials),
    }


MATRYOSHKA_CARD = """---
library_name: sentence-transformers
pipeline_tag: sentence-similarity
tags:
- sentence-transformers
- feature-extraction
- loss:MatryoshkaLoss
---

A tiny random-weight BERT sentence encoder made for tests.
"""


def bert_embedding_files(
    seed: int = 0, *, matryoshka: bool = True, shape: EncoderShape = TINY_ENCODER
) -> dict[str, bytes]:
    """Every file of a small sentence-transformers BERT encoder, by name."""
    tokenizer = train_wordpiece()
    vocab = tokenizer.get_vocab_size()
    weights = bert_weights(vocab, seed, shape)
    files = {
        "config.json": _json_bytes(bert_config(vocab, shape)),
        "model.safetensors": save_safetensors(weights, metadata={"format": "pt"}),
    }
    files.update(_bert_tokenizer_files(tokenizer))
    files.update(
        sentence_transformers_files(
            shape.hidden_size,
            pooling="mean_tokens",
            normalize=True,
            max_seq_length=BERT_MAX_POSITIONS,
        )
    )
    if matryoshka:
        files["README.md"] = MATRYOSHKA_CARD.encode()
    return files


# --------------------------------------------------------------------------------------------
# Decoder (Qwen3-Embedding shape)


def decoder_config(vocab_size: int) -> dict[str, Any]:
    head_dim = DECODER_HIDDEN // DECODER_HEADS
    return {
        "architectures": ["Qwen3ForCausalLM"],
        "model_type": "qwen3",
        "hidden_size": DECODER_HIDDEN,
        "intermediate_size": DECODER_HIDDEN * 2,
        "num_attention_heads": DECODER_HEADS,
        "num_key_value_heads": DECODER_KV_HEADS,
        "num_hidden_layers": DECODER_LAYERS,
        "head_dim": head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": DECODER_MAX_POSITIONS,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "attention_bias": False,
        "tie_word_embeddings": True,
        "vocab_size": vocab_size,
        "bos_token_id": SPECIAL_TOKENS.index(BOS),
        "eos_token_id": SPECIAL_TOKENS.index(EOS),
        "torch_dtype": "float32",
    }


def decoder_weights(vocab_size: int, seed: int) -> dict[str, npt.NDArray[Any]]:
    """Random weights named as in a Hugging Face Qwen3 checkpoint (tied, no ``lm_head``)."""
    rng = np.random.default_rng(seed)
    h, inter = DECODER_HIDDEN, DECODER_HIDDEN * 2
    head_dim = h // DECODER_HEADS
    q_out, kv_out = DECODER_HEADS * head_dim, DECODER_KV_HEADS * head_dim
    w: dict[str, npt.NDArray[Any]] = {
        "model.embed_tokens.weight": _normal(rng, (vocab_size, h), 1.0)
    }
    for i in range(DECODER_LAYERS):
        layer = f"model.layers.{i}"
        w[f"{layer}.input_layernorm.weight"] = np.ones(h, np.float32)
        w[f"{layer}.post_attention_layernorm.weight"] = np.ones(h, np.float32)
        w[f"{layer}.self_attn.q_norm.weight"] = np.ones(head_dim, np.float32)
        w[f"{layer}.self_attn.k_norm.weight"] = np.ones(head_dim, np.float32)
        w[f"{layer}.self_attn.q_proj.weight"] = _normal(rng, (q_out, h), 1 / math.sqrt(h))
        w[f"{layer}.self_attn.k_proj.weight"] = _normal(rng, (kv_out, h), 1 / math.sqrt(h))
        w[f"{layer}.self_attn.v_proj.weight"] = _normal(rng, (kv_out, h), 1 / math.sqrt(h))
        w[f"{layer}.self_attn.o_proj.weight"] = _normal(rng, (h, q_out), 1 / math.sqrt(q_out))
        w[f"{layer}.mlp.gate_proj.weight"] = _normal(rng, (inter, h), 1 / math.sqrt(h))
        w[f"{layer}.mlp.up_proj.weight"] = _normal(rng, (inter, h), 1 / math.sqrt(h))
        w[f"{layer}.mlp.down_proj.weight"] = _normal(rng, (h, inter), 1 / math.sqrt(inter))
    w["model.norm.weight"] = np.ones(h, np.float32)
    return w


def decoder_embedding_files(seed: int = 0) -> dict[str, bytes]:
    """Every file of a tiny last-token-pooling decoder embedding model, by name."""
    tokenizer = train_tokenizer(DECODER_VOCAB)
    eos_id = SPECIAL_TOKENS.index(EOS)
    tokenizer.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"$A {EOS}", pair=f"$A {EOS} $B:1 {EOS}:1", special_tokens=[(EOS, eos_id)]
            ),
        ]
    )
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": BOS,
        "eos_token": EOS,
        "pad_token": PAD,
        "padding_side": "left",
        "model_max_length": DECODER_MAX_POSITIONS,
        "clean_up_tokenization_spaces": False,
    }
    files = {
        "config.json": _json_bytes(decoder_config(tokenizer.get_vocab_size())),
        "model.safetensors": save_safetensors(
            decoder_weights(tokenizer.get_vocab_size(), seed), metadata={"format": "pt"}
        ),
        "tokenizer.json": tokenizer.to_str(pretty=True).encode(),
        "tokenizer_config.json": _json_bytes(tokenizer_config),
        "special_tokens_map.json": _json_bytes(
            {"bos_token": BOS, "eos_token": EOS, "pad_token": PAD}
        ),
    }
    files.update(
        sentence_transformers_files(
            DECODER_HIDDEN,
            pooling="lasttoken",
            normalize=True,
            max_seq_length=DECODER_MAX_POSITIONS,
        )
    )
    return files


# --------------------------------------------------------------------------------------------
# Vision-language model (Qwen2-VL shape)

VL_SPECIALS = (
    "<|endoftext|>",
    "<|im_start|>",
    "<|im_end|>",
    "<|vision_start|>",
    "<|vision_end|>",
    "<|image_pad|>",
    "<|video_pad|>",
)
VL_VOCAB = 600
VL_HIDDEN = 64
VL_LAYERS = 2
VL_HEADS = 4
VL_KV_HEADS = 2
VISION_DIM = 32
VISION_DEPTH = 2
VISION_HEADS = 2
PATCH = 14
MERGE = 2
TEMPORAL_PATCH = 2
VL_MIN_PIXELS = (PATCH * MERGE) ** 2  # one merged token
VL_MAX_PIXELS = (PATCH * MERGE * 4) ** 2  # 112 x 112: at most 16 merged tokens

VL_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' }}"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'image' or part['type'] == 'image_url' %}"
    "{{ '<|vision_start|><|image_pad|><|vision_end|>' }}"
    "{% elif part['type'] == 'text' %}{{ part['text'] }}{% endif %}"
    "{% endfor %}{% endif %}"
    "{{ '<|im_end|>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def train_vl_tokenizer(vocab_size: int = VL_VOCAB) -> Tokenizer:
    """A byte-level BPE tokenizer with Qwen2-VL's chat and vision special tokens first."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(VL_SPECIALS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(english_corpus(vocab_size), trainer)
    tokenizer.post_processor = processors.ByteLevel(trim_offsets=False)
    return tokenizer


def vision_config(vocab_size: int) -> dict[str, Any]:
    head_dim = VL_HIDDEN // VL_HEADS
    ids = {token: VL_SPECIALS.index(token) for token in VL_SPECIALS}
    return {
        "architectures": ["Qwen2VLForConditionalGeneration"],
        "model_type": "qwen2_vl",
        "hidden_size": VL_HIDDEN,
        "intermediate_size": VL_HIDDEN * 2,
        "num_attention_heads": VL_HEADS,
        "num_key_value_heads": VL_KV_HEADS,
        "num_hidden_layers": VL_LAYERS,
        "hidden_act": "silu",
        "max_position_embeddings": 2048,
        "rms_norm_eps": 1e-6,
        "rope_theta": 1000000.0,
        "rope_scaling": {
            "type": "mrope",
            "mrope_section": [head_dim // 4, head_dim // 8, head_dim // 8],
        },
        "tie_word_embeddings": False,
        "vocab_size": vocab_size,
        "bos_token_id": ids["<|endoftext|>"],
        "eos_token_id": ids["<|im_end|>"],
        "image_token_id": ids["<|image_pad|>"],
        "video_token_id": ids["<|video_pad|>"],
        "vision_start_token_id": ids["<|vision_start|>"],
        "vision_end_token_id": ids["<|vision_end|>"],
        "torch_dtype": "float32",
        "vision_config": {
            "depth": VISION_DEPTH,
            "embed_dim": VISION_DIM,
            "hidden_size": VL_HIDDEN,
            "num_heads": VISION_HEADS,
            "mlp_ratio": 2,
            "in_chans": 3,
            "patch_size": PATCH,
            "spatial_patch_size": PATCH,
            "spatial_merge_size": MERGE,
            "temporal_patch_size": TEMPORAL_PATCH,
            "hidden_act": "quick_gelu",
        },
    }


def vision_weights(vocab_size: int, seed: int, silent_ids: Sequence[int]) -> dict[str, Any]:
    """Random weights named as in a Hugging Face Qwen2-VL checkpoint (``visual.*``,
    ``model.*``, ``lm_head``); the output rows of ``silent_ids`` are zero."""
    rng = np.random.default_rng(seed)
    w: dict[str, npt.NDArray[Any]] = {}

    def linear(name: str, out: int, inp: int, bias: bool = True) -> None:
        w[f"{name}.weight"] = _normal(rng, (out, inp), 1 / math.sqrt(inp))
        if bias:
            w[f"{name}.bias"] = np.zeros(out, np.float32)

    def norm(name: str, size: int, bias: bool = True) -> None:
        w[f"{name}.weight"] = np.ones(size, np.float32)
        if bias:
            w[f"{name}.bias"] = np.zeros(size, np.float32)

    e, merged = VISION_DIM, VISION_DIM * MERGE * MERGE
    w["visual.patch_embed.proj.weight"] = _normal(rng, (e, 3, TEMPORAL_PATCH, PATCH, PATCH), 0.02)
    for i in range(VISION_DEPTH):
        block = f"visual.blocks.{i}"
        norm(f"{block}.norm1", e)
        norm(f"{block}.norm2", e)
        linear(f"{block}.attn.qkv", 3 * e, e)
        linear(f"{block}.attn.proj", e, e)
        linear(f"{block}.mlp.fc1", 2 * e, e)
        linear(f"{block}.mlp.fc2", e, 2 * e)
    norm("visual.merger.ln_q", e)
    linear("visual.merger.mlp.0", merged, merged)
    linear("visual.merger.mlp.2", VL_HIDDEN, merged)

    h, head_dim = VL_HIDDEN, VL_HIDDEN // VL_HEADS
    w["model.embed_tokens.weight"] = _normal(rng, (vocab_size, h), 1.0)
    for i in range(VL_LAYERS):
        layer = f"model.layers.{i}"
        linear(f"{layer}.self_attn.q_proj", VL_HEADS * head_dim, h)
        linear(f"{layer}.self_attn.k_proj", VL_KV_HEADS * head_dim, h)
        linear(f"{layer}.self_attn.v_proj", VL_KV_HEADS * head_dim, h)
        linear(f"{layer}.self_attn.o_proj", h, VL_HEADS * head_dim, bias=False)
        linear(f"{layer}.mlp.gate_proj", 2 * h, h, bias=False)
        linear(f"{layer}.mlp.up_proj", 2 * h, h, bias=False)
        linear(f"{layer}.mlp.down_proj", h, 2 * h, bias=False)
        norm(f"{layer}.input_layernorm", h, bias=False)
        norm(f"{layer}.post_attention_layernorm", h, bias=False)
    norm("model.norm", h, bias=False)
    head = _normal(rng, (vocab_size, h), 2.0 / math.sqrt(h))
    head[list(silent_ids)] = 0
    w["lm_head.weight"] = head
    return w


def vision_files(seed: int = 0) -> dict[str, bytes]:
    """Every file of a tiny Qwen2-VL-shaped vision-language model, by name."""
    tokenizer = train_vl_tokenizer()
    vocab = tokenizer.get_vocab_size()
    ids = {token: VL_SPECIALS.index(token) for token in VL_SPECIALS}
    tokenizer_config = {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": None,
        "eos_token": "<|im_end|>",
        "pad_token": "<|endoftext|>",
        "additional_special_tokens": list(VL_SPECIALS[1:]),
        "model_max_length": 2048,
        "clean_up_tokenization_spaces": False,
        "chat_template": VL_CHAT_TEMPLATE,
        "added_tokens_decoder": {
            str(i): {
                "content": token,
                "lstrip": False,
                "normalized": False,
                "rstrip": False,
                "single_word": False,
                "special": True,
            }
            for token, i in ids.items()
        },
    }
    preprocessor = {
        "image_processor_type": "Qwen2VLImageProcessor",
        "processor_class": "Qwen2VLProcessor",
        "do_resize": True,
        "do_rescale": True,
        "do_normalize": True,
        "do_convert_rgb": True,
        "rescale_factor": 1 / 255,
        "image_mean": [0.48145466, 0.4578275, 0.40821073],
        "image_std": [0.26862954, 0.26130258, 0.27577711],
        "min_pixels": VL_MIN_PIXELS,
        "max_pixels": VL_MAX_PIXELS,
        "patch_size": PATCH,
        "temporal_patch_size": TEMPORAL_PATCH,
        "merge_size": MERGE,
    }
    weights = vision_weights(vocab, seed, silent_ids=list(ids.values()))
    return {
        "config.json": _json_bytes(vision_config(vocab)),
        "model.safetensors": save_safetensors(weights, metadata={"format": "pt"}),
        "tokenizer.json": tokenizer.to_str(pretty=True).encode(),
        "tokenizer_config.json": _json_bytes(tokenizer_config),
        "special_tokens_map.json": _json_bytes(
            {"eos_token": "<|im_end|>", "pad_token": "<|endoftext|>"}
        ),
        "preprocessor_config.json": _json_bytes(preprocessor),
        "generation_config.json": _json_bytes(
            {"eos_token_id": ids["<|im_end|>"], "pad_token_id": ids["<|endoftext|>"]}
        ),
    }


# --------------------------------------------------------------------------------------------
# Writing


def write_files(dest: Path, files: dict[str, bytes]) -> Path:
    """Write ``files`` as a plain model folder at ``dest`` and return it."""
    dest = Path(dest)
    for name, data in files.items():
        path = dest / name
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    return dest


MAKERS = {
    "bert-embedding": bert_embedding_files,
    "decoder-embedding": decoder_embedding_files,
    "vision": vision_files,
}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m modelyard_dev.tiny_multimodal",
        description="Make a tiny random-weight embedding or vision-language model, offline.",
    )
    parser.add_argument("kind", choices=list(MAKERS))
    parser.add_argument("--repo-id", default=None, help="org/name in the cache")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--shape", default="tiny", choices=list(ENCODER_SHAPES), help="bert-embedding only"
    )
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--cache-dir", type=Path, help="hub cache (default: HF_HUB_CACHE)")
    where.add_argument("--out", type=Path, help="write a plain folder here instead")
    args = parser.parse_args(argv)
    if args.kind == "bert-embedding":
        files = bert_embedding_files(args.seed, shape=ENCODER_SHAPES[args.shape])
    else:
        files = MAKERS[args.kind](args.seed)
    if args.out is not None:
        path = write_files(args.out, files)
    else:
        from huggingface_hub import constants

        cache_dir = args.cache_dir or Path(constants.HF_HUB_CACHE)
        repo_id = args.repo_id or f"modelyard/tiny-{args.kind}"
        path = install_files_in_cache(cache_dir, repo_id, files)
    print(path)


if __name__ == "__main__":
    main()
