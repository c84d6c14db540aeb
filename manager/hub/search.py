"""Hub search: request building, cursors, and listing items → results. Pure.

The Hub pages its model list with ``Link: <...>; rel="next"``. A cursor is the query string of
that next link, base64url-encoded: opaque to clients, and only ever sent back to the
configured Hub's ``/api/models`` (never to the host named in the link).
"""

from __future__ import annotations

import base64
import binascii
import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from pydantic import TypeAdapter, ValidationError

from manager.characteristics import extract_characteristics
from manager.errors import BadRequestError
from manager.hub.quant import parse_quant, quant_from_config
from manager.hub.schemas import HubLibrary, HubSearchResult, HubSort, QuantLevel
from shared_schemas.characteristics import ModelCharacteristics

MAX_CURSOR = 4096

#: Our sort names → the Hub's (each sorts in descending order).
HUB_SORT: dict[str, str] = {
    "downloads": "downloads",
    "likes": "likes",
    "trending": "trendingScore",
    "lastModified": "lastModified",
}

#: What each listing item carries (``config`` holds a few keys of config.json).
SEARCH_EXPAND = (
    "author",
    "downloads",
    "likes",
    "lastModified",
    "tags",
    "library_name",
    "pipeline_tag",
    "gated",
    "config",
    "sha",
)

_DATETIME: TypeAdapter[datetime] = TypeAdapter(datetime)


@dataclass(frozen=True)
class SearchQuery:
    q: str | None = None
    author: str | None = None
    library: HubLibrary | None = None
    pipeline_tag: str | None = None
    sort: HubSort = "downloads"
    limit: int = 20


def hub_query(query: SearchQuery, expand: tuple[str, ...] = SEARCH_EXPAND) -> list[tuple[str, str]]:
    """The ``GET /api/models`` parameters for a first page."""
    params: list[tuple[str, str]] = []
    if query.q:
        params.append(("search", query.q))
    if query.author:
        params.append(("author", query.author))
    if query.library:
        params.append(("filter", query.library))
    if query.pipeline_tag:
        params.append(("pipeline_tag", query.pipeline_tag))
    params.append(("sort", HUB_SORT[query.sort]))
    params.append(("limit", str(query.limit)))
    params.extend(("expand", prop) for prop in expand)
    return params


def encode_cursor(next_url: str) -> str | None:
    """The cursor for the Hub's next-page link, or None when there is no next page."""
    if not next_url:
        return None
    parts = urlsplit(next_url)
    if not parts.path.rstrip("/").endswith("/api/models") or not parts.query:
        return None
    query = urlencode(parse_qsl(parts.query, keep_blank_values=True))
    return base64.urlsafe_b64encode(query.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[tuple[str, str]]:
    """The Hub query a cursor stands for; 400 when it is not one of ours."""
    bad = BadRequestError(
        "invalid cursor", param="cursor", resolution_steps=["Use next_cursor as returned."]
    )
    if not cursor or len(cursor) > MAX_CURSOR:
        raise bad
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise bad from exc
    if not pairs:
        raise bad
    return pairs


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def parse_datetime(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return _DATETIME.validate_python(value)
    except ValidationError:
        return None


def _tags(value: object) -> list[str]:
    return [t for t in value if isinstance(t, str)] if isinstance(value, list) else []


def quant_badge(quant: QuantLevel) -> str:
    """``4bit`` → ``4-bit`` (as characteristics badges write it); GGUF labels as they are."""
    if quant.label.endswith("bit") and quant.bits is not None:
        return f"{quant.bits}-bit"
    return quant.label


def result_badges(ch: ModelCharacteristics | None, quant: QuantLevel | None) -> list[str]:
    out = list(ch.badges) if ch is not None else []
    no_quant = ch is None or (ch.quantization_bits is None and ch.quantization_method is None)
    if quant is not None and no_quant:
        out.insert(1 if out else 0, quant_badge(quant))
    return out


def search_result(
    item: Mapping[str, Any], config: Mapping[str, Any] | None = None
) -> HubSearchResult:
    """A listing item as a result; ``config`` (a full config.json) overrides the listing's."""
    repo_id = str(item["id"])
    listing_config = item.get("config")
    source = config if config is not None else listing_config
    ch = extract_characteristics(source) if isinstance(source, Mapping) and source else None
    quant = quant_from_config(source) or parse_quant(posixpath.basename(repo_id))
    return HubSearchResult(
        id=repo_id,
        author=_str(item.get("author")) or (repo_id.split("/")[0] if "/" in repo_id else None),
        downloads=_int(item.get("downloads")),
        likes=_int(item.get("likes")),
        last_modified=parse_datetime(item.get("lastModified")),
        tags=_tags(item.get("tags")),
        library_name=_str(item.get("library_name")),
        pipeline_tag=_str(item.get("pipeline_tag")),
        gated=bool(item.get("gated")),
        quant=quant,
        characteristics=ch,
        badges=result_badges(ch, quant),
    )
