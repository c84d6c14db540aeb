"""The GGUF header: metadata read, invalid files refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from manager.library.gguf_header import (
    InvalidGGUFError,
    gguf_characteristics,
    read_gguf_header,
)
from tests.manager.library.conftest import write_gguf


def test_header_metadata(tmp_path: Path) -> None:
    path = write_gguf(tmp_path / "m.gguf", arch="qwen2", context=32768, file_type=15, tensors=3)

    header = read_gguf_header(path)

    assert header.version == 3
    assert header.architecture == "qwen2"
    assert header.name == "Tiny GGUF"
    assert header.context_length == 32768
    assert header.block_count == 2
    assert header.embedding_length == 64
    assert header.head_count == 4
    assert header.head_count_kv == 2
    assert header.vocab_size == 4
    assert header.quantization == "Q4_K_M"
    assert header.quantization_bits == 4
    assert header.parameter_count == 3 * 8 * 16
    assert header.tensor_count == 3

    ch = gguf_characteristics(header)
    assert ch.architecture_family == "Qwen"
    assert ch.context_length == 32768
    assert ch.num_key_value_heads == 2
    assert ch.quantization_method == "gguf Q4_K_M"
    assert "4-bit" in ch.badges
    assert "Qwen" in ch.badges


def test_float_file_type_is_not_quantized(tmp_path: Path) -> None:
    header = read_gguf_header(write_gguf(tmp_path / "f16.gguf", file_type=1))
    ch = gguf_characteristics(header)
    assert header.quantization == "F16"
    assert ch.quantization_bits is None
    assert ch.torch_dtype == "float16"


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"GGML" + b"\0" * 60,
        b"PK\x03\x04 this is a zip",
        b"GGUF",  # magic, then nothing
        b"GGUF\x03\0\0\0" + b"\xff" * 16,  # absurd tensor and key counts
        b"GGUF\x63\0\0\0" + b"\0" * 16,  # unknown version 99
    ],
    ids=["empty", "ggml", "zip", "magic-only", "absurd-counts", "bad-version"],
)
def test_invalid_files_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.gguf"
    path.write_bytes(content)
    with pytest.raises(InvalidGGUFError):
        read_gguf_header(path)


def test_truncated_file_is_refused(tmp_path: Path) -> None:
    good = write_gguf(tmp_path / "good.gguf").read_bytes()
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(good[:60])
    with pytest.raises(InvalidGGUFError):
        read_gguf_header(cut)
