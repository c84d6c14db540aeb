"""What to download: the revision's commit, the files with sizes and hashes, the selection.

The selection is pure (``select_files``): explicit glob patterns, or defaults by format (an
MLX repository's weights, config, tokenizer and templates; one GGUF quantization, its split
set whole). Pickle files are never chosen unless a pattern names their extension.
``HubPlanner`` asks the Hub through :class:`~manager.hub.client.HubClient` (whose errors are
already the manager's), retrying while the Hub is unavailable.

What the Hub lists is checked before any byte is fetched (``checked_file``,
``check_listing``): a listing no git tree can have, or one the cache cannot hold (an unsafe
path, a path listed twice, a file that is also a folder, a name longer than a file system
allows) is a 502 ``bad_hub_answer``.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, TypeVar

from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from manager.downloads.retry import BackoffWait
from manager.downloads.schemas import DownloadFormat
from manager.errors import (
    BadRequestError,
    HubModelNotFoundError,
    HubResponseError,
    HubUnavailableError,
)
from manager.hub.client import HubClient
from manager.hub.errors import (
    HubNotFoundUnspecified,
    HubRevisionNotFound,
    model_not_found,
    revision_not_found,
)
from manager.settings import ManagerSettings

T = TypeVar("T")

PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle", ".joblib")
MLX_PATTERNS = (
    "*.safetensors",
    "*.json",
    "*.jinja",
    "*.txt",
    "*.model",
    "*.tiktoken",
    "tokenizer*",
)
# Preferred GGUF quantizations, best default first; anything else: the smallest set.
GGUF_PREFERENCE = (
    "Q4_K_M",
    "Q4_K_S",
    "Q5_K_M",
    "Q4_0",
    "IQ4_XS",
    "Q5_K_S",
    "Q6_K",
    "Q8_0",
)
_SPLIT = re.compile(r"-\d{5}-of-\d{5}(?=\.gguf$)")
_SHA1 = re.compile(r"^[0-9a-f]{40}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
MAX_LISTED_FILES = 500
MAX_ECHOED_PATTERN = 200  # characters of a pattern repeated in an error message
NAME_MAX = 255  # bytes in one path component (ext4, APFS, NTFS, the Hub's own storage)
BAD_HUB_ANSWER = "bad_hub_answer"


@dataclass(frozen=True)
class RemoteFile:
    """A file of one commit: its git blob id, and its sha256 when it lives in LFS."""

    path: str
    size: int
    blob_id: str
    sha256: str | None = None

    @property
    def lfs(self) -> bool:
        return self.sha256 is not None

    @property
    def etag(self) -> str:
        """The Hub's ETag for the file, and its blob name in the cache."""
        return self.sha256 or self.blob_id


@dataclass(frozen=True)
class DownloadPlan:
    model_id: str
    revision: str
    commit: str
    format: DownloadFormat
    allow_patterns: tuple[str, ...]
    files: tuple[RemoteFile, ...]

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


# --------------------------------------------------------------------------------------------
# Selection (pure)


def is_pickle(path: str) -> bool:
    return path.lower().endswith(PICKLE_SUFFIXES)


def matches(path: str, pattern: str) -> bool:
    """huggingface_hub's rule: fnmatch (``*`` crosses folders); ``dir/`` means ``dir/*``."""
    if pattern.endswith("/"):
        pattern += "*"
    return fnmatch.fnmatchcase(path, pattern)


def detect_format(paths: Iterable[str]) -> DownloadFormat:
    """GGUF when the repository has GGUF files and no safetensors weights, else MLX."""
    paths = list(paths)
    has_gguf = any(p.endswith(".gguf") for p in paths)
    has_safetensors = any(p.endswith(".safetensors") for p in paths)
    return "gguf" if has_gguf and not has_safetensors else "mlx"


def _pickle_allowed(path: str, patterns: Sequence[str]) -> bool:
    """A pickle file only when a pattern that matches it names its extension."""
    suffix = PurePosixPath(path).suffix.lower()
    return any(matches(path, p) and p.lower().endswith(suffix) for p in patterns)


def _by_patterns(files: Sequence[RemoteFile], patterns: Sequence[str]) -> list[RemoteFile]:
    chosen = []
    for file in files:
        if not any(matches(file.path, p) for p in patterns):
            continue
        if is_pickle(file.path) and not _pickle_allowed(file.path, patterns):
            continue
        chosen.append(file)
    return chosen


def _mlx_defaults(files: Sequence[RemoteFile]) -> list[RemoteFile]:
    chosen = [
        f
        for f in _by_patterns(files, MLX_PATTERNS)
        if not f.path.startswith("original/") and not f.path.endswith(".gguf")
    ]
    weights = [f for f in chosen if f.path.endswith(".safetensors")]
    consolidated = [f for f in weights if PurePosixPath(f.path).name.startswith("consolidated")]
    if consolidated and len(consolidated) < len(weights):
        # Mistral-style repositories ship the same weights twice; keep the Hugging Face set.
        chosen = [f for f in chosen if f not in consolidated]
    return chosen


def gguf_variants(files: Sequence[RemoteFile]) -> dict[str, list[RemoteFile]]:
    """GGUF files grouped by variant (a split set ``x-0000N-of-0000M.gguf`` is one variant)."""
    groups: dict[str, list[RemoteFile]] = {}
    for file in files:
        name = PurePosixPath(file.path).name.lower()
        if not name.endswith(".gguf") or "mmproj" in name:
            continue
        groups.setdefault(_SPLIT.sub("", file.path), []).append(file)
    return groups


def choose_gguf(files: Sequence[RemoteFile]) -> list[RemoteFile]:
    """One quantization: the first of ``GGUF_PREFERENCE`` present, else the smallest."""
    groups = gguf_variants(files)
    if not groups:
        return []
    for quant in GGUF_PREFERENCE:
        tag = re.compile(rf"(?<![A-Za-z0-9]){re.escape(quant)}(?![A-Za-z0-9])", re.IGNORECASE)
        for key in sorted(groups):
            if tag.search(PurePosixPath(key).name):
                return sorted(groups[key], key=lambda f: f.path)
    smallest = min(sorted(groups), key=lambda k: sum(f.size for f in groups[k]))
    return sorted(groups[smallest], key=lambda f: f.path)


def select_files(
    files: Sequence[RemoteFile], patterns: Sequence[str], fmt: DownloadFormat
) -> list[RemoteFile]:
    """The files to fetch; BadRequestError (400, with the file list) when nothing is chosen."""
    if patterns:
        chosen = _by_patterns(files, patterns)
    elif fmt == "gguf":
        chosen = choose_gguf(files)
    else:
        chosen = _mlx_defaults(files)
    if not chosen:
        listed = [f.path for f in files[:MAX_LISTED_FILES]]
        echoed = [p[:MAX_ECHOED_PATTERN] for p in patterns]
        what = f"the patterns {echoed}" if patterns else f"the {fmt} defaults"
        raise BadRequestError(
            f"{what} match no file of the repository",
            code="no_matching_files",
            param="allow_patterns",
            details={"files": listed, "file_count": len(files), "format": fmt},
            resolution_steps=[
                "Pick patterns from the file list in details.files (e.g. '*.safetensors').",
                "Pickle files (.bin, .pt, .pth, .ckpt, .pkl) need a pattern with their extension.",
            ],
        )
    return sorted(chosen, key=lambda f: f.path)


def bad_listing(message: str, **details: Any) -> HubResponseError:
    """502 ``bad_hub_answer``: the Hub listed files no repository can have."""
    return HubResponseError(
        message,
        code=BAD_HUB_ANSWER,
        details=details,
        resolution_steps=[
            "The Hub (or a mirror or proxy in between) answered a file list that cannot be "
            "stored; nothing was downloaded.",
            "Check MODEL_MANAGER_HF_ENDPOINT, or report the repository to its owner.",
        ],
    )


def checked_file(path: object, size: object, blob_id: object, sha256: object) -> RemoteFile:
    """A file entry from the Hub, refused when it could escape the cache or lacks metadata."""
    if not isinstance(path, str):
        raise bad_listing("the Hub listed a file without a path")
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or any(p in ("", ".", "..") for p in parts)
        or "\0" in path
    ):
        raise bad_listing(f"the Hub listed an unsafe file path {path[:MAX_ECHOED_PATTERN]!r}")
    if (
        not isinstance(size, int)
        or isinstance(size, bool)
        or size < 0
        or not isinstance(blob_id, str)
        or not _SHA1.match(blob_id)
    ):
        raise bad_listing(f"the Hub listed {path!r} without a size or blob id", path=path)
    if sha256 is not None and (not isinstance(sha256, str) or not _SHA256.match(sha256)):
        raise bad_listing(f"the Hub listed {path!r} with an invalid sha256", path=path)
    return RemoteFile(path=path, size=size, blob_id=blob_id, sha256=sha256)


def check_listing(files: Sequence[RemoteFile], *, name_max: int = NAME_MAX) -> None:
    """Refuse (502 ``bad_hub_answer``) a file list that no folder can hold: a path listed
    twice, a path that is both a file and a folder (``config.json`` and
    ``config.json/inner.json``), a name longer than ``name_max`` bytes. Pure."""
    seen: set[str] = set()
    for file in files:
        if file.path in seen:
            raise bad_listing(f"the Hub listed {file.path!r} twice", path=file.path)
        seen.add(file.path)
        for name in file.path.split("/"):
            if len(os.fsencode(name)) > name_max:
                raise bad_listing(
                    f"the Hub listed a file name longer than {name_max} bytes: "
                    f"{name[:MAX_ECHOED_PATTERN]!r}...",
                    path=file.path[:MAX_ECHOED_PATTERN],
                    name_bytes=len(os.fsencode(name)),
                    name_max=name_max,
                )
    for file in files:
        parts = file.path.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder in seen:
                raise bad_listing(
                    f"the Hub listed {folder!r} both as a file and as the folder of {file.path!r}",
                    path=folder,
                    inside=file.path,
                )


# --------------------------------------------------------------------------------------------
# The Hub

PLAN_OPERATION = "download_plan"  # the label of the planner's calls in hub_requests_total


def _sibling(entry: Any) -> RemoteFile:
    """A file of a model description (``siblings`` with ``?blobs=true``)."""
    entry = entry if isinstance(entry, dict) else {}
    lfs = entry.get("lfs")
    sha256 = lfs.get("sha256") if isinstance(lfs, dict) else None
    return checked_file(entry.get("rfilename"), entry.get("size"), entry.get("blobId"), sha256)


def _tree_file(entry: dict[str, Any]) -> RemoteFile:
    """A file of a tree listing (the LFS object id is its sha256)."""
    lfs = entry.get("lfs")
    sha256 = lfs.get("oid") if isinstance(lfs, dict) else None
    return checked_file(entry.get("path"), entry.get("size"), entry.get("oid"), sha256)


def _has_metadata(entry: Any) -> bool:
    return isinstance(entry, dict) and entry.get("size") is not None and bool(entry.get("blobId"))


class HubPlanner:
    """Resolves a revision and lists its files through the Hub client, retried with backoff
    while the Hub is unavailable (it answers a request: a couple of quick tries)."""

    def __init__(self, hub: HubClient, *, retries: int, backoff_s: float, backoff_max_s: float):
        self.hub = hub
        self._retries = retries
        self._wait = BackoffWait(backoff_s, backoff_max_s)

    @classmethod
    def for_settings(cls, hub: HubClient, settings: ManagerSettings) -> HubPlanner:
        """Planning answers a request: a couple of quick retries, then the 503 envelope."""
        return cls(
            hub,
            retries=min(settings.download_retries, 2),
            backoff_s=settings.download_backoff_s,
            backoff_max_s=min(settings.download_backoff_max_s, 2.0),
        )

    async def _call(self, call: Callable[[], Awaitable[T]]) -> T:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(HubUnavailableError),
            stop=stop_after_attempt(self._retries + 1),
            wait=self._wait,
            reraise=True,
        ):
            with attempt:
                return await call()
        raise AssertionError("unreachable")  # pragma: no cover

    async def _model_info(self, model_id: str, revision: str | None) -> dict[str, Any]:
        return await self._call(
            lambda: self.hub.model_info(
                model_id, revision=revision, blobs=revision is not None, operation=PLAN_OPERATION
            )
        )

    async def _resolve(self, model_id: str, revision: str) -> dict[str, Any]:
        """The revision's description; a bare 404 is told apart by asking for the model.
        A not-found names the request field it is about (``model_id`` or ``revision``)."""
        details = {"model_id": model_id, "revision": revision}
        try:
            try:
                return await self._model_info(model_id, revision)
            except HubNotFoundUnspecified as exc:
                try:
                    await self._model_info(model_id, None)
                except HubModelNotFoundError:
                    raise model_not_found(model_id, details) from exc
                raise revision_not_found(model_id, revision, details) from exc
        except HubModelNotFoundError as exc:
            exc.param = "revision" if isinstance(exc, HubRevisionNotFound) else "model_id"
            raise

    async def list_files(self, model_id: str, revision: str) -> tuple[str, list[RemoteFile]]:
        """The commit ``revision`` points to and every file in it (checked: see the module)."""
        info = await self._resolve(model_id, revision)
        commit = info.get("sha")
        if not isinstance(commit, str) or not _SHA1.match(commit):
            raise bad_listing(
                f"the Hub gave no commit for '{model_id}' at '{revision}'",
                model_id=model_id,
                revision=revision,
            )
        siblings = info.get("siblings")
        siblings = siblings if isinstance(siblings, list) else []
        if siblings and all(_has_metadata(s) for s in siblings):
            files = [_sibling(s) for s in siblings]
        else:
            entries = await self._call(
                lambda: self.hub.list_tree(model_id, commit, operation=PLAN_OPERATION)
            )
            files = [_tree_file(e) for e in entries if e.get("type") == "file"]
        check_listing(files)
        return commit, files

    async def plan(
        self,
        model_id: str,
        revision: str,
        patterns: Sequence[str],
        fmt: DownloadFormat | None,
    ) -> DownloadPlan:
        commit, files = await self.list_files(model_id, revision)
        chosen_format = fmt or detect_format(f.path for f in files)
        chosen = select_files(files, patterns, chosen_format)
        return DownloadPlan(
            model_id=model_id,
            revision=revision,
            commit=commit,
            format=chosen_format,
            allow_patterns=tuple(patterns),
            files=tuple(chosen),
        )
