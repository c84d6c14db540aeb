"""How events and results cross from the MLX worker thread to the event loops that await them.

A job's events are gathered in the ``Outbox`` as the worker produces them, and those of one
step are handed to each event loop in a single ``call_soon_threadsafe`` call (``flush``), so
the per-token cost on the loop is one wake-up per step, not one per token per request. The
functions below run on the event loop, where ``call_soon_threadsafe`` schedules them.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from inference_server.runtime.events import Event, Failed, Job

_Batch = list[tuple[Job, list[Event]]]


class Outbox:
    """The events produced on the worker thread and not yet handed to their event loops."""

    def __init__(self) -> None:
        self._batches: dict[asyncio.AbstractEventLoop, _Batch] = {}

    def emit(self, job: Job, event: Event) -> None:
        if job.loop is None:  # a follower rank's copy of a request: nobody reads it here
            return
        batch = self._batches.setdefault(job.loop, [])
        if batch and batch[-1][0] is job:
            batch[-1][1].append(event)
        else:
            batch.append((job, [event]))

    def finish(self, job: Job, event: Event) -> None:
        """Emit the job's last event: the worker is done with it."""
        job.finished = True
        self.emit(job, event)

    def flush(self) -> None:
        if not self._batches:
            return
        batches, self._batches = self._batches, {}
        for loop, batch in batches.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is listening
                loop.call_soon_threadsafe(deliver, batch)


def end(job: Job, error: BaseException) -> None:
    """Fail ``job`` from the event loop's side (the worker may never reach it)."""
    if job.finished or job.loop is None:
        return
    job.finished = True
    events: list[Event] = [Failed(error)]
    job.loop.call_soon_threadsafe(deliver, [(job, events)])


def deliver(batch: _Batch) -> None:
    for job, events in batch:
        job.queue.put_nowait(events)


def set_result(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
