"""Server-sent events for downloads: jobs publish, any number of subscribers observe.

- Every event gets an id ``<boot>-<seq>``; the last ``history`` events are kept, so a client
  reconnecting with ``Last-Event-ID`` gets what it missed. An unknown id (another process,
  or too old) gets a snapshot instead.
- A new connection starts with a snapshot of the current state.
- Each subscriber has a bounded queue. One that falls behind loses its queue and gets a fresh
  snapshot when it catches up; it never makes the publisher wait or memory grow.
- A comment line is sent after ``keepalive_s`` of silence so proxies keep the stream open.
- Disconnecting ends the generator, which unsubscribes; nothing is left behind.
- The stream of one job ends after the job's last event (``completed``, ``failed`` or
  ``cancelled``, or ``deleted``), so a script can wait on it; connecting to a finished job
  sends its snapshot and ends. The stream of all jobs stays open.

Jobs run on their own; a stream only observes.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import deque
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass

from pydantic import BaseModel

from manager.downloads.schemas import JobDeletedEvent, JobEvent, SnapshotEvent


@dataclass(frozen=True)
class Event:
    seq: int
    job_id: str
    data: str
    final: bool = False  # nothing more will come for this job


def is_final(payload: BaseModel) -> bool:
    """A finished job's status, or its removal: the last event of that job."""
    if isinstance(payload, JobDeletedEvent):
        return True
    if not isinstance(payload, JobEvent):
        return False
    return payload.type == "status" and payload.job.status.finished


def all_finished(snapshot: SnapshotEvent) -> bool:
    return bool(snapshot.jobs) and all(job.status.finished for job in snapshot.jobs)


class _Resync:
    """Put in a subscriber's queue after it overflowed: send a snapshot."""


RESYNC = _Resync()
SnapshotFn = Callable[[], Awaitable[SnapshotEvent]]


class Subscription:
    def __init__(self, job_id: str | None, queue_size: int) -> None:
        self.job_id = job_id
        self.queue: asyncio.Queue[Event | _Resync] = asyncio.Queue(maxsize=queue_size)
        self.overflows = 0

    def wants(self, event: Event) -> bool:
        return self.job_id is None or self.job_id == event.job_id

    def offer(self, event: Event) -> None:
        if not self.wants(event):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # Fallen behind: drop what is queued; a snapshot replaces it.
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(RESYNC)
            self.overflows += 1


def frame(event_id: str, data: str) -> str:
    return f"id: {event_id}\ndata: {data}\n\n"


class EventBus:
    def __init__(
        self, *, history: int = 1024, queue_size: int = 256, keepalive_s: float = 15.0
    ) -> None:
        self.boot = uuid.uuid4().hex[:8]
        self._seq = 0
        self._history: deque[Event] = deque(maxlen=history)
        self._subscribers: set[Subscription] = set()
        self._queue_size = queue_size
        self.keepalive_s = keepalive_s

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def event_id(self, seq: int) -> str:
        return f"{self.boot}-{seq}"

    def publish(self, job_id: str, payload: BaseModel) -> Event:
        self._seq += 1
        event = Event(self._seq, job_id, payload.model_dump_json(), is_final(payload))
        self._history.append(event)
        for subscriber in self._subscribers:
            subscriber.offer(event)
        return event

    def subscribe(self, job_id: str | None = None) -> Subscription:
        subscription = Subscription(job_id, self._queue_size)
        self._subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def missed(self, last_event_id: str, job_id: str | None) -> list[Event] | None:
        """Events after ``last_event_id`` for the filter; None when they cannot be known."""
        boot, _, seq_text = last_event_id.strip().rpartition("-")
        try:
            seq = int(seq_text)
        except ValueError:
            return None
        if boot != self.boot or seq > self._seq or seq < 0:
            return None
        if self._history and seq < self._history[0].seq - 1:
            return None  # older than what is kept
        return [e for e in self._history if e.seq > seq and (job_id is None or e.job_id == job_id)]

    async def stream(
        self, snapshot: SnapshotFn, *, job_id: str | None, last_event_id: str | None
    ) -> AsyncGenerator[str, None]:
        """The SSE text of one subscriber, until the client goes away (or, for one job, until
        its last event is sent)."""
        subscription = self.subscribe(job_id)
        ends = job_id is not None
        try:
            replay = self.missed(last_event_id, job_id) if last_event_id else None
            if replay is None:
                last = self._seq
                state = await snapshot()
                yield "retry: 2000\n" + frame(self.event_id(last), state.model_dump_json())
                if ends and all_finished(state):
                    return
            else:
                last = replay[-1].seq if replay else self._seq
                for event in replay:
                    yield frame(self.event_id(event.seq), event.data)
                    if ends and event.final:
                        return
                # Nothing final missed, yet the job is finished: the client saw its end.
                if ends and all_finished(await snapshot()):
                    return
            while True:
                try:
                    async with asyncio.timeout(self.keepalive_s):
                        item = await subscription.queue.get()
                except TimeoutError:
                    yield ": keep-alive\n\n"
                    continue
                if isinstance(item, _Resync):
                    last = self._seq
                    state = await snapshot()
                    yield frame(self.event_id(last), state.model_dump_json())
                    if ends and all_finished(state):
                        return
                    continue
                if item.seq <= last:
                    continue
                last = item.seq
                yield frame(self.event_id(item.seq), item.data)
                if ends and item.final:
                    return
        finally:
            self.unsubscribe(subscription)
