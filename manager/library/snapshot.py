"""The library at one moment (disk, registry, pool), and the answers rendered from it.

Both the library's own answers (``/api/models/local``) and the catalog (``/v1/models``) are
rendered from a :class:`LibrarySnapshot`; a :class:`RenderCache` keeps each model's rendered
answer until one of its inputs changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from manager.library.pool_state import PoolView
from manager.library.queries import RecordView
from manager.library.scan import ScannedModel

T = TypeVar("T")


class RenderCache(Generic[T]):
    """Rendered wire objects by model id, rebuilt only when one of their inputs changed
    (inputs compared by identity first: an unchanged model is the same scanned object)."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[tuple[Any, ...], T]] = {}

    def get(self, key: str, inputs: tuple[Any, ...], build: Callable[[], T]) -> T:
        hit = self._items.get(key)
        if hit is not None and all(a is b or a == b for a, b in zip(hit[0], inputs, strict=True)):
            return hit[1]
        value = build()
        self._items[key] = (inputs, value)
        return value

    def retain(self, keys: set[str]) -> None:
        """Forget models that are gone."""
        if len(self._items) > len(keys):
            for key in set(self._items) - keys:
                del self._items[key]


@dataclass(frozen=True)
class LibrarySnapshot:
    """The library at one moment: the disk, the registry, the pool."""

    models: list[ScannedModel]
    records: dict[str, RecordView]
    pool: PoolView
