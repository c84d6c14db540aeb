"""The fake Hub's HTTP side: a plain ASGI app over a ``FakeHub``'s repos, faults and stats.

Routing is done on the raw (still percent-encoded) path, as the Hub does: a revision such as
``refs%2Fpr%2F1`` is one segment, and repo ids are ``name`` or ``org/name``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import re
import threading
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from modelyard_dev.fake_hub.content import CHUNK_SIZE, FakeFile
from modelyard_dev.fake_hub.faults import BodyPlan, Fault
from modelyard_dev.fake_hub.repos import (
    EXPAND_PROPERTIES,
    LIST_PROPERTIES,
    SORTS,
    FakeCommit,
    FakeRepo,
    entry_json,
    matches,
    model_json,
    tree_entries,
)

if TYPE_CHECKING:
    from modelyard_dev.fake_hub.hub import FakeHub

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

_TRUE = {"1", "true", "yes"}
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
_WHOLE = (-1, -1)  # a Range header that is ignored
_TICK = 0.05  # seconds between checks for a client gone or a server stopping


class DropConnection(Exception):
    """Raised inside the app to make the server close the connection mid-body."""


class _QuietDrops(logging.Filter):
    """Keep the server's log free of the tracebacks of connections dropped on purpose."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, DropConnection)


_QUIET_DROPS = _QuietDrops()


def install_log_filter() -> None:
    logger = logging.getLogger("uvicorn.error")
    if _QUIET_DROPS not in logger.filters:
        logger.addFilter(_QUIET_DROPS)


class HubError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers = headers or {}

    def response(self) -> Response:
        headers = dict(self.headers)
        if self.code:
            headers["X-Error-Code"] = self.code
        headers["X-Error-Message"] = self.message
        return JSONResponse({"error": self.message}, self.status, headers=headers)


def _is_true(value: str | None) -> bool:
    return value is not None and value.lower() in _TRUE


def _int_param(request: Request, name: str, default: int) -> int:
    value = request.query_params.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise HubError(400, f"Invalid value for {name}: {value!r}") from None


def _encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        offset = json.loads(base64.urlsafe_b64decode(cursor.encode()))["offset"]
    except (ValueError, KeyError, TypeError):
        raise HubError(400, "Invalid cursor") from None
    if not isinstance(offset, int) or offset < 0:
        raise HubError(400, "Invalid cursor")
    return offset


def _page(request: Request, items: list[Any], page_size: int) -> tuple[list[Any], dict[str, str]]:
    """One page of ``items`` and the ``Link`` header to the next page, if any."""
    offset = _decode_cursor(request.query_params.get("cursor"))
    page = items[offset : offset + page_size]
    headers: dict[str, str] = {}
    if offset + page_size < len(items):
        next_url = request.url.include_query_params(cursor=_encode_cursor(offset + page_size))
        headers["Link"] = f'<{next_url}>; rel="next"'
    return page, headers


class FakeHubApp:
    """ASGI app serving one ``FakeHub``."""

    def __init__(self, hub: FakeHub) -> None:
        self.hub = hub
        self.closing = threading.Event()  # set when the server stops: bodies end at once

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        raw = raw_path.split(b"?", 1)[0].decode("latin-1")
        segments = [unquote(part) for part in raw.strip("/").split("/")] if raw.strip("/") else []
        request = Request(scope, receive)
        if segments[:1] == ["_fake"]:
            response = await self._control(request, segments[1:])
        elif segments[:1] == ["api"]:
            response = await self._api(request, segments[1:])
        else:
            try:
                await self._resolve(request, segments, receive, send)
            except HubError as error:
                await error.response()(scope, receive, send)
            return
        await response(scope, receive, send)

    # ---------------------------------------------------------------------------------------
    # /_fake: control and inspection

    async def _control(self, request: Request, segments: list[str]) -> Response:
        hub, route = self.hub, "/".join(segments)
        if route == "stats" and request.method == "GET":
            return JSONResponse(hub.stats.to_dict())
        if route == "reset" and request.method == "POST":
            hub.reset_faults()
            hub.reset_stats()
            return JSONResponse({"ok": True})
        if route == "faults" and request.method == "GET":
            return JSONResponse([fault.to_dict() for fault in hub.faults])
        if route == "faults" and request.method == "DELETE":
            hub.reset_faults()
            return JSONResponse({"ok": True})
        if route == "faults" and request.method == "POST":
            try:
                body = json.loads(await request.body())
                for spec in body if isinstance(body, list) else [body]:
                    if "methods" in spec and spec["methods"] is not None:
                        spec["methods"] = tuple(spec["methods"])
                    hub.set_fault(**spec)
            except (ValueError, TypeError, AttributeError) as error:
                return JSONResponse({"error": str(error)}, 400)
            return JSONResponse([fault.to_dict() for fault in hub.faults])
        return JSONResponse({"error": "Not Found"}, 404)

    # ---------------------------------------------------------------------------------------
    # /api/models

    async def _api(self, request: Request, segments: list[str]) -> Response:
        path = request.url.path
        try:
            response = await self._api_response(request, segments)
        except HubError as error:
            response = error.response()
        self.hub._stats.api_call(
            request.method, path, request.query_params.multi_items(), response.status_code
        )
        return response

    async def _api_response(self, request: Request, segments: list[str]) -> Response:
        subjects = [request.url.path]
        failure = self.hub._faults.take_failure("api", request.method, subjects)
        if failure is not None:
            return _failure_response(failure)
        if self.hub._faults.garbage_json(subjects):
            return Response(b'{"id": "trunc', 200, media_type="application/json")
        if segments[:1] != ["models"]:
            raise HubError(404, "Not Found")
        rest = segments[1:]
        if not rest:
            if request.method != "GET":
                raise HubError(405, "Method Not Allowed")
            return self._list_models(request)
        for i in (1, 2):
            if len(rest) > i and rest[i] in ("tree", "paths-info", "revision", "refs"):
                repo_id, action, args = "/".join(rest[:i]), rest[i], rest[i + 1 :]
                break
        else:
            if len(rest) > 2:
                raise HubError(404, "Not Found")
            repo_id, action, args = "/".join(rest), "info", []
        repo = self._repo(repo_id, request)
        if action in ("info", "revision", "refs", "tree") and request.method != "GET":
            raise HubError(405, "Method Not Allowed")
        if action == "refs" and not args:
            branches = [
                {"name": name, "ref": f"refs/heads/{name}", "targetCommit": sha}
                for name, sha in sorted(repo.refs.items())
            ]
            return JSONResponse({"branches": branches, "converts": [], "tags": []})
        if action == "info" or (action == "revision" and len(args) >= 1):
            revision = "/".join(args) if action == "revision" else None
            return self._model_info(request, repo, self._commit(repo, revision))
        if action == "tree" and args:
            return self._tree(request, repo, self._commit(repo, args[0]), "/".join(args[1:]))
        if action == "paths-info" and len(args) == 1 and request.method == "POST":
            return await self._paths_info(request, repo, self._commit(repo, args[0]))
        raise HubError(404, "Not Found")

    def _token(self, request: Request) -> str | None:
        auth = request.headers.get("authorization", "")
        return auth[7:].strip() if auth.lower().startswith("bearer ") else None

    def _repo(self, repo_id: str, request: Request) -> FakeRepo:
        repo = self.hub.repos.get(repo_id)
        if repo is None:
            raise HubError(404, "Repository not found", "RepoNotFound")
        if repo.private and self._token(request) not in self.hub.valid_tokens:
            raise HubError(401, "Repository not found", "RepoNotFound")  # as the Hub: no leak
        return repo

    def _commit(self, repo: FakeRepo, revision: str | None) -> FakeCommit:
        commit = repo.resolve(revision)
        if commit is None:
            raise HubError(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        return commit

    def _expand(self, request: Request) -> list[str] | None:
        expand = request.query_params.getlist("expand") + request.query_params.getlist("expand[]")
        unknown = sorted(set(expand) - EXPAND_PROPERTIES)
        if unknown:
            raise HubError(400, f'"expand" must be one of {sorted(EXPAND_PROPERTIES)}: {unknown}')
        return expand or None

    def _list_models(self, request: Request) -> Response:
        params = request.query_params
        expand = self._expand(request)
        full, config, card = (_is_true(params.get(k)) for k in ("full", "config", "cardData"))
        if expand and (full or config or card):
            raise HubError(400, "expand cannot be combined with full, config or cardData")
        properties: set[str] = set(expand) if expand else set(LIST_PROPERTIES)
        if full:
            properties |= {"siblings", "cardData", "disabled", "usedStorage"}
        if config:
            properties.add("config")
        if card:
            properties.add("cardData")
        sort = params.get("sort")
        if sort is not None and sort not in SORTS:
            raise HubError(400, f'"sort" must be one of {sorted(SORTS)}')
        direction = _int_param(request, "direction", -1)
        limit = _int_param(request, "limit", self.hub.page_size)
        if limit < 1:
            raise HubError(400, '"limit" must be positive')
        repos = [
            repo
            for repo in list(self.hub.repos.values())
            if matches(
                repo,
                search=params.get("search"),
                author=params.get("author"),
                filters=params.getlist("filter"),
                pipeline_tag=params.get("pipeline_tag"),
                gated=None if params.get("gated") is None else _is_true(params.get("gated")),
            )
        ]
        if sort is not None:
            attribute = SORTS[sort]
            repos.sort(key=lambda repo: getattr(repo, attribute), reverse=direction < 0)
        page, headers = _page(request, repos, min(limit, self.hub.page_size))
        body = [model_json(repo, repo.head, properties) for repo in page]
        return JSONResponse(body, headers=headers)

    def _model_info(self, request: Request, repo: FakeRepo, commit: FakeCommit) -> Response:
        expand = self._expand(request)
        blobs = _is_true(request.query_params.get("blobs"))
        return JSONResponse(model_json(repo, commit, expand, blobs=blobs))

    def _tree(self, request: Request, repo: FakeRepo, commit: FakeCommit, path: str) -> Response:
        recursive = _is_true(request.query_params.get("recursive"))
        expand = _is_true(request.query_params.get("expand"))
        entries = tree_entries(commit, path, recursive=recursive)
        if entries is None:
            file = commit.files.get(path)
            if file is None:
                raise HubError(404, f"{path} does not exist on {commit.sha}", "EntryNotFound")
            entries = [(path, file)]
        page_size = min(self.hub.page_size, 50) if expand else self.hub.page_size
        page, headers = _page(request, entries, page_size)
        body = [entry_json(repo, commit, p, f, expand=expand) for p, f in page]
        return JSONResponse(body, headers=headers)

    async def _paths_info(self, request: Request, repo: FakeRepo, commit: FakeCommit) -> Response:
        raw = await request.body()
        if request.headers.get("content-type", "").startswith("application/json"):
            try:
                data = json.loads(raw)
                paths = [str(p) for p in data.get("paths", [])]
                expand = bool(data.get("expand", False))
            except (ValueError, AttributeError):
                raise HubError(400, "Invalid JSON body") from None
        else:
            form = parse_qsl(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
            paths = [value for key, value in form if key in ("paths", "paths[]")]
            expand = any(_is_true(value) for key, value in form if key == "expand")
        out = []
        for path in paths:
            path = path.strip("/")
            file = commit.files.get(path)
            if file is not None:
                out.append(entry_json(repo, commit, path, file, expand=expand))
            elif path and tree_entries(commit, path, recursive=False) is not None:
                out.append(entry_json(repo, commit, path, None, expand=expand))
        return JSONResponse(out)

    # ---------------------------------------------------------------------------------------
    # /{repo_id}/resolve/{revision}/{path}

    async def _resolve(
        self, request: Request, segments: list[str], receive: Receive, send: Send
    ) -> None:
        for i in (1, 2):
            if len(segments) > i + 2 and segments[i] == "resolve":
                repo_id, revision = "/".join(segments[:i]), segments[i + 1]
                path = "/".join(segments[i + 2 :])
                break
        else:
            raise HubError(404, "Not Found")
        if request.method not in ("GET", "HEAD"):
            raise HubError(405, "Method Not Allowed")
        repo = self._repo(repo_id, request)
        commit = self._commit(repo, revision)
        self._check_access(request, repo)
        file = commit.files.get(path)
        if file is None:
            raise HubError(
                404, "Entry not found", "EntryNotFound", headers={"X-Repo-Commit": commit.sha}
            )
        await self._send_file(request, repo, commit, file, receive, send)

    def _check_access(self, request: Request, repo: FakeRepo) -> None:
        if not repo.gated:
            return
        token = self._token(request)
        if token is not None and token in self.hub.valid_tokens:
            return
        message = (
            f"Access to model {repo.repo_id} is restricted. You must have access to it and be "
            "authenticated to access it. Please log in."
            if token is None
            else f"Access to model {repo.repo_id} is restricted and you are not in the "
            "authorized list."
        )
        raise HubError(401 if token is None else 403, message, "GatedRepo")

    async def _send_file(
        self,
        request: Request,
        repo: FakeRepo,
        commit: FakeCommit,
        file: FakeFile,
        receive: Receive,
        send: Send,
    ) -> None:
        key = f"{repo.repo_id}/{file.path}"
        subjects = [file.path, key]
        stats, faults = self.hub._stats, self.hub._faults
        method = request.method
        range_header = request.headers.get("range")
        stats.file_request(key, method, range_header)

        failure = faults.take_failure("resolve", method, subjects)
        if failure is not None:
            stats.file_status(key, failure.status)
            await _failure_response(failure)(request.scope, receive, send)
            return

        headers = [
            ("x-repo-commit", commit.sha),
            ("etag", f'"{file.etag}"'),
            ("accept-ranges", "bytes"),
            ("content-type", "application/octet-stream"),
        ]
        if file.lfs:
            headers += [("x-linked-etag", f'"{file.sha256}"'), ("x-linked-size", str(file.size))]
        if method == "HEAD":
            stats.file_status(key, 200)
            headers.append(("content-length", str(file.size)))
            await _start(send, 200, headers)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return

        plan = faults.take_body_plan(subjects)
        status, start, end = 200, 0, file.size
        if range_header is not None and not plan.ignore_range:
            parsed = _parse_range(range_header, file.size)
            if parsed is None:
                stats.file_status(key, 416)
                error = HubError(416, "Requested Range Not Satisfiable")
                error.headers["Content-Range"] = f"bytes */{file.size}"
                await error.response()(request.scope, receive, send)
                return
            if parsed != _WHOLE:
                status, (start, end) = 206, parsed
                headers.append(("content-range", f"bytes {start}-{end - 1}/{file.size}"))
        headers.append(("content-length", str(end - start)))
        stats.file_status(key, status)
        await _start(send, status, headers)
        await self._stream(file, start, end, plan, key, receive, send)

    async def _stream(
        self,
        file: FakeFile,
        start: int,
        end: int,
        plan: BodyPlan,
        key: str,
        receive: Receive,
        send: Send,
    ) -> None:
        gone = asyncio.Event()

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()

        watcher = asyncio.create_task(watch())
        try:
            await self._stream_body(file, start, end, plan, key, gone, send)
        finally:
            watcher.cancel()

    async def _stream_body(
        self,
        file: FakeFile,
        start: int,
        end: int,
        plan: BodyPlan,
        key: str,
        gone: asyncio.Event,
        send: Send,
    ) -> None:
        length = end - start
        cut = length
        if plan.drop_after is not None:
            cut = min(cut, plan.drop_after)
        if plan.truncate:
            cut = min(cut, length // 2)
        chunk_size = CHUNK_SIZE
        if plan.throttle_bps:
            chunk_size = max(1, min(CHUNK_SIZE, plan.throttle_bps // 20))
        stall_at = plan.stall_after
        loop = asyncio.get_running_loop()
        began = loop.time()
        sent = 0
        while sent < cut:
            if gone.is_set() or self.closing.is_set():
                if gone.is_set():
                    self.hub._stats.file_disconnect(key)
                raise DropConnection
            n = min(chunk_size, cut - sent)
            if stall_at is not None and sent < stall_at:
                n = min(n, stall_at - sent)
            chunk = file.read(start + sent, start + sent + n)
            if plan.corrupt and sent == 0 and chunk:
                chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            sent += n
            self.hub._stats.file_bytes(key, n)
            await asyncio.sleep(0)  # let the disconnect watcher run
            if stall_at is not None and sent >= stall_at:
                await self._pause(plan.stall_seconds, gone)
                stall_at = None
            if plan.throttle_bps:
                await self._pause(began + sent / plan.throttle_bps - loop.time(), gone)
        if cut < length:
            raise DropConnection
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _pause(self, seconds: float, gone: asyncio.Event) -> None:
        """Sleep, waking early when the client leaves or the server stops."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while (left := deadline - loop.time()) > 0:
            if gone.is_set() or self.closing.is_set():
                return
            await asyncio.sleep(min(left, _TICK))


def _parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(start, end)`` (end exclusive) for a single ``bytes=`` range, ``None`` when it cannot
    be satisfied, ``_WHOLE`` for a header this server does not act on (several ranges, another
    unit): the whole file is then sent with 200, as HTTP allows."""
    match = _RANGE.match(header.strip())
    if match is None or (not match.group(1) and not match.group(2)):
        return _WHOLE
    first, last = match.group(1), match.group(2)
    if not first:  # suffix: the last N bytes
        n = int(last)
        return (max(0, size - n), size) if n > 0 and size > 0 else None
    start = int(first)
    if last and int(last) < start:
        return _WHOLE  # syntactically invalid: ignored
    if start >= size:
        return None
    return (start, size if not last else min(size, int(last) + 1))


def _failure_response(fault: Fault) -> Response:
    headers = {}
    if fault.retry_after is not None:
        retry = fault.retry_after
        headers["Retry-After"] = str(int(retry) if float(retry).is_integer() else retry)
    return JSONResponse({"error": f"Injected failure ({fault.status})"}, fault.status, headers)


async def _start(send: Send, status: int, headers: list[tuple[str, str]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(k.encode("latin-1"), v.encode("latin-1")) for k, v in headers],
        }
    )
