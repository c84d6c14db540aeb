"""Tables and panels for people: search results, model details, the library, the pool."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from modelyard.output import ago, human_bytes, human_duration

VERDICT_STYLE = {
    "runs": "green",
    "tight": "yellow",
    "too-big": "red",
    "not-loadable": "red",
    "unknown": "dim",
}


def verdict(label: str | None) -> Text:
    label = label or "unknown"
    return Text(label, style=VERDICT_STYLE.get(label, ""))


def badges(items: list[str] | None) -> str:
    return " ".join(f"[{b}]" for b in items or [])


def search_table(results: list[dict[str, Any]], verdicts: dict[str, str | None]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("MODEL", "DOWNLOADS", "LIKES", "BADGES", "HERE"):
        table.add_column(column, justify="right" if column in ("DOWNLOADS", "LIKES") else "left")
    for result in results:
        table.add_row(
            escape(result["id"]),
            f"{result.get('downloads', 0):,}",
            f"{result.get('likes', 0):,}",
            escape(badges(result.get("badges"))),
            verdict(verdicts.get(result["id"])),
        )
    return table


def model_type(kind: str | None) -> Text:
    """A model's type (chat, embedding, ...): chat plain, the others set apart."""
    kind = kind or "?"
    return Text(kind, style="" if kind == "chat" else "cyan")


def library_table(models: list[dict[str, Any]]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("MODEL", "TYPE", "SIZE", "FORMAT", "BADGES", "HERE", "STATE"):
        table.add_column(column, justify="right" if column == "SIZE" else "left")
    for model in models:
        table.add_row(
            escape(model["id"]),
            model_type(model.get("type")),
            human_bytes(model.get("size_bytes")),
            str(model.get("format", "?")),
            escape(badges(model.get("badges"))),
            verdict((model.get("compatibility") or {}).get("label")),
            str(model.get("state", "unknown")).replace("_", " "),
        )
    return table


def pool_table(
    pool: dict[str, Any], now: float | None = None, types: dict[str, str] | None = None
) -> Group:
    """The pool's slots; ``types``: each model's type from ``/v1/models`` (None: unknown)."""
    now = now or time.time()
    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("MODEL", "TYPE", "STATE", "MEMORY", "PINNED", "REQUESTS", "IDLE FOR"):
        table.add_column(column, justify="right" if column in ("MEMORY", "REQUESTS") else "left")
    for slot in pool.get("slots", []):
        busy = slot.get("active_requests", 0) + slot.get("queued_requests", 0)
        table.add_row(
            escape(slot["id"]),
            model_type((types or {}).get(slot["id"])),
            str(slot.get("state", "?")),
            human_bytes(slot.get("memory_bytes") or slot.get("estimated_bytes")),
            "yes" if slot.get("pinned") else "no",
            f"{slot.get('active_requests', 0)} active, {slot.get('queued_requests', 0)} queued",
            "-" if busy else ago(slot.get("last_used"), now),
        )
    footer = (
        f"{len(pool.get('slots', []))} of {pool.get('max_models', '?')} models, "
        f"{human_bytes(pool.get('used_memory_bytes'))} of "
        f"{human_bytes(pool.get('max_memory_bytes'))} budget; "
        f"BLAS: {pool.get('cpu_blas') or 'bundled with MLX'}"
    )
    return Group(table, Text(footer, style="dim"))


def _characteristics_rows(chars: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not chars:
        return []
    rows = []
    names = {
        "architecture_family": "family",
        "model_type": "model type",
        "context_length": "context",
        "parameter_count": "parameters",
        "num_hidden_layers": "layers",
        "hidden_size": "hidden size",
        "quantization_bits": "quantization bits",
        "quantization_method": "quantization",
        "multimodal_type": "multimodal",
        "torch_dtype": "dtype",
    }
    for key, label in names.items():
        value = chars.get(key)
        if value not in (None, "", False):
            rows.append(
                (label, f"{value:,}" if isinstance(value, int) and value > 999 else str(value))
            )
    return rows


def info_view(info: dict[str, Any]) -> Group:
    """A model's details: local copy or Hub, files, variants and the verdict with reasons."""
    parts: list[RenderableType] = []
    local, hub = info.get("local"), info.get("hub")
    model_id = (local or hub or {}).get("id", info.get("model_id", "?"))
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold", no_wrap=True)
    head.add_column(overflow="fold")
    head.add_row("model", escape(model_id))
    if local:
        head.add_row(
            "on disk", f"{human_bytes(local.get('size_bytes'))} at {escape(local['path'])}"
        )
        head.add_row("format", f"{local.get('format')} ({local.get('weights')})")
        head.add_row("state", str(local.get("state")))
    if hub:
        head.add_row(
            "on the Hub", f"{hub.get('downloads', 0):,} downloads, {hub.get('likes', 0):,} likes"
        )
        if hub.get("license"):
            head.add_row("license", escape(str(hub["license"])))
        if hub.get("unsafe_format"):
            head.add_row("warning", "pickle weights: loading them can run code")
    chars = (local or {}).get("characteristics") or (hub or {}).get("characteristics")
    for label, value in _characteristics_rows(chars):
        head.add_row(label, escape(value))
    badge_list = (local or {}).get("badges") or (hub or {}).get("badges")
    if badge_list:
        head.add_row("badges", escape(badges(badge_list)))
    parts.append(head)
    if hub and hub.get("files"):
        files = Table(box=None, pad_edge=False, header_style="bold", title_justify="left")
        files.add_column("FILE")
        files.add_column("SIZE", justify="right")
        for f in hub["files"]:
            files.add_row(escape(f["path"]), human_bytes(f.get("size")))
        parts += [Text(""), files]
    variants = (info.get("variants") or {}).get("variants") or []
    if variants:
        table = Table(box=None, pad_edge=False, header_style="bold")
        for column in ("VARIANT", "FORMAT", "QUANT", "SIZE"):
            table.add_column(column, justify="right" if column == "SIZE" else "left")
        for v in variants:
            table.add_row(
                escape(v["id"]),
                v.get("format", "?"),
                (v.get("quant") or {}).get("label", "-"),
                human_bytes(v.get("size")),
            )
        parts += [Text(""), table]
    report = info.get("compatibility")
    if report:
        line = Text("verdict: ", style="bold")
        line.append_text(verdict(report.get("label")))
        estimate = (report.get("requirements") or {}).get("estimated_memory_bytes")
        if estimate:
            line.append(f" (needs about {human_bytes(estimate)})")
        parts += [Text(""), line]
        for reason in report.get("reasons", []):
            parts.append(Text(f"  {reason.get('severity')}: {reason.get('message')}"))
        for tip in report.get("recommendations", []):
            parts.append(Text(f"  → {tip}"))
    return Group(*parts)


def loaded_line(result: dict[str, Any]) -> str:
    slot = result.get("slot") or {}
    if not result.get("loaded"):
        return f"{slot.get('id')} was already loaded" + (", pinned" if slot.get("pinned") else "")
    return (
        f"Loaded {slot.get('id')} in {human_duration(slot.get('load_time_s'))} "
        f"({human_bytes(slot.get('memory_bytes'))})" + (", pinned" if slot.get("pinned") else "")
    )
