"""What a model card says: a one-paragraph summary, the licence, the base models. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping

SUMMARY_CHARS = 400

_FRONT_MATTER = re.compile(r"\A---\s*\n.*?\n---\s*(?:\n|\Z)", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.DOTALL | re.MULTILINE)
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_HTML_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_EMPHASIS = re.compile(r"(\*\*|__|\*|_|`)(?=\S)(.+?)(?<=\S)\1")
_SKIP_PREFIXES = ("#", "|", ">", "---", "===", "- ", "* ", "+ ", "<")


def _plain(text: str) -> str:
    text = _IMAGE.sub("", text)
    text = _LINK.sub(r"\1", text)
    text = _HTML_TAG.sub("", text)
    text = _EMPHASIS.sub(r"\2", text)
    return " ".join(text.split())


def card_summary(readme: str, limit: int = SUMMARY_CHARS) -> str | None:
    """The first prose paragraph of a model card (no front matter, headings, tables, lists,
    images, badges, HTML or code), as plain text cut at a word under ``limit`` characters."""
    text = _FRONT_MATTER.sub("", readme.replace("\r\n", "\n"), count=1)
    text = _COMMENT.sub("", text)
    text = _FENCE.sub("", text)
    for block in re.split(r"\n\s*\n", text):
        lines = [line.strip() for line in block.strip().splitlines() if line.strip()]
        if not lines or lines[0].startswith(_SKIP_PREFIXES):
            continue
        plain = _plain(" ".join(lines))
        if sum(ch.isalpha() for ch in plain) < 20:
            continue
        if len(plain) <= limit:
            return plain
        cut = plain[: limit - 1]
        if " " in cut:
            cut = cut[: cut.rindex(" ")]
        return cut.rstrip(" ,;:.") + "…"
    return None


def card_body(readme: str) -> str:
    """The model card without its YAML front matter (the metadata block at the top)."""
    return _FRONT_MATTER.sub("", readme.replace("\r\n", "\n"), count=1)


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value.strip()] if value.strip() else []
    if isinstance(value, list):
        return [v.strip() for v in value if isinstance(v, str) and v.strip()]
    return []


def license_of(card: Mapping[str, object] | None, tags: list[str]) -> str | None:
    """``license`` of the card (its ``license_name`` when that is "other"), else a tag."""
    if card:
        names = _strings(card.get("license"))
        if names:
            if names[0] == "other":
                return (_strings(card.get("license_name")) or names)[0]
            return names[0]
    for tag in tags:
        if tag.startswith("license:") and len(tag) > len("license:"):
            return tag.removeprefix("license:")
    return None


def base_models_of(card: Mapping[str, object] | None, tags: list[str]) -> list[str]:
    """``base_model`` of the card, else the ``base_model:[relation:]org/name`` tags."""
    found = _strings(card.get("base_model")) if card else []
    if not found:
        for tag in tags:
            if tag.startswith("base_model:"):
                found.append(tag.rsplit(":", 1)[-1])
    unique: list[str] = []
    for name in found:
        if name and name not in unique:
            unique.append(name)
    return unique
