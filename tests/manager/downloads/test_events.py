"""The event bus alone: snapshot first, replay after Last-Event-ID, bounded queues, keep-alive,
unsubscribe when the reader goes away."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from manager.downloads.events import EventBus
from manager.downloads.schemas import (
    DownloadJob,
    JobDeletedEvent,
    JobEvent,
    JobStatus,
    SnapshotEvent,
)


def parse(frame: str) -> tuple[str | None, dict[str, Any] | None]:
    event_id = None
    data = None
    for line in frame.splitlines():
        if line.startswith("id: "):
            event_id = line[4:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
    return event_id, data


async def snapshot() -> SnapshotEvent:
    return SnapshotEvent(jobs=[])


async def take(stream: AsyncIterator[str], n: int) -> list[str]:
    return [await asyncio.wait_for(anext(stream), 2) for _ in range(n)]


async def drain(stream: AsyncIterator[str]) -> list[str]:
    """Every frame until the stream ends (it must, within seconds)."""
    async with asyncio.timeout(5):
        return [frame async for frame in stream]


def deleted(job_id: str) -> JobDeletedEvent:
    return JobDeletedEvent(job_id=job_id)


def job(job_id: str, status: JobStatus = JobStatus.DOWNLOADING) -> DownloadJob:
    return DownloadJob(
        id=job_id,
        model_id="org/x",
        revision="main",
        status=status,
        bytes_total=10,
        bytes_done=1,
        bytes_transferred=1,
        files_total=1,
        files_done=0,
        created_at=0.0,
        updated_at=0.0,
    )


def progress(job_id: str, note: str = "") -> JobEvent:
    """A job's event that is not its last (``note`` goes in its model id, to tell them apart)."""
    event = JobEvent(type="progress", job=job(job_id))
    event.job.model_id = f"org/{note or 'x'}"
    return event


def status(job_id: str, value: JobStatus) -> JobEvent:
    return JobEvent(type="status", job=job(job_id, value))


def snapshot_of(*jobs: DownloadJob) -> Any:
    async def take_snapshot() -> SnapshotEvent:
        return SnapshotEvent(jobs=list(jobs))

    return take_snapshot


async def test_snapshot_then_live_events_filtered_by_job() -> None:
    bus = EventBus()
    stream = bus.stream(snapshot, job_id="a", last_event_id=None)
    (first,) = await take(stream, 1)
    assert first.startswith("retry: ")
    assert parse(first)[1] == {"type": "snapshot", "jobs": []}
    assert bus.subscriber_count == 1
    bus.publish("b", deleted("b"))
    bus.publish("a", deleted("a"))
    (frame,) = await take(stream, 1)
    event_id, data = parse(frame)
    assert data == {"type": "deleted", "job_id": "a"}
    assert event_id == bus.event_id(2)
    await stream.aclose()
    assert bus.subscriber_count == 0


async def test_last_event_id_replays_what_was_missed() -> None:
    bus = EventBus()
    first = bus.publish("a", progress("a", "1"))
    bus.publish("a", progress("a", "2"))
    bus.publish("b", progress("b", "x"))
    bus.publish("a", progress("a", "3"))
    stream = bus.stream(snapshot, job_id="a", last_event_id=bus.event_id(first.seq))
    frames = await take(stream, 2)
    assert [parse(f)[1]["job"]["model_id"] for f in frames] == ["org/2", "org/3"]  # type: ignore[index]
    bus.publish("a", deleted("4"))
    assert parse((await take(stream, 1))[0])[1] == {"type": "deleted", "job_id": "4"}
    await stream.aclose()


async def test_a_job_stream_ends_after_the_jobs_last_event() -> None:
    """Reproduction: the stream of one job stayed open after the job completed, so a script
    could not wait on it (``curl -N .../events`` never returned)."""
    for final in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED):
        bus = EventBus()
        stream = bus.stream(snapshot_of(job("a")), job_id="a", last_event_id=None)
        await take(stream, 1)
        bus.publish("a", status("a", JobStatus.PAUSED))
        bus.publish("a", status("a", final))
        bus.publish("a", progress("a"))  # never sent: the stream ended
        frames = await drain(stream)
        assert [parse(f)[1]["job"]["status"] for f in frames] == ["paused", final.value]  # type: ignore[index]
        assert bus.subscriber_count == 0


async def test_a_finished_jobs_stream_ends_at_once_and_all_jobs_stay_open() -> None:
    bus = EventBus(keepalive_s=0.05)
    done = job("a", JobStatus.COMPLETED)
    ended = await drain(bus.stream(snapshot_of(done), job_id="a", last_event_id=None))
    assert [parse(f)[1]["type"] for f in ended] == ["snapshot"]  # type: ignore[index]
    # Reconnecting after the last event: nothing missed, the job is finished: the end.
    last = bus.publish("a", status("a", JobStatus.COMPLETED))
    again = bus.stream(snapshot_of(done), job_id="a", last_event_id=bus.event_id(last.seq))
    assert await drain(again) == []
    # Reconnecting before it: the missed events, the last one included, then the end.
    replay = bus.stream(snapshot_of(done), job_id="a", last_event_id=bus.event_id(last.seq - 1))
    assert len(await drain(replay)) == 1
    every = bus.stream(snapshot_of(done), job_id=None, last_event_id=None)
    await take(every, 1)
    bus.publish("a", status("a", JobStatus.COMPLETED))
    await take(every, 1)
    assert (await take(every, 1))[0] == ": keep-alive\n\n"
    await every.aclose()


async def test_unknown_or_foreign_last_event_id_gets_a_snapshot() -> None:
    bus = EventBus(history=2)
    for i in range(5):
        bus.publish("a", deleted(str(i)))
    for stale in ["other-3", "garbage", bus.event_id(1), bus.event_id(99)]:
        stream = bus.stream(snapshot, job_id=None, last_event_id=stale)
        assert parse((await take(stream, 1))[0])[1] == {"type": "snapshot", "jobs": []}
        await stream.aclose()


async def test_a_slow_subscriber_is_bounded_and_resynchronised() -> None:
    bus = EventBus(queue_size=4)
    stream = bus.stream(snapshot, job_id=None, last_event_id=None)
    await take(stream, 1)
    subscription = next(iter(bus._subscribers))
    for i in range(100):
        bus.publish("a", deleted(str(i)))
    assert subscription.queue.qsize() <= 4
    assert subscription.overflows >= 1
    frames = await take(stream, 1)
    assert parse(frames[0])[1] == {"type": "snapshot", "jobs": []}
    await stream.aclose()


async def test_keep_alive_comment_when_idle() -> None:
    bus = EventBus(keepalive_s=0.05)
    stream = bus.stream(snapshot, job_id=None, last_event_id=None)
    await take(stream, 1)
    assert (await take(stream, 1))[0] == ": keep-alive\n\n"
    await stream.aclose()
    assert bus.subscriber_count == 0


async def test_many_subscribers_each_get_every_event() -> None:
    bus = EventBus()
    streams = [bus.stream(snapshot, job_id=None, last_event_id=None) for _ in range(20)]
    for stream in streams:
        await take(stream, 1)
    bus.publish("a", deleted("a"))
    for stream in streams:
        assert parse((await take(stream, 1))[0])[1] == {"type": "deleted", "job_id": "a"}
        await stream.aclose()
    assert bus.subscriber_count == 0
