"""A model's details from the Hub's description of it, its config.json and its card. Pure."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from manager.characteristics import extract_characteristics
from manager.hub.card import base_models_of, card_summary, license_of
from manager.hub.files import RepoFile, hub_file, is_unsafe, selections
from manager.hub.quant import parse_mlx_quant, quant_from_config
from manager.hub.schemas import ConfigStatus, HubModelDetails
from manager.hub.search import parse_datetime, quant_badge


@dataclass(frozen=True)
class ConfigRead:
    """The outcome of reading a config.json: ``value`` is set when ``status`` is ok."""

    status: ConfigStatus
    value: dict[str, Any] | None = None
    revision: str | None = None


def parse_config(data: bytes, revision: str | None) -> ConfigRead:
    try:
        value = json.loads(data)
    except ValueError:
        return ConfigRead("invalid", revision=revision)
    if not isinstance(value, dict):
        return ConfigRead("invalid", revision=revision)
    return ConfigRead("ok", value, revision)


def repo_files(info: Mapping[str, Any]) -> list[RepoFile]:
    """The ``siblings`` of a model description (``blobs=true`` adds sizes and LFS hashes)."""
    siblings = info.get("siblings")
    out: list[RepoFile] = []
    for sibling in siblings if isinstance(siblings, list) else []:
        if not isinstance(sibling, Mapping) or not isinstance(sibling.get("rfilename"), str):
            continue
        lfs = sibling.get("lfs")
        lfs = lfs if isinstance(lfs, Mapping) else None
        size = sibling.get("size")
        if lfs is not None and not isinstance(size, int):
            size = lfs.get("size")
        sha256 = lfs.get("sha256") if lfs is not None else None
        out.append(
            RepoFile(
                path=sibling["rfilename"],
                size=size if isinstance(size, int) and not isinstance(size, bool) else None,
                sha256=sha256 if isinstance(sha256, str) else None,
                lfs=lfs is not None,
            )
        )
    return out


def has_file(info: Mapping[str, Any], path: str) -> bool | None:
    """Whether the description lists ``path``; None when it lists no files at all."""
    siblings = info.get("siblings")
    if not isinstance(siblings, list):
        return None
    return any(isinstance(s, Mapping) and s.get("rfilename") == path for s in siblings)


def _tags(info: Mapping[str, Any]) -> list[str]:
    tags = info.get("tags")
    return [t for t in tags if isinstance(t, str)] if isinstance(tags, list) else []


def is_mlx_repo(info: Mapping[str, Any]) -> bool:
    return info.get("library_name") == "mlx" or "mlx" in _tags(info)


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def build_details(
    info: Mapping[str, Any], config: ConfigRead, readme: str | None, *, stale: bool = False
) -> HubModelDetails:
    repo_id = str(info["id"])
    tags = _tags(info)
    card = info.get("cardData")
    card = card if isinstance(card, Mapping) else None
    files = repo_files(info)
    mlx = is_mlx_repo(info)
    chosen = selections(files, mlx=mlx)
    weights_quant = quant_from_config(config.value) or parse_mlx_quant(repo_id.split("/")[-1])
    for selection in chosen:
        if selection.format != "gguf":
            selection.quant = weights_quant
    ch = extract_characteristics(config.value) if config.value is not None else None
    if ch is not None:
        badges = list(ch.badges)
    elif weights_quant is not None and any(s.format != "gguf" for s in chosen):
        badges = [quant_badge(weights_quant)]
    else:
        badges = []
    gated = info.get("gated")
    return HubModelDetails(
        id=repo_id,
        author=_str(info.get("author")) or (repo_id.split("/")[0] if "/" in repo_id else None),
        sha=_str(info.get("sha")),
        last_modified=parse_datetime(info.get("lastModified")),
        downloads=_int(info.get("downloads")),
        likes=_int(info.get("likes")),
        tags=tags,
        library_name=_str(info.get("library_name")),
        pipeline_tag=_str(info.get("pipeline_tag")),
        license=license_of(card, tags),
        gated=bool(gated),
        gated_mode=gated if gated in ("auto", "manual") else None,
        base_models=base_models_of(card, tags),
        card_summary=card_summary(readme) if readme else None,
        files=[hub_file(f) for f in files],
        total_size=sum(f.size or 0 for f in files),
        selections=chosen,
        config_status=config.status,
        characteristics=ch,
        badges=badges,
        unsafe_format=any(is_unsafe(f.path) for f in files),
        stale=stale,
    )
