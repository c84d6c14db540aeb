"""``FakeHub``: the repos, faults and statistics, and the server that serves them on loopback."""

from __future__ import annotations

import contextlib
import functools
import socket
import threading
import time
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import uvicorn

from modelyard_dev.fake_hub.app import FakeHubApp, install_log_filter
from modelyard_dev.fake_hub.content import FakeFile
from modelyard_dev.fake_hub.faults import Fault, FaultBook, HubStats, StatsBook
from modelyard_dev.fake_hub.repos import (
    DEFAULT_DATE,
    FakeCommit,
    FakeRepo,
    default_commit_sha,
)
from modelyard_dev.tiny_model import LFS_MIN_SIZE, TINY, ModelShape, commit_hash, model_files

LOOPBACK = "127.0.0.1"
_START_TIMEOUT = 10.0


@functools.lru_cache(maxsize=8)
def _tiny_files(shape: ModelShape, seed: int) -> Mapping[str, bytes]:
    return dict(model_files(shape, seed))


@dataclass
class RunningHub:
    """A hub being served: ``url`` is its base URL; ``stop()`` ends it (idempotent)."""

    url: str
    server: uvicorn.Server
    thread: threading.Thread
    app: FakeHubApp
    sock: socket.socket

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        if self.thread.is_alive():
            self.app.closing.set()
            self.server.should_exit = True
            self.thread.join(timeout=10)
        self.sock.close()

    def __enter__(self) -> RunningHub:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class FakeHub:
    """An in-memory Hugging Face Hub, served over HTTP on 127.0.0.1.

    ``valid_tokens`` are the tokens that open gated repos. ``page_size`` caps the items of one
    page of ``/api/models`` and ``/tree`` (the Hub's is 1000); lower it to test pagination.
    """

    def __init__(self, *, valid_tokens: Iterable[str] = (), page_size: int = 1000) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.valid_tokens: set[str] = set(valid_tokens)
        self.page_size = page_size
        self._faults = FaultBook()
        self._stats = StatsBook()
        self._lock = threading.Lock()

    # ---------------------------------------------------------------------------------------
    # Content

    def add_repo(
        self,
        repo_id: str,
        files: Mapping[str, bytes],
        *,
        revision: str = "main",
        sha: str | None = None,
        author: str | None = None,
        tags: list[str] | None = None,
        library_name: str | None = None,
        pipeline_tag: str | None = None,
        downloads: int = 0,
        likes: int = 0,
        gated: bool | str = False,
        card_data: dict[str, Any] | None = None,
        last_modified: str | None = None,
        lfs_threshold: int = 1024,
        created_at: str | None = None,
        trending_score: int = 0,
        private: bool = False,
        listing: Sequence[str] | None = None,
    ) -> FakeRepo:
        """Create or replace a repo's metadata and commit ``files`` to ``revision``.

        A file is LFS when it has ``lfs_threshold`` bytes or more, or a weights suffix
        (``.safetensors``, ``.gguf``, ``.bin``, ...). ``author`` defaults to the org of
        ``repo_id``; ``gated`` is ``True`` (reported as ``"auto"``), ``"manual"`` or ``False``.
        ``listing`` (paths of ``files``, in order, repeats allowed) is what the API lists
        instead of every file once: a broken Hub answer. Calling it again for the same repo
        keeps its other branches and older commits.
        """
        if gated not in (False, True, "auto", "manual"):
            raise ValueError(f"gated must be False, True, 'auto' or 'manual', not {gated!r}")
        with self._lock:
            old = self.repos.get(repo_id)
            repo = FakeRepo(
                repo_id=repo_id,
                author=author
                if author is not None
                else (repo_id.split("/")[0] if "/" in repo_id else None),
                tags=list(tags or []),
                library_name=library_name,
                pipeline_tag=pipeline_tag,
                downloads=downloads,
                likes=likes,
                gated=gated,
                card_data=card_data,
                last_modified=last_modified or DEFAULT_DATE,
                created_at=created_at or DEFAULT_DATE,
                trending_score=trending_score,
                private=private,
                refs=dict(old.refs) if old else {},
                commits=dict(old.commits) if old else {},
            )
            self._commit(
                repo,
                files,
                revision=revision,
                sha=sha,
                lfs_threshold=lfs_threshold,
                listing=listing,
            )
            self.repos[repo_id] = repo
            return repo

    def add_commit(
        self,
        repo_id: str,
        files: Mapping[str, bytes],
        *,
        revision: str = "main",
        sha: str | None = None,
        lfs_threshold: int = 1024,
    ) -> str:
        """Commit ``files`` (the whole new file set) to a branch of an existing repo; its sha."""
        with self._lock:
            return self._commit(
                self.repo(repo_id), files, revision=revision, sha=sha, lfs_threshold=lfs_threshold
            )

    def add_big_file(
        self, repo_id: str, path: str, size: int, *, seed: int = 0, revision: str = "main"
    ) -> FakeFile:
        """Add an LFS file of ``size`` generated bytes to a branch (a new commit; the repo is
        created with default metadata if needed). The bytes are made on the fly when served;
        their sha256 is computed here once (about a second per 500 MB, then cached)."""
        file = FakeFile.generated(path, size, seed)
        with self._lock:
            repo = self.repos.get(repo_id)
            if repo is None:
                author = repo_id.split("/")[0] if "/" in repo_id else None
                repo = self.repos[repo_id] = FakeRepo(repo_id=repo_id, author=author)
            head = repo.resolve(revision)
            files = {**(head.files if head else {}), path: file}
            self._store(repo, files, revision=revision, sha=None)
        return file

    def add_tiny_model(
        self,
        repo_id: str,
        *,
        seed: int = 0,
        shape: ModelShape = TINY,
        extra_files: Mapping[str, bytes] | None = None,
        **repo_kwargs: Any,
    ) -> FakeRepo:
        """A real tiny MLX-loadable Llama (``modelyard_dev.tiny_model``) as a repo.

        Defaults: tags ``["mlx"]``, ``library_name="mlx"``, ``pipeline_tag="text-generation"``,
        the Hub's 10 MiB LFS threshold and, when no ``extra_files``, the commit id
        ``tiny_model.install_in_cache`` gives the same model, so both agree on the snapshot.
        Any ``add_repo`` keyword overrides these.
        """
        files = dict(_tiny_files(shape, seed))
        files.update(extra_files or {})
        tags = list(repo_kwargs.pop("tags", None) or [])
        if "mlx" not in tags:
            tags.insert(0, "mlx")
        repo_kwargs.setdefault("library_name", "mlx")
        repo_kwargs.setdefault("pipeline_tag", "text-generation")
        repo_kwargs.setdefault("lfs_threshold", LFS_MIN_SIZE)
        if not extra_files and repo_kwargs.get("revision", "main") == "main":
            repo_kwargs.setdefault("sha", commit_hash(files))
        return self.add_repo(repo_id, files, tags=tags, **repo_kwargs)

    def repo(self, repo_id: str) -> FakeRepo:
        try:
            return self.repos[repo_id]
        except KeyError:
            raise KeyError(f"no repo {repo_id!r} in the fake Hub") from None

    def remove_repo(self, repo_id: str) -> None:
        with self._lock:
            self.repos.pop(repo_id, None)

    def _commit(
        self,
        repo: FakeRepo,
        files: Mapping[str, bytes],
        *,
        revision: str,
        sha: str | None,
        lfs_threshold: int,
        listing: Sequence[str] | None = None,
    ) -> str:
        fake_files = {
            path.strip("/"): FakeFile.from_bytes(path.strip("/"), data, lfs_threshold=lfs_threshold)
            for path, data in files.items()
        }
        return self._store(repo, fake_files, revision=revision, sha=sha, listing=listing)

    @staticmethod
    def _store(
        repo: FakeRepo,
        files: Mapping[str, FakeFile],
        *,
        revision: str,
        sha: str | None,
        listing: Sequence[str] | None = None,
    ) -> str:
        sha = sha or default_commit_sha(repo.repo_id, revision, files)
        if len(sha) != 40 or any(c not in "0123456789abcdef" for c in sha):
            raise ValueError(f"sha must be 40 lowercase hex digits, not {sha!r}")
        unknown = sorted(set(listing or ()) - set(files))
        if unknown:
            raise ValueError(f"listing names paths that are not files: {unknown}")
        repo.commits[sha] = FakeCommit(
            sha, dict(sorted(files.items())), tuple(listing) if listing is not None else None
        )
        repo.refs[revision] = sha
        return sha

    # ---------------------------------------------------------------------------------------
    # Faults and statistics

    def set_fault(
        self,
        *,
        path_glob: str | None = None,
        fail_next: int | None = None,
        status: int = 500,
        retry_after: float | None = None,
        target: str = "resolve",
        methods: Collection[str] | None = None,
        drop_after_bytes: int | None = None,
        stall_after_bytes: int | None = None,
        stall_seconds: float = 1.0,
        times: int | None = 1,
        ignore_range: bool | None = None,
        throttle_bps: int | None = None,
        corrupt: bool | None = None,
        truncate: bool | None = None,
        garbage_json: bool | None = None,
    ) -> None:
        """Add fault rules, each scoped to ``path_glob`` (see ``faults`` for the subjects).

        - ``fail_next=n``: the next ``n`` matching requests answer ``status`` (with
          ``Retry-After`` when ``retry_after`` is set). ``target`` is ``"resolve"`` (file
          requests; GET only unless ``methods`` says e.g. ``("GET", "HEAD")``), ``"api"`` or
          ``"any"``.
        - ``drop_after_bytes=n``: send ``n`` body bytes then close the connection, for the next
          ``times`` GETs (``None``: until reset).
        - ``stall_after_bytes=n``: send ``n`` bytes, then nothing for ``stall_seconds``, then the
          rest, for the next ``times`` GETs.
        - ``ignore_range``: answer 200 and the whole file even when ``Range`` is sent.
        - ``throttle_bps``: at most this many body bytes per second per response.
        - ``corrupt``: flip the first byte of every body sent (the sha256 will not match).
        - ``truncate``: send half of each body (less than ``Content-Length``), then close.
        - ``garbage_json``: ``/api/*`` answers 200 with invalid JSON.

        The flags last until ``reset_faults()``; passing ``False`` removes that flag's rule
        for the same ``path_glob``.
        """
        methods_tuple = tuple(m.upper() for m in methods) if methods is not None else None
        book = self._faults
        if fail_next is not None:
            book.add(
                Fault(
                    "fail_next",
                    path_glob,
                    remaining=fail_next,
                    status=status,
                    retry_after=retry_after,
                    target=target,
                    methods=methods_tuple,
                )
            )
        if drop_after_bytes is not None:
            book.add(
                Fault("drop_after_bytes", path_glob, remaining=times, n_bytes=drop_after_bytes)
            )
        if stall_after_bytes is not None:
            book.add(
                Fault(
                    "stall_after_bytes",
                    path_glob,
                    remaining=times,
                    n_bytes=stall_after_bytes,
                    seconds=stall_seconds,
                )
            )
        if throttle_bps is not None:
            book.remove_kind("throttle_bps", path_glob)
            if throttle_bps > 0:
                book.add(Fault("throttle_bps", path_glob, bps=throttle_bps))
        flags = {
            "ignore_range": ignore_range,
            "corrupt": corrupt,
            "truncate": truncate,
            "garbage_json": garbage_json,
        }
        for kind, value in flags.items():
            if value is None:
                continue
            book.remove_kind(kind, path_glob)
            if value:
                book.add(Fault(kind, path_glob))

    def fail_next(
        self,
        n: int,
        status: int = 500,
        path_glob: str | None = None,
        retry_after: float | None = None,
        *,
        target: str = "resolve",
        methods: Collection[str] | None = None,
    ) -> None:
        """The next ``n`` matching requests answer ``status`` (see ``set_fault``)."""
        self.set_fault(
            fail_next=n,
            status=status,
            path_glob=path_glob,
            retry_after=retry_after,
            target=target,
            methods=methods,
        )

    def drop_after_bytes(
        self, n_bytes: int, times: int | None = 1, path_glob: str | None = None
    ) -> None:
        """Close the connection after ``n_bytes`` of body, for the next ``times`` GETs."""
        self.set_fault(drop_after_bytes=n_bytes, times=times, path_glob=path_glob)

    def stall_after_bytes(
        self, n_bytes: int, seconds: float, times: int | None = 1, path_glob: str | None = None
    ) -> None:
        """Send ``n_bytes``, then nothing for ``seconds``, for the next ``times`` GETs."""
        self.set_fault(
            stall_after_bytes=n_bytes, stall_seconds=seconds, times=times, path_glob=path_glob
        )

    @property
    def faults(self) -> list[Fault]:
        """The active rules (copies)."""
        return self._faults.snapshot()

    def reset_faults(self) -> None:
        self._faults.clear()

    @property
    def stats(self) -> HubStats:
        """A copy of the counters now (see ``HubStats``)."""
        return self._stats.snapshot()

    def reset_stats(self) -> None:
        self._stats.clear()

    # ---------------------------------------------------------------------------------------
    # Serving

    def app(self) -> FakeHubApp:
        """The ASGI app (to mount elsewhere, or to serve with ``httpx.ASGITransport``)."""
        return FakeHubApp(self)

    def serve_in_thread(self, port: int = 0) -> RunningHub:
        """Serve on ``127.0.0.1:port`` (0: a free port) from a daemon thread until ``stop()``."""
        install_log_filter()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((LOOPBACK, port))
        sock.listen(128)
        bound_port = sock.getsockname()[1]
        app = FakeHubApp(self)
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            ws="none",
            timeout_graceful_shutdown=2,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run,
            kwargs={"sockets": [sock]},
            name=f"fake-hub-{bound_port}",
            daemon=True,
        )
        thread.start()
        running = RunningHub(f"http://{LOOPBACK}:{bound_port}", server, thread, app, sock)
        deadline = time.monotonic() + _START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                running.stop()
                raise RuntimeError("the fake Hub did not start")
            thread.join(timeout=0.01)
        return running

    @contextlib.contextmanager
    def serve(self, port: int = 0) -> Iterator[str]:
        """Serve while the block runs; yields the base URL ``http://127.0.0.1:PORT``."""
        running = self.serve_in_thread(port)
        try:
            yield running.url
        finally:
            running.stop()
