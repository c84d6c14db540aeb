"""INFO lines that follow a download: its start (files, bytes), its progress every 10 % or
30 s, its end (time, speed, how the files were verified). Fed with the job states the
download manager publishes; keeps one small record per job while it runs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import BaseModel

from manager.downloads.events import Event, EventBus
from manager.downloads.schemas import DownloadJob, JobEvent, JobStatus

logger = logging.getLogger("manager.downloads")

STEP = 0.10
INTERVAL_S = 30.0


def _mb(n: float) -> str:
    return f"{n / 1e6:.1f} MB"


@dataclass
class _Seen:
    fraction: float
    logged_at: float


class DownloadLog:
    """Observes published job events and writes the lines worth keeping."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._jobs: dict[str, _Seen] = {}

    def observe(self, payload: BaseModel) -> None:
        if isinstance(payload, JobEvent):
            self.job(payload.job)

    def job(self, job: DownloadJob) -> None:
        seen = self._jobs.get(job.id)
        fraction = job.bytes_done / job.bytes_total if job.bytes_total else 1.0
        if job.status == JobStatus.DOWNLOADING and seen is None:
            self._jobs[job.id] = _Seen(fraction, self._clock())
            logger.info(
                "download started: %s@%s, %d files, %s (%s already on disk)",
                job.model_id,
                job.revision,
                job.files_total,
                _mb(job.bytes_total),
                _mb(job.bytes_done),
                extra={"job_id": job.id, "model_id": job.model_id, "bytes": job.bytes_total},
            )
        elif job.status == JobStatus.DOWNLOADING and seen is not None:
            now = self._clock()
            if fraction - seen.fraction >= STEP or now - seen.logged_at >= INTERVAL_S:
                seen.fraction, seen.logged_at = fraction, now
                speed = f", {_mb(job.speed_bps)}/s" if job.speed_bps else ""
                logger.info(
                    "download progress: %s %.0f%% (%s of %s%s)",
                    job.model_id,
                    fraction * 100,
                    _mb(job.bytes_done),
                    _mb(job.bytes_total),
                    speed,
                    extra={"job_id": job.id, "model_id": job.model_id},
                )
        elif (job.status.finished or job.status == JobStatus.PAUSED) and (
            self._jobs.pop(job.id, None) is not None or job.status == JobStatus.COMPLETED
        ):
            self._finished(job)

    def _finished(self, job: DownloadJob) -> None:
        extra = {"job_id": job.id, "model_id": job.model_id}
        if job.status != JobStatus.COMPLETED:
            # A failure is logged with its cause where it happens.
            if job.status != JobStatus.FAILED:
                logger.info("download %s: %s", job.status.value, job.model_id, extra=extra)
            return
        elapsed = (job.finished_at or 0) - (job.started_at or job.created_at)
        speed = job.bytes_transferred / elapsed if elapsed > 0 else 0.0
        by_sha256 = sum(1 for f in job.files if f.lfs)
        logger.info(
            "download completed: %s, %d files, %s in %.1f s (%s/s), every file verified "
            "(%d by sha256, %d by git blob sha1)",
            job.model_id,
            job.files_total,
            _mb(job.bytes_total),
            elapsed,
            _mb(speed),
            by_sha256,
            job.files_total - by_sha256,
            extra=extra,
        )


class LoggedEventBus(EventBus):
    """The download event bus, whose every published job state also goes to a ``DownloadLog``."""

    def __init__(self, log: DownloadLog, *, keepalive_s: float) -> None:
        super().__init__(keepalive_s=keepalive_s)
        self.log = log

    def publish(self, job_id: str, payload: BaseModel) -> Event:
        self.log.observe(payload)
        return super().publish(job_id, payload)
