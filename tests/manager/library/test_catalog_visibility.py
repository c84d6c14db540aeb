"""``/v1/models`` state ``not_visible_to_inference``: the pure catalog, given which sources'
folders the inference server does not read."""

from __future__ import annotations

import time

from manager.library.catalog import build_catalog
from manager.library.pool_state import PoolView
from manager.library.scan import LibraryScanner
from manager.library.snapshot import LibrarySnapshot
from shared_schemas.pool import PoolStatus, SlotInfo, SlotState
from tests.manager.library.conftest import Dirs, place_folder, place_in_cache


def _snapshot(dirs: Dirs, status: PoolStatus | None) -> LibrarySnapshot:
    models = LibraryScanner(dirs.cache, dirs.models).scan()
    slots = {s.id: s for s in status.slots} if status is not None else {}
    pool = PoolView(status=status, fetched_at=time.monotonic(), slots=slots)
    return LibrarySnapshot(models=models, records={}, pool=pool)


def _states(snap: LibrarySnapshot, hidden: frozenset[str]) -> dict[str, str]:
    return {card.id: card.state for card in build_catalog(snap, [], set(), hidden=hidden)}


def test_hidden_sources(dirs: Dirs) -> None:
    place_in_cache(dirs.cache, "org/tiny")
    place_folder(dirs.models, "mine")
    status = PoolStatus(slots=[], max_memory_bytes=2**30, max_models=2, used_memory_bytes=0)
    snap = _snapshot(dirs, status)
    assert _states(snap, frozenset()) == {"org/tiny": "not-loaded", "local/mine": "not-loaded"}
    assert _states(snap, frozenset({"imported"})) == {
        "org/tiny": "not-loaded",
        "local/mine": "not_visible_to_inference",
    }
    assert _states(snap, frozenset({"hub", "imported"})) == {
        "org/tiny": "not_visible_to_inference",
        "local/mine": "not_visible_to_inference",
    }
    # The inference server down, its last answer known: still not visible.
    down = _snapshot(dirs, None)
    assert _states(down, frozenset({"hub"}))["org/tiny"] == "not_visible_to_inference"
    assert _states(down, frozenset({"hub"}))["local/mine"] == "unknown"


def test_a_model_the_server_has_loaded_is_visible_to_it(dirs: Dirs) -> None:
    """The same id found in the server's own folders, and loaded there: its state wins."""
    place_in_cache(dirs.cache, "org/tiny")
    slot = SlotInfo(id="org/tiny", state=SlotState.READY)
    status = PoolStatus(slots=[slot], max_memory_bytes=2**30, max_models=2, used_memory_bytes=0)
    assert _states(_snapshot(dirs, status), frozenset({"hub"})) == {"org/tiny": "loaded"}
