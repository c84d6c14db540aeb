"""The INFO lines that follow a download: start, progress every 10 % or 30 s, the end."""

from __future__ import annotations

import logging

import pytest

from manager.downloads.progress_log import DownloadLog
from manager.downloads.schemas import DownloadJob, FileProgress, JobEvent, JobStatus


def job(status: JobStatus, done: int, **kw: object) -> DownloadJob:
    files = [
        FileProgress(
            path="model.safetensors", size=9_000_000, bytes_done=0, status="pending", lfs=True
        ),
        FileProgress(path="config.json", size=1_000_000, bytes_done=0, status="pending", lfs=False),
    ]
    values: dict[str, object] = {
        "id": "j1",
        "model_id": "org/m",
        "revision": "main",
        "status": status,
        "bytes_total": 10_000_000,
        "bytes_done": done,
        "bytes_transferred": done,
        "files_total": 2,
        "files_done": 0,
        "created_at": 10.0,
        "updated_at": 10.0,
        "files": files,
    }
    values.update(kw)
    return DownloadJob.model_validate(values)


def test_start_progress_and_completion(caplog: pytest.LogCaptureFixture) -> None:
    now = [0.0]
    log = DownloadLog(clock=lambda: now[0])
    caplog.set_level(logging.INFO, "manager.downloads")
    log.observe(JobEvent(type="status", job=job(JobStatus.QUEUED, 0)))
    log.observe(JobEvent(type="status", job=job(JobStatus.DOWNLOADING, 0)))
    for done in (
        500_000,
        990_000,
        1_000_000,
        1_500_000,
        2_600_000,
    ):  # 10 % steps: logged at 100 and 260
        log.observe(JobEvent(type="progress", job=job(JobStatus.DOWNLOADING, done)))
    now[0] = 31.0  # 30 s without a line: logged although under 10 % more
    log.observe(JobEvent(type="progress", job=job(JobStatus.DOWNLOADING, 2_700_000)))
    log.observe(
        JobEvent(
            type="status",
            job=job(
                JobStatus.COMPLETED,
                10_000_000,
                started_at=100.0,
                finished_at=102.0,
                bytes_transferred=10_000_000,
            ),
        )
    )
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "download started: org/m@main, 2 files, 10.0 MB (0.0 MB already on disk)",
        "download progress: org/m 10% (1.0 MB of 10.0 MB)",
        "download progress: org/m 26% (2.6 MB of 10.0 MB)",
        "download progress: org/m 27% (2.7 MB of 10.0 MB)",
        "download completed: org/m, 2 files, 10.0 MB in 2.0 s (5.0 MB/s), every file verified "
        "(1 by sha256, 1 by git blob sha1)",
    ]
    assert caplog.records[0].__dict__["model_id"] == "org/m"


def test_pause_and_cancel_are_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    log = DownloadLog()
    caplog.set_level(logging.INFO, "manager.downloads")
    log.job(job(JobStatus.DOWNLOADING, 0))
    log.job(job(JobStatus.PAUSED, 100))
    log.job(job(JobStatus.CANCELLED, 0))  # not followed since the pause: nothing more
    assert [r.getMessage() for r in caplog.records][1:] == ["download paused: org/m"]
