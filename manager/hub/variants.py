"""Quantized variants of a base model: the Hub queries, and listings → ranked variants. Pure.

The Hub links a quantized repository to its base through the ``base_model:quantized:{id}``
tag, where ``{id}`` is the base's canonical id (case-sensitive), so the base is looked up first
and its canonical spelling used. When no repository declares the base, a name search on the
base's name stands in (``match: "name"``).

An MLX repository is one variant (its quant from the listing's ``quantization`` block, else its
name). A GGUF repository usually holds many quants: one variant per quant, split parts summed.
Ranked by nominal bits (smallest first, unknown last), then quant label, then most downloaded.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from typing import Any

from manager.hub.details import repo_files
from manager.hub.files import gguf_selections, safetensors_selection
from manager.hub.quant import parse_gguf_quant, parse_mlx_quant, quant_from_config
from manager.hub.schemas import HubVariant, VariantFormat
from manager.hub.search import SEARCH_EXPAND, parse_datetime

VARIANT_EXPAND = tuple(p for p in SEARCH_EXPAND if p not in ("pipeline_tag", "author"))


def variants_query(base_id: str, fmt: VariantFormat, limit: int) -> list[tuple[str, str]]:
    """``GET /api/models`` parameters for the ``fmt`` repositories quantized from ``base_id``."""
    return [
        ("filter", f"base_model:quantized:{base_id}"),
        ("filter", fmt),
        ("sort", "downloads"),
        ("limit", str(limit)),
        *(("expand", prop) for prop in VARIANT_EXPAND),
    ]


def name_query(base_id: str, fmt: VariantFormat, limit: int) -> list[tuple[str, str]]:
    """The fallback: repositories in ``fmt`` whose id contains the base's name."""
    return [
        ("search", base_id.split("/")[-1]),
        ("filter", fmt),
        ("sort", "downloads"),
        ("limit", str(limit)),
        *(("expand", prop) for prop in VARIANT_EXPAND),
    ]


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def variants_of(
    item: Mapping[str, Any], info: Mapping[str, Any] | None, fmt: VariantFormat
) -> list[HubVariant]:
    """The variants one listed repository offers; ``info`` (with ``blobs``) gives files and
    sizes, without it only what the listing says (no files, no size)."""
    repo_id = str(item["id"])
    common: dict[str, Any] = {
        "id": repo_id,
        "format": fmt,
        "downloads": _int(item.get("downloads")),
        "likes": _int(item.get("likes")),
        "last_modified": parse_datetime(item.get("lastModified")),
    }
    name = posixpath.basename(repo_id)
    files = repo_files(info) if info is not None else []
    if fmt == "mlx":
        quant = quant_from_config(item.get("config")) or parse_mlx_quant(name)
        selection = safetensors_selection(files, mlx=True) if files else None
        if selection is None:
            return [HubVariant(**common, quant=quant)]
        return [HubVariant(**common, quant=quant, files=selection.files, size=selection.size)]
    groups = [s for s in gguf_selections(files) if not s.name.lower().startswith("mmproj")]
    if not groups:
        return [HubVariant(**common, quant=parse_gguf_quant(name))]
    return [
        HubVariant(**common, quant=group.quant, files=group.files, size=group.size)
        for group in groups
    ]


def rank(variants: list[HubVariant]) -> list[HubVariant]:
    def key(v: HubVariant) -> tuple[bool, int, str, int, str]:
        bits = v.quant.bits if v.quant is not None else None
        label = v.quant.label if v.quant is not None else ""
        return (bits is None, bits or 0, label, -v.downloads, v.id)

    return sorted(variants, key=key)
