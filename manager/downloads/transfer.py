"""Bytes on the wire: the missing bytes of one file, from the Hub into its partial file.

For the engine (``engine.py``), which has opened and re-hashed the partial, a transfer

1. asks for the rest with ``Range: bytes=<len>-``; a 206 appends, a 200 (Range ignored)
   truncates and starts over, a 416 on a full partial goes straight to verification;
2. hashes while it writes: one worker thread per file streams the body with a blocking httpx
   client and writes and hashes each chunk as it comes off the socket (per-chunk work in a
   thread costs far less than async reads handed to a thread; the event loop only waits).

Transient failures (connect errors, timeouts, dropped connections, 5xx, 429 with
``Retry-After``) are retried with tenacity: exponential backoff with jitter, at most
``retries`` failures in a row without progress (a try that moved bytes starts the count
again). No bytes for ``stall_timeout_s`` is a read timeout: reconnect and resume. Any other
failed answer (401/403/404...) fails at once, mapped by :mod:`manager.hub.errors`. ``ENOSPC``
fails with ``INSUFFICIENT_STORAGE`` and keeps the partial.

Cancelling a transfer (pause, cancel, shutdown) stops its stream at once: the thread is told
to write nothing more (it checks under a lock before every write) and its socket is shut
down, which wakes a read that is waiting for bytes; the thread then ends on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type

from manager.downloads.file_state import FileState
from manager.downloads.partial import PartialFile, write_error
from manager.downloads.plan import RemoteFile
from manager.downloads.retry import Transient, backoff_delay
from manager.errors import HubUnavailableError
from manager.hub.errors import (
    is_retryable,
    parse_retry_after,
    retry_after_header,
    status_error,
)
from manager.metrics import ManagerMetrics

logger = logging.getLogger(__name__)

METRICS_EVERY = 4 << 20  # bytes counted in the metrics at a time

IoFn = Callable[..., Awaitable[Any]]


class _Oversize(Exception):
    """The server sent more bytes than the file has."""


@dataclass
class _Streak:
    """Failures in a row without progress; decides tenacity's stop and wait."""

    retries: int
    initial: float
    maximum: float
    failures: int = 0
    last_error: Transient | None = field(default=None, repr=False)

    def stop(self, _state: RetryCallState) -> bool:
        return self.failures > self.retries

    def wait(self, _state: RetryCallState) -> float:
        if self.last_error is not None and self.last_error.retry_after is not None:
            return self.last_error.retry_after
        return backoff_delay(self.failures, self.initial, self.maximum)


class Transfer:
    """GETs the missing bytes of files into their partials, with retries; shared by all jobs.

    ``io`` runs blocking file work in the engine's I/O pool; ``sleep`` waits between retries
    (a seam for tests)."""

    def __init__(
        self,
        *,
        endpoint: str,
        token: str | None,
        stall_timeout_s: float,
        metrics: ManagerMetrics,
        retries: int,
        backoff_s: float,
        backoff_max_s: float,
        workers: int,
        io: IoFn,
    ) -> None:
        self._endpoint = endpoint.rstrip("/")
        self._metrics = metrics
        self._retries = retries
        self._backoff = (backoff_s, backoff_max_s)
        self._io = io
        # Bodies are read by blocking calls in threads of their own (one per file in flight;
        # room for as many again that were stopped and have not ended yet), with a blocking
        # client of their own: bytes as sent (no compression), the read timeout is the stall
        # timeout, redirects followed, the environment's proxies honoured.
        self._stream_pool = ThreadPoolExecutor(
            max_workers=2 * workers, thread_name_prefix="download-stream"
        )
        headers = {"User-Agent": "modelyard/0.1", "Accept-Encoding": "identity"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self._sync_client = httpx.Client(
            headers=headers,
            timeout=httpx.Timeout(connect=10.0, read=stall_timeout_s, write=30.0, pool=None),
            follow_redirects=True,
            limits=httpx.Limits(max_connections=2 * workers, max_keepalive_connections=workers),
        )
        self._streams: set[_Stream] = set()
        self.sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def stop(self) -> None:
        """Stop every stream and wait for their threads to end."""
        for stream in list(self._streams):
            stream.stop()
        self._stream_pool.shutdown(wait=True)

    def close(self) -> None:
        self._sync_client.close()

    def url(self, model_id: str, commit: str, file: RemoteFile) -> str:
        return f"{self._endpoint}/{model_id}/resolve/{commit}/{quote(file.path, safe='/')}"

    async def fetch_missing(
        self, model_id: str, commit: str, state: FileState, partial: PartialFile
    ) -> None:
        """Fetch the missing bytes with retries (until ``partial.size == file.size``)."""
        streak = _Streak(self._retries, *self._backoff)

        def before_sleep(retry_state: RetryCallState) -> None:
            error = streak.last_error
            reason = error.reason if error is not None else "unknown"
            state.retries += 1
            self._metrics.download_retries.labels(reason).inc()
            logger.info(
                "retrying %s/%s after %s (%s in a row)",
                model_id,
                state.file.path,
                error.message if error else reason,
                streak.failures,
            )

        try:
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type(Transient),
                stop=streak.stop,
                wait=streak.wait,
                before_sleep=before_sleep,
                sleep=self.sleep,
                reraise=True,
            ):
                with attempt:
                    before = partial.size
                    try:
                        await self._stream_once(model_id, commit, state, partial)
                    except Transient as exc:
                        streak.failures = 1 if partial.size > before else streak.failures + 1
                        streak.last_error = exc
                        raise
        except Transient as exc:
            raise HubUnavailableError(
                f"'{state.file.path}' of '{model_id}' could not be fetched: {exc.message} "
                f"({streak.failures} failures in a row)",
                details={"model_id": model_id, "path": state.file.path, "reason": exc.reason},
                headers=retry_after_header(exc.retry_after),
                resolution_steps=[
                    "Check the network and the Hub's status, then resume the download.",
                ],
            ) from exc

    def _check_status(self, response: httpx.Response, model_id: str, file: RemoteFile) -> None:
        status = response.status_code
        if status in (200, 206, 416):
            return
        if is_retryable(status):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise Transient(f"http_{status}", f"HTTP {status}", retry_after=retry_after)
        raise status_error(
            status, response.headers, endpoint=self._endpoint, model_id=model_id, path=file.path
        )

    async def _stream_once(
        self, model_id: str, commit: str, state: FileState, partial: PartialFile
    ) -> None:
        stream = _Stream(self, self.url(model_id, commit, state.file), model_id, state, partial)
        self._streams.add(stream)
        try:
            await asyncio.get_running_loop().run_in_executor(self._stream_pool, stream.run)
        except asyncio.CancelledError:
            # The thread may be in the middle of a write: once stop() returns it writes no
            # more, so the caller may close or remove the partial.
            await self._io(stream.stop)
            raise
        except _Oversize:
            # More bytes than the file has: let verification discard it.
            state.bytes_done = partial.size
            return
        except OSError as exc:
            state.bytes_done = partial.size
            raise write_error(exc, state.file, model_id) from exc
        except httpx.ReadTimeout as exc:
            raise Transient("stall", "no bytes received in time") from exc
        except httpx.TimeoutException as exc:
            raise Transient("timeout", f"{type(exc).__name__}") from exc
        except httpx.TransportError as exc:
            raise Transient("connection", f"{type(exc).__name__}: {exc}") from exc
        finally:
            self._streams.discard(stream)
        if partial.size < state.file.size:
            raise Transient("incomplete", f"the body ended at {partial.size} of {state.file.size}")


class _Stopped(Exception):
    """The fetch was cancelled while its thread was between steps."""


class _Stream:
    """One GET of the missing bytes, run by a worker thread (``run``) that reads, writes and
    hashes each chunk as it arrives; ``stop`` may be called from any thread."""

    def __init__(
        self,
        transfer: Transfer,
        url: str,
        model_id: str,
        state: FileState,
        partial: PartialFile,
    ) -> None:
        self._transfer = transfer
        self._url = url
        self._model_id = model_id
        self._state = state
        self._partial = partial
        self._lock = threading.Lock()  # held for every change to the partial file
        self._stopped = False
        self._socket: socket.socket | None = None

    def stop(self) -> None:
        """No write happens after this returns; a read waiting for bytes wakes up."""
        with self._lock:
            self._stopped = True
            if self._socket is not None:
                # Under the lock: the socket is only set while this stream's response is
                # open, never once its connection went back to the pool for another file.
                # The plain socket's shutdown (not a TLS wrapper's, which would drop its state
                # under the reading thread): the read returns end-of-stream at once.
                with contextlib.suppress(OSError):
                    socket.socket.shutdown(self._socket, socket.SHUT_RDWR)

    def _change(self, fn: Callable[..., Any], *args: Any) -> None:
        with self._lock:
            if self._stopped:
                raise _Stopped
            fn(*args)

    def run(self) -> None:
        with contextlib.suppress(_Stopped):
            self._run()

    def _run(self) -> None:
        offset = self._partial.size
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        with self._transfer._sync_client.stream("GET", self._url, headers=headers) as response:
            try:
                self._read(response)
            finally:
                with self._lock:
                    self._socket = None

    def _read(self, response: httpx.Response) -> None:
        transfer, state, partial = self._transfer, self._state, self._partial
        file = state.file
        offset = partial.size
        stream = response.extensions.get("network_stream")
        with self._lock:
            if self._stopped:
                raise _Stopped
            if stream is not None:
                self._socket = stream.get_extra_info("socket")
        transfer._check_status(response, self._model_id, file)
        if response.status_code == 416:
            if offset >= file.size:
                return
            self._change(partial.reset)
            state.bytes_done = 0
            raise Transient("range", "the server refused the range")
        if response.status_code == 200 and offset:
            # Range ignored: the body starts at byte 0.
            transfer._metrics.download_retries.labels("range_ignored").inc()
            self._change(partial.reset)
            offset = 0
            state.bytes_done = 0
        elif response.status_code == 206 and not _range_starts_at(response, offset):
            self._change(partial.reset)
            state.bytes_done = 0
            raise Transient("range", "the server answered another range")
        counter = transfer._metrics.download_bytes
        uncounted = 0
        try:
            # Chunks are written as they come (up to 64 KiB, still in the CPU's cache for
            # the hash); nothing received is held back, so a kill loses only what the
            # kernel had buffered.
            for chunk in response.iter_raw():
                size = len(chunk)
                if offset + size > file.size:
                    raise _Oversize
                with self._lock:
                    if self._stopped:
                        raise _Stopped
                    partial.write(chunk)
                offset += size
                state.bytes_done = offset
                state.transferred += size
                uncounted += size
                if uncounted >= METRICS_EVERY:
                    counter.inc(uncounted)
                    uncounted = 0
        finally:
            counter.inc(uncounted)


def _range_starts_at(response: httpx.Response, offset: int) -> bool:
    value = response.headers.get("Content-Range", "")
    try:
        unit, rest = value.split(" ", 1)
        start = int(rest.split("-", 1)[0])
    except ValueError:
        return False
    return unit == "bytes" and start == offset
