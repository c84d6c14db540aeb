"""Fault rules and request statistics of the fake Hub (thread-safe: the server runs in its own
thread, tests set faults and read statistics from theirs).

A rule applies to the requests whose *subject* matches its ``path_glob`` (``fnmatch``; no glob
matches everything). The subject of a file request is the file's path in the repo and also
``"{repo_id}/{path}"`` (either may match); the subject of an API request is its URL path
(``"/api/models/org/name"``).
"""

from __future__ import annotations

import copy
import fnmatch
import threading
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

#: Every kind of fault, in the order they act on a file request.
FAULT_KINDS = (
    "fail_next",
    "garbage_json",
    "ignore_range",
    "corrupt",
    "truncate",
    "drop_after_bytes",
    "stall_after_bytes",
    "throttle_bps",
)
#: Kinds that stay until ``reset_faults`` (the others count down ``remaining``).
PERSISTENT_KINDS = frozenset(
    {"garbage_json", "ignore_range", "corrupt", "truncate", "throttle_bps"}
)
TARGETS = ("resolve", "api", "any")


@dataclass
class Fault:
    """One rule.

    ``remaining`` counts the requests it still applies to (``None``: until reset).
    ``fail_next`` answers ``status`` (with ``Retry-After: retry_after`` when set) to requests of
    ``target`` (``"resolve"``, ``"api"`` or ``"any"``) whose method is in ``methods`` (default:
    GET for files, every method for the API). ``n_bytes`` is the cut point of
    ``drop_after_bytes`` and ``stall_after_bytes``; ``seconds`` the stall; ``bps`` the rate.
    """

    kind: str
    path_glob: str | None = None
    remaining: int | None = None
    status: int = 500
    retry_after: float | None = None
    target: str = "resolve"
    methods: tuple[str, ...] | None = None
    n_bytes: int = 0
    seconds: float = 0.0
    bps: int = 0

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {self.kind!r}; known: {', '.join(FAULT_KINDS)}")
        if self.target not in TARGETS:
            raise ValueError(f"unknown target {self.target!r}; known: {', '.join(TARGETS)}")
        if self.remaining is not None and self.remaining < 0:
            raise ValueError("remaining must be >= 0")

    def matches(self, subjects: Sequence[str]) -> bool:
        return self.path_glob is None or any(
            fnmatch.fnmatchcase(subject, self.path_glob) for subject in subjects
        )

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["methods"] = list(self.methods) if self.methods is not None else None
        return out


@dataclass(frozen=True)
class BodyPlan:
    """How to send one file body, from the rules that matched it."""

    ignore_range: bool = False
    corrupt: bool = False
    truncate: bool = False
    drop_after: int | None = None
    stall_after: int | None = None
    stall_seconds: float = 0.0
    throttle_bps: int | None = None


class FaultBook:
    """The active rules; ``take_*`` consume counted rules as requests use them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def remove_kind(self, kind: str, path_glob: str | None) -> None:
        with self._lock:
            self._faults = [
                f for f in self._faults if not (f.kind == kind and f.path_glob == path_glob)
            ]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def snapshot(self) -> list[Fault]:
        with self._lock:
            return [copy.copy(f) for f in self._faults if f.remaining != 0]

    def _take(self, fault: Fault) -> None:
        if fault.remaining is not None:
            fault.remaining -= 1
        if fault.remaining == 0:
            self._faults.remove(fault)

    def take_failure(self, target: str, method: str, subjects: Sequence[str]) -> Fault | None:
        """The ``fail_next`` rule this request consumes, if any."""
        with self._lock:
            for fault in self._faults:
                if fault.kind != "fail_next" or fault.target not in (target, "any"):
                    continue
                methods = fault.methods or (("GET",) if target == "resolve" else None)
                if methods is not None and method not in methods:
                    continue
                if fault.matches(subjects):
                    self._take(fault)
                    return copy.copy(fault)
        return None

    def garbage_json(self, subjects: Sequence[str]) -> bool:
        with self._lock:
            return any(f.kind == "garbage_json" and f.matches(subjects) for f in self._faults)

    def take_body_plan(self, subjects: Sequence[str]) -> BodyPlan:
        """The plan for one GET body; consumes one use of each counted rule that matched."""
        found: dict[str, Fault] = {}
        with self._lock:
            for fault in list(self._faults):
                if fault.kind in found or fault.kind in ("fail_next", "garbage_json"):
                    continue
                if fault.matches(subjects):
                    found[fault.kind] = copy.copy(fault)
                    if fault.kind not in PERSISTENT_KINDS:
                        self._take(fault)
        drop = found.get("drop_after_bytes")
        stall = found.get("stall_after_bytes")
        throttle = found.get("throttle_bps")
        return BodyPlan(
            ignore_range="ignore_range" in found,
            corrupt="corrupt" in found,
            truncate="truncate" in found,
            drop_after=drop.n_bytes if drop else None,
            stall_after=stall.n_bytes if stall else None,
            stall_seconds=stall.seconds if stall else 0.0,
            throttle_bps=throttle.bps if throttle else None,
        )


@dataclass
class FileStats:
    """What was asked of one file (``"{repo_id}/{path}"``), over every revision."""

    get: int = 0
    head: int = 0
    bytes_sent: int = 0
    ranges: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    disconnects: int = 0


@dataclass
class ApiCall:
    """One request to ``/api/...``: its method, URL path, query pairs and status."""

    method: str
    path: str
    query: list[tuple[str, str]]
    status: int

    def params(self, name: str) -> list[str]:
        """Every value of one query parameter (``filter``, ``expand``, ... repeat)."""
        return [value for key, value in self.query if key == name]


@dataclass
class HubStats:
    """A copy of the counters at one moment (see ``FakeHub.stats``).

    ``files`` is keyed by ``"{repo_id}/{path}"``. ``ranges`` lists the ``Range`` header of
    every GET that sent one; ``statuses`` the status of every HEAD and GET, in order;
    ``disconnects`` the bodies cut short because the client went away.
    """

    files: dict[str, FileStats] = field(default_factory=dict)
    api_calls: list[ApiCall] = field(default_factory=list)

    def file(self, repo_id: str, path: str) -> FileStats:
        """The counters of one file (all zero if it was never asked for)."""
        return self.files.get(f"{repo_id}/{path}", FileStats())

    @property
    def bytes_sent(self) -> int:
        return sum(stats.bytes_sent for stats in self.files.values())

    @property
    def gets(self) -> int:
        return sum(stats.get for stats in self.files.values())

    def api(self, path_prefix: str = "/api/") -> list[ApiCall]:
        """API calls whose URL path starts with ``path_prefix``."""
        return [call for call in self.api_calls if call.path.startswith(path_prefix)]

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": {key: asdict(stats) for key, stats in self.files.items()},
            "api_calls": [
                {**asdict(call), "query": [list(pair) for pair in call.query]}
                for call in self.api_calls
            ],
            "bytes_sent": self.bytes_sent,
        }


class StatsBook:
    """The live counters, updated by the server thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stats = HubStats()

    def _file(self, key: str) -> FileStats:
        return self._stats.files.setdefault(key, FileStats())

    def file_request(self, key: str, method: str, range_header: str | None) -> None:
        with self._lock:
            stats = self._file(key)
            if method == "HEAD":
                stats.head += 1
            else:
                stats.get += 1
                if range_header is not None:
                    stats.ranges.append(range_header)

    def file_status(self, key: str, status: int) -> None:
        with self._lock:
            self._file(key).statuses.append(status)

    def file_bytes(self, key: str, n: int) -> None:
        with self._lock:
            self._file(key).bytes_sent += n

    def file_disconnect(self, key: str) -> None:
        with self._lock:
            self._file(key).disconnects += 1

    def api_call(
        self, method: str, path: str, query: Iterable[tuple[str, str]], status: int
    ) -> None:
        with self._lock:
            self._stats.api_calls.append(ApiCall(method, path, list(query), status))

    def snapshot(self) -> HubStats:
        with self._lock:
            return copy.deepcopy(self._stats)

    def clear(self) -> None:
        with self._lock:
            self._stats = HubStats()
