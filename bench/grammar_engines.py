"""Per-token cost of three grammar engines on a batch of 8 JSON-schema generations.

For each engine that is installed (``llguidance``, ``xgrammar``, ``outlines-core``) and each
tokenizer (the tiny model's 512-token vocabulary and the bench model's 8,192), it compiles one
schema (cold), then runs 8 matchers side by side: each step computes the 8 token masks into
one int32 bitmask (the format all three write), picks an allowed token per sequence at random
(seeded) and advances the matchers, until every sequence is finished. It prints the compile
time, the mask and advance time per token, and what applying the bitmask to a row of MLX
logits costs (the same for every engine). One JSON line.

    python bench/grammar_engines.py [--seeds 5]

``xgrammar`` needs ``torch`` (its bitmasks are torch tensors); it is measured when both are
importable (``PYTHONPATH`` may point at a separate install).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import emit, median
from modelyard_dev.tiny_model import preset, write_model

BATCH = 8
MAX_STEPS = 200
SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 24},
        "age": {"type": "integer", "minimum": 0, "maximum": 120},
        "tags": {
            "type": "array",
            "items": {"enum": ["red", "green", "blue"]},
            "maxItems": 3,
        },
        "active": {"type": "boolean"},
    },
    "required": ["name", "age", "tags", "active"],
    "additionalProperties": False,
}


def _load_tokenizer(shape: str, root: Path) -> Any:
    from transformers import AutoTokenizer

    folder = write_model(root / shape, preset(shape))
    return AutoTokenizer.from_pretrained(folder)


def _byte_decoder() -> dict[str, int]:
    """GPT-2's byte-level alphabet back to bytes."""
    bs = list(range(ord("!"), ord("~") + 1))
    bs += list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs, strict=True)}


def _allowed(mask_row: np.ndarray, vocab: int) -> list[int]:
    bits = np.unpackbits(mask_row.view(np.uint8), bitorder="little")[:vocab]
    return [int(i) for i in np.flatnonzero(bits)]


class Engine:
    """compile() -> a factory of matchers; each matcher: fill(bitmask, row), advance(token),
    done()."""

    name = ""

    def __init__(self, hf: Any, vocab: int) -> None:
        self.hf = hf
        self.vocab = vocab

    def compile(self, schema: str) -> Callable[[], Any]:
        raise NotImplementedError


class LLGuidance(Engine):
    """One mask at a time, as the server's per-sequence logits processors compute them."""

    name = "llguidance"
    parallel = False

    def __init__(self, hf: Any, vocab: int) -> None:
        super().__init__(hf, vocab)
        import llguidance
        import llguidance.hf

        self.ll = llguidance
        self.tokenizer = llguidance.hf.from_tokenizer(hf, n_vocab=vocab)
        self.executor = llguidance.LLExecutor()

    def compile(self, schema: str) -> Callable[[], Any]:
        ll = self.ll
        grammar = ll.LLMatcher.grammar_from_json_schema(
            schema, defaults={"whitespace_flexible": False}
        )
        pristine = ll.LLMatcher(self.tokenizer, grammar)
        assert not pristine.is_error(), pristine.get_error()
        engine = self

        class M:
            def __init__(self) -> None:
                self.m = pristine.deep_copy()

            def fill(self, bitmask: np.ndarray, row: int) -> None:
                from llguidance.numpy import fill_next_token_bitmask

                fill_next_token_bitmask(self.m, bitmask, row)

            def advance(self, token: int) -> None:
                assert self.m.consume_token(token), self.m.get_error()

            def done(self) -> bool:
                return bool(self.m.is_stopped())

        if not self.parallel:
            return M

        class Parallel(M):
            @staticmethod
            def fill_batch(matchers: list[Any], bitmask: np.ndarray) -> None:
                from llguidance.numpy import fill_next_token_bitmask_par

                fill_next_token_bitmask_par(
                    engine.executor, [(m.m, i) for i, m in matchers], bitmask
                )

        return Parallel


class LLGuidanceParallel(LLGuidance):
    """The 8 masks of a step computed in one call, on llguidance's own threads."""

    name = "llguidance_parallel"
    parallel = True


class XGrammar(Engine):
    name = "xgrammar"

    def __init__(self, hf: Any, vocab: int) -> None:
        super().__init__(hf, vocab)
        import torch
        import xgrammar

        self.xgr = xgrammar
        self.torch = torch
        info = xgrammar.TokenizerInfo.from_huggingface(hf, vocab_size=vocab)
        self.compiler = xgrammar.GrammarCompiler(info, cache_enabled=False)

    def compile(self, schema: str) -> Callable[[], Any]:
        compiled = self.compiler.compile_json_schema(schema, any_whitespace=False)
        xgr, torch = self.xgr, self.torch
        vocab = self.vocab

        class M:
            def __init__(self) -> None:
                self.m = xgr.GrammarMatcher(compiled)
                self.t = xgr.allocate_token_bitmask(1, vocab)

            def fill(self, bitmask: np.ndarray, row: int) -> None:
                self.m.fill_next_token_bitmask(self.t, 0)
                bitmask[row] = self.t[0].numpy()

            def advance(self, token: int) -> None:
                assert self.m.accept_token(token)

            def done(self) -> bool:
                return bool(self.m.is_terminated())

        del torch
        return M


class OutlinesCore(Engine):
    name = "outlines-core"

    def __init__(self, hf: Any, vocab: int) -> None:
        super().__init__(hf, vocab)
        import outlines_core

        self.oc = outlines_core
        decode = _byte_decoder()
        eos = hf.eos_token_id
        tokens: dict[bytes, list[int]] = {}
        special = set(hf.all_special_ids)
        for text, token_id in hf.get_vocab().items():
            if token_id in special or token_id >= vocab:
                continue
            raw = bytes(decode[c] for c in text)
            tokens.setdefault(raw, []).append(token_id)
        self.vocabulary = outlines_core.Vocabulary(eos, tokens)
        self.eos = eos

    def compile(self, schema: str) -> Callable[[], Any]:
        from outlines_core.json_schema import build_regex_from_schema

        regex = build_regex_from_schema(schema, whitespace_pattern="")
        index = self.oc.Index(regex, self.vocabulary)
        oc = self.oc

        class M:
            def __init__(self) -> None:
                self.g = oc.Guide(index)
                self.finished = False

            def fill(self, bitmask: np.ndarray, row: int) -> None:
                view = bitmask[row]
                self.g.write_mask_into(view.ctypes.data, view.size, 4)

            def advance(self, token: int) -> None:
                self.g.advance(token)

            def done(self) -> bool:
                return bool(self.g.is_finished())

        return M


ENGINES: list[type[Engine]] = [LLGuidance, LLGuidanceParallel, XGrammar, OutlinesCore]


def run_batch(factory: Callable[[], Any], vocab: int, eos: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    matchers = [factory() for _ in range(BATCH)]
    words = (vocab + 31) // 32
    bitmask = np.zeros((BATCH, words), dtype=np.int32)
    mask_s = advance_s = 0.0
    tokens = 0
    outputs: list[list[int]] = [[] for _ in range(BATCH)]
    for _ in range(MAX_STEPS):
        live = [(i, m) for i, m in enumerate(matchers) if not m.done()]
        if not live:
            break
        started = time.perf_counter()
        if hasattr(live[0][1], "fill_batch"):
            live[0][1].fill_batch(live, bitmask)
        else:
            for i, m in live:
                m.fill(bitmask, i)
        mask_s += time.perf_counter() - started
        for i, m in live:
            allowed = _allowed(bitmask[i], vocab)
            # Finish when the grammar allows it half of the time, so outputs stay short.
            token = eos if eos in allowed and rng.random() < 0.5 else rng.choice(allowed)
            started = time.perf_counter()
            m.advance(token)
            advance_s += time.perf_counter() - started
            tokens += 1
            if token != eos:
                outputs[i].append(token)
    return {"mask_s": mask_s, "advance_s": advance_s, "tokens": tokens, "outputs": outputs}


def apply_cost(vocab: int, rounds: int = 200) -> float:
    """Microseconds to apply one bitmask row to one row of MLX logits."""
    import mlx.core as mx

    from inference_server.generation.grammar import apply_bitmask

    logits = mx.random.normal((1, vocab))
    bitmask = np.full((1, (vocab + 31) // 32), 0x55555555, dtype=np.int32)
    mx.eval(apply_bitmask(logits, bitmask))
    started = time.perf_counter()
    for _ in range(rounds):
        mx.eval(apply_bitmask(logits, bitmask))
    return (time.perf_counter() - started) / rounds * 1e6


def measure(engine_cls: type[Engine], hf: Any, vocab: int, seeds: int) -> dict[str, Any]:
    try:
        started = time.perf_counter()
        engine = engine_cls(hf, vocab)
        setup_ms = (time.perf_counter() - started) * 1000
    except ImportError as exc:
        return {"available": False, "why": str(exc)[:200]}
    schema = json.dumps(SCHEMA)
    started = time.perf_counter()
    factory = engine.compile(schema)
    compile_ms = (time.perf_counter() - started) * 1000
    per_token_us: list[float] = []
    mask_us: list[float] = []
    valid = total = 0
    import jsonschema

    for seed in range(seeds):
        r = run_batch(factory, vocab, hf.eos_token_id, seed)
        per_token_us.append((r["mask_s"] + r["advance_s"]) / r["tokens"] * 1e6)
        mask_us.append(r["mask_s"] / r["tokens"] * 1e6)
        for out in r["outputs"]:
            total += 1
            try:
                jsonschema.validate(json.loads(hf.decode(out)), SCHEMA)
                valid += 1
            except (ValueError, jsonschema.ValidationError):
                pass
    return {
        "available": True,
        "tokenizer_setup_ms": round(setup_ms, 1),
        "compile_ms": round(compile_ms, 2),
        "per_token_us": round(median(per_token_us), 1),
        "mask_per_token_us": round(median(mask_us), 1),
        "valid": f"{valid}/{total}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seeds", type=int, default=5)
    args = parser.parse_args()
    result: dict[str, Any] = {"benchmark": "grammar_engines", "batch": BATCH}
    with tempfile.TemporaryDirectory() as tmp:
        for shape in ("tiny", "bench"):
            hf = _load_tokenizer(shape, Path(tmp))
            vocab = preset(shape).vocab_size
            entry: dict[str, Any] = {
                "vocab": vocab,
                "apply_bitmask_us": round(apply_cost(vocab), 1),
            }
            for engine_cls in ENGINES:
                entry[engine_cls.name] = measure(engine_cls, hf, vocab, args.seeds)
            result[shape] = entry
    emit(result)


if __name__ == "__main__":
    main()
