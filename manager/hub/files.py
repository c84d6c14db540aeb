"""A repository's files: weights formats, pickle flags, and what to download. Pure.

Selections answer "what do I download, and how big is it?":

- **GGUF**: one selection per quant (``Q4_K_M``...). A model split into parts
  (``name-00001-of-00003.gguf``) is one selection whose size is the sum of its parts.
  Multimodal projectors (``mmproj-*.gguf``) are a selection of their own.
- **Safetensors** (``mlx`` for MLX repositories): every file but GGUF files, pickle weights,
  weights for other runtimes (ONNX, TF, Flax...) and ``consolidated*.safetensors`` when
  ``model*.safetensors`` shards exist (Mistral ships both, with the same weights).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from dataclasses import dataclass

from manager.hub.quant import parse_gguf_quant
from manager.hub.schemas import DownloadSelection, HubFile, SelectionFormat, WeightsFormat

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
OTHER_RUNTIME_SUFFIXES = (
    ".onnx",
    ".onnx_data",
    ".h5",
    ".msgpack",
    ".tflite",
    ".ot",
    ".mlmodel",
    ".pb",
    ".nemo",
)
_SPLIT = re.compile(r"-(?P<part>\d{5})-of-(?P<total>\d{5})\.gguf$", re.IGNORECASE)


@dataclass(frozen=True)
class RepoFile:
    """A file as the Hub lists it (``siblings`` with ``blobs=true``)."""

    path: str
    size: int | None = None
    sha256: str | None = None
    lfs: bool = False


def weights_format(path: str) -> WeightsFormat | None:
    lower = path.lower()
    if lower.endswith(".safetensors"):
        return "safetensors"
    if lower.endswith(".gguf"):
        return "gguf"
    if lower.endswith(PICKLE_SUFFIXES):
        return "pickle"
    return None


def is_unsafe(path: str) -> bool:
    """Pickle-based files can run code when loaded."""
    return weights_format(path) == "pickle"


def hub_file(file: RepoFile) -> HubFile:
    fmt = weights_format(file.path)
    return HubFile(
        path=file.path,
        size=file.size,
        sha256=file.sha256,
        lfs=file.lfs,
        weights_format=fmt,
        unsafe_format=fmt == "pickle",
    )


def gguf_group(path: str) -> str:
    """The model a GGUF file belongs to: its path without the split suffix."""
    match = _SPLIT.search(path)
    return path[: match.start()] + ".gguf" if match else path


def _is_mmproj(path: str) -> bool:
    return posixpath.basename(path).lower().startswith("mmproj")


def _total(files: Iterable[RepoFile]) -> int:
    return sum(f.size or 0 for f in files)


def gguf_selections(files: Iterable[RepoFile]) -> list[DownloadSelection]:
    """One selection per GGUF model (split parts together), projectors apart; by quant bits."""
    groups: dict[str, list[RepoFile]] = {}
    for file in files:
        if weights_format(file.path) == "gguf":
            groups.setdefault(gguf_group(file.path), []).append(file)
    out: list[DownloadSelection] = []
    for key, members in groups.items():
        members.sort(key=lambda f: f.path)
        quant = parse_gguf_quant(key)
        if _is_mmproj(key):
            name = posixpath.basename(key).removesuffix(".gguf")
        else:
            name = quant.label if quant else posixpath.basename(key).removesuffix(".gguf")
        out.append(
            DownloadSelection(
                name=name,
                format="gguf",
                quant=quant,
                files=[f.path for f in members],
                size=_total(members),
            )
        )
    names = [s.name for s in out]
    for selection in out:
        if names.count(selection.name) > 1:  # the same quant twice: name them by file
            selection.name = posixpath.basename(gguf_group(selection.files[0]))
    out.sort(
        key=lambda s: (
            _is_mmproj(s.files[0]),
            s.quant is None or s.quant.bits is None,
            s.quant.bits if s.quant and s.quant.bits else 0,
            s.name,
        )
    )
    return out


def _weights_files(files: list[RepoFile]) -> list[RepoFile]:
    paths = [f.path for f in files]
    has_shards = any(
        posixpath.basename(p).startswith("model") and p.endswith(".safetensors") for p in paths
    )
    keep = []
    for file in files:
        lower = file.path.lower()
        base = posixpath.basename(lower)
        if weights_format(lower) in ("gguf", "pickle") or lower.endswith(OTHER_RUNTIME_SUFFIXES):
            continue
        if has_shards and base.startswith("consolidated") and base.endswith(".safetensors"):
            continue
        keep.append(file)
    return keep


def safetensors_selection(files: list[RepoFile], *, mlx: bool) -> DownloadSelection | None:
    """The safetensors model (config, tokenizer, weights), or None without safetensors."""
    if not any(weights_format(f.path) == "safetensors" for f in files):
        return None
    keep = _weights_files(files)
    fmt: SelectionFormat = "mlx" if mlx else "safetensors"
    return DownloadSelection(
        name=fmt, format=fmt, files=[f.path for f in keep], size=_total(keep), quant=None
    )


def selections(files: list[RepoFile], *, mlx: bool) -> list[DownloadSelection]:
    out = []
    weights = safetensors_selection(files, mlx=mlx)
    if weights is not None:
        out.append(weights)
    out.extend(gguf_selections(files))
    return out
