"""The configured catalog (``MODEL_MANAGER_CATALOG_FILE``): models served elsewhere, or extra
metadata for local ones.

The file is JSON: a list of entries, or an object with the list under ``data`` or
``models``. Each entry: ``id`` (required), ``name``, ``description``, ``contextLength``,
``type`` (chat / image / speech / embedding), ``provider``. It is read at start-up (a broken
file stops the start with a clear message) and read again when it changes; a broken edit
later is logged and the last good version kept.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

from pydantic import TypeAdapter, ValidationError

from manager.library.schemas import StaticCatalogEntry

logger = logging.getLogger(__name__)

_ENTRIES = TypeAdapter(list[StaticCatalogEntry])


class CatalogFileError(ValueError):
    pass


def parse_catalog(data: bytes, source: str) -> list[StaticCatalogEntry]:
    try:
        raw = json.loads(data)
    except ValueError as exc:
        raise CatalogFileError(f"{source}: not valid JSON ({exc})") from exc
    if isinstance(raw, dict):
        raw = raw.get("data", raw.get("models"))
    if not isinstance(raw, list):
        raise CatalogFileError(f"{source}: expected a list of entries (or {{'data': [...]}})")
    try:
        entries = _ENTRIES.validate_python(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise CatalogFileError(f"{source}: entry {where}: {first.get('msg')}") from exc
    seen: set[str] = set()
    unique = []
    for entry in entries:
        if entry.id not in seen:
            seen.add(entry.id)
            unique.append(entry)
    return unique


class StaticCatalog:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int] | None = None
        self._entries: list[StaticCatalogEntry] = []

    def load(self) -> list[StaticCatalogEntry]:
        """Read the file now; ``CatalogFileError`` if it is missing or broken."""
        if self.path is None:
            return []
        try:
            stat = os.stat(self.path)
            data = self.path.read_bytes()
        except OSError as exc:
            raise CatalogFileError(f"{self.path}: cannot be read ({exc.strerror})") from exc
        entries = parse_catalog(data, str(self.path))
        with self._lock:
            self._stamp = (stat.st_mtime_ns, stat.st_size)
            self._entries = entries
        return entries

    def entries(self) -> list[StaticCatalogEntry]:
        """The entries, read again if the file changed (cheap: one ``stat``)."""
        if self.path is None:
            return []
        try:
            stat = os.stat(self.path)
        except OSError:
            return self._entries
        if (stat.st_mtime_ns, stat.st_size) != self._stamp:
            try:
                return self.load()
            except CatalogFileError as exc:
                logger.error("keeping the previous catalog: %s", exc)
                with self._lock:
                    self._stamp = (stat.st_mtime_ns, stat.st_size)
        return self._entries
