"""What to download: the revision's commit, the files with sizes and hashes, the selection.

The selection is pure (``select_files``): explicit glob patterns, or defaults by format (an
MLX repository's weights, config, tokenizer and templates; one GGUF quantization, its split
set whole). Pickle files are never chosen unless a pattern names their extension.
``HubPlanner`` asks the Hub (huggingface_hub's ``HfApi`` in a thread, retried with backoff)
and maps its errors to the manager's tree.

What the Hub lists is checked before any byte is fetched (``checked_file``,
``check_listing``): a listing no git tree can have, or one the cache cannot hold (an unsafe
path, a path listed twice, a file that is also a folder, a name longer than a file system
allows) is a 502 ``bad_hub_answer``.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

import httpx2
from huggingface_hub import HfApi
from huggingface_hub.errors import (
    DisabledRepoError,
    GatedRepoError,
    HfHubHTTPError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.hf_api import RepoFile
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt

from manager.downloads.retry import RETRYABLE_STATUSES, BackoffWait, Transient, parse_retry_after
from manager.errors import (
    BadRequestError,
    HubAccessDeniedError,
    HubModelNotFoundError,
    HubResponseError,
    HubUnavailableError,
    ManagerError,
)
from manager.metrics import ManagerMetrics
from shared_schemas.downloads import DownloadFormat

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


def checked_file(
    path: str, size: int | None, blob_id: str | None, sha256: str | None
) -> RemoteFile:
    """A file entry from the Hub, refused when it could escape the cache or lacks metadata."""
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or any(p in ("", ".", "..") for p in parts)
        or "\0" in path
    ):
        raise bad_listing(f"the Hub listed an unsafe file path {path[:MAX_ECHOED_PATTERN]!r}")
    if size is None or size < 0 or blob_id is None or not _SHA1.match(blob_id):
        raise bad_listing(f"the Hub listed {path!r} without a size or blob id", path=path)
    if sha256 is not None and not _SHA256.match(sha256):
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


class _UnspecifiedNotFound(HubModelNotFoundError):
    """A 404 without ``X-Error-Code`` (mirrors and proxies may not send it): the model or the
    revision is missing, the answer does not say which."""


def model_not_found(model_id: str, details: dict[str, Any]) -> HubModelNotFoundError:
    return HubModelNotFoundError(
        f"model '{model_id}' was not found on the Hub",
        details=details,
        param="model_id",
        resolution_steps=[
            "Check the spelling of the model id (org/name).",
            "A private model needs MODEL_MANAGER_HF_TOKEN with access to it.",
        ],
    )


def revision_not_found(
    model_id: str, revision: str, details: dict[str, Any]
) -> HubModelNotFoundError:
    return HubModelNotFoundError(
        f"revision '{revision}' of '{model_id}' was not found on the Hub",
        details=details,
        param="revision",
        resolution_steps=["Check the branch, tag or commit name."],
    )


def hub_error(exc: BaseException, model_id: str, revision: str, endpoint: str) -> ManagerError:
    """A huggingface_hub error as the manager's error (permanent ones; transient are retried)."""
    details: dict[str, Any] = {"model_id": model_id, "revision": revision}
    status = (
        exc.response.status_code
        if isinstance(exc, HfHubHTTPError) and exc.response is not None
        else None
    )
    if isinstance(exc, GatedRepoError | DisabledRepoError) or status == 403:
        return HubAccessDeniedError(
            f"the Hub refused access to '{model_id}' (gated or disabled)",
            details=details,
            resolution_steps=[
                f"Accept the model's terms at {endpoint}/{model_id} while logged in.",
                "Set MODEL_MANAGER_HF_TOKEN (or HF_TOKEN) to a token of that account.",
            ],
        )
    if isinstance(exc, RevisionNotFoundError):
        return revision_not_found(model_id, revision, details)
    if isinstance(exc, RepositoryNotFoundError):
        return model_not_found(model_id, details)
    if status in (404, 410):
        return _UnspecifiedNotFound(
            f"model '{model_id}' or its revision '{revision}' was not found on the Hub",
            details={**details, "hub_status": status},
            resolution_steps=["Check the model id and the revision."],
        )
    if isinstance(exc, Transient):
        return HubUnavailableError(
            f"the Hub did not answer for '{model_id}': {exc.message}",
            details=details,
            headers={"Retry-After": "30"},
            resolution_steps=["Check the network and MODEL_MANAGER_HF_ENDPOINT, then retry."],
        )
    return HubResponseError(
        f"the Hub answered an unexpected error for '{model_id}': {exc}", details=details
    )


def _classify(exc: BaseException) -> BaseException:
    """Turn transient failures into ``Transient``; leave permanent ones as they are."""
    if isinstance(exc, httpx2.TimeoutException):
        return Transient("timeout", str(exc) or "timed out")
    if isinstance(exc, httpx2.TransportError):
        return Transient("connection", str(exc) or type(exc).__name__)
    if isinstance(exc, RepositoryNotFoundError | RevisionNotFoundError | DisabledRepoError):
        return exc
    if isinstance(exc, HfHubHTTPError) and exc.response is not None:
        status = exc.response.status_code
        if status in RETRYABLE_STATUSES:
            retry_after = parse_retry_after(exc.response.headers.get("Retry-After"))
            return Transient(f"http_{status}", f"HTTP {status}", retry_after=retry_after)
    if isinstance(exc, json.JSONDecodeError | KeyError | TypeError):
        return Transient("bad_response", f"unreadable answer: {exc}")
    return exc


class HubPlanner:
    """Resolves a revision and lists its files through huggingface_hub, with retries."""

    def __init__(
        self,
        *,
        endpoint: str,
        token: str | None,
        retries: int,
        backoff_s: float,
        backoff_max_s: float,
        timeout_s: float = 30.0,
        metrics: ManagerMetrics | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._metrics = metrics
        self._api = HfApi(endpoint=endpoint, token=token or False)
        self._retries = retries
        self._wait = BackoffWait(backoff_s, backoff_max_s)
        self._timeout = timeout_s

    async def _call(self, model_id: str, revision: str, fn: Any, /, *args: Any, **kw: Any) -> Any:
        def call() -> Any:
            try:
                result = fn(*args, **kw)
            except Exception as exc:
                self._count("error")
                raise _classify(exc) from exc
            self._count("ok")
            return result

        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(Transient),
                stop=stop_after_attempt(self._retries + 1),
                wait=self._wait,
                reraise=True,
            ):
                with attempt:
                    return await asyncio.to_thread(call)
        except ManagerError:
            raise
        except Exception as exc:
            raise hub_error(exc, model_id, revision, self.endpoint) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _count(self, outcome: str) -> None:
        if self._metrics is not None:
            self._metrics.hub_requests.labels("download_plan", outcome).inc()

    async def _model_info(self, model_id: str, revision: str | None) -> Any:
        return await self._call(
            model_id,
            revision or "",
            self._api.model_info,
            model_id,
            revision=revision,
            files_metadata=revision is not None,
            timeout=self._timeout,
        )

    async def _resolve(self, model_id: str, revision: str) -> Any:
        """The revision's description; a bare 404 is told apart by asking for the model."""
        try:
            return await self._model_info(model_id, revision)
        except _UnspecifiedNotFound as exc:
            details = {"model_id": model_id, "revision": revision}
            try:
                await self._model_info(model_id, None)
            except HubModelNotFoundError:
                raise model_not_found(model_id, details) from exc
            raise revision_not_found(model_id, revision, details) from exc

    async def list_files(self, model_id: str, revision: str) -> tuple[str, list[RemoteFile]]:
        """The commit ``revision`` points to and every file in it (checked: see the module)."""
        info = await self._resolve(model_id, revision)
        commit = getattr(info, "sha", None)
        if not isinstance(commit, str) or not _SHA1.match(commit):
            raise bad_listing(
                f"the Hub gave no commit for '{model_id}' at '{revision}'",
                model_id=model_id,
                revision=revision,
            )
        siblings = list(getattr(info, "siblings", None) or [])
        if siblings and all(s.size is not None and s.blob_id for s in siblings):
            files = [
                checked_file(s.rfilename, s.size, s.blob_id, s.lfs.sha256 if s.lfs else None)
                for s in siblings
            ]
        else:
            entries = await self._call(
                model_id,
                revision,
                lambda: list(self._api.list_repo_tree(model_id, revision=commit, recursive=True)),
            )
            files = [
                checked_file(e.path, e.size, e.blob_id, e.lfs.sha256 if e.lfs else None)
                for e in entries
                if isinstance(e, RepoFile)
            ]
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
