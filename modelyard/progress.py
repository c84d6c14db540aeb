"""Progress bars for a download job: one per file and one for the total (bytes, speed, ETA)."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from modelyard.output import human_bytes, human_duration

TOTAL = "total"


class JobProgress:
    """Rich progress bars fed with the manager's ``DownloadJob`` documents."""

    def __init__(self, console: Console, model_id: str) -> None:
        self.model_id = model_id
        self.progress = Progress(
            TextColumn("{task.description}", justify="left"),
            BarColumn(bar_width=30),
            TextColumn("{task.percentage:>5.1f}%"),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
            refresh_per_second=8,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> JobProgress:
        self.progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def stop(self) -> None:
        self.progress.stop()

    def update(self, job: dict[str, Any]) -> None:
        """Show the job's files and total as the manager reports them."""
        files = job.get("files") or []
        width = min(40, max((len(str(f.get("path", ""))) for f in files), default=10))
        for file in files:
            self._set(
                f"file:{file['path']}",
                _ellipsize(str(file["path"]), width),
                int(file.get("size") or 0),
                int(file.get("bytes_done") or 0),
            )
        self._set(
            TOTAL,
            _ellipsize(f"{TOTAL} ({job.get('files_done', 0)}/{job.get('files_total', 0)})", width),
            int(job.get("bytes_total") or 0),
            int(job.get("bytes_done") or 0),
        )

    def _set(self, key: str, description: str, total: int, done: int) -> None:
        task = self._tasks.get(key)
        if task is None:
            # Created with what is already on disk, so a resumed file shows no false speed.
            self._tasks[key] = self.progress.add_task(description, total=total, completed=done)
            return
        self.progress.update(task, description=description, total=total, completed=done)


def _ellipsize(text: str, width: int) -> str:
    if len(text) <= width:
        return text.ljust(width)
    return "…" + text[-(width - 1) :]


def verified_line(job: dict[str, Any]) -> str:
    """What a completed job proved: its files, bytes, time, speed and how they were checked."""
    files = job.get("files") or []
    by_sha256 = sum(1 for f in files if f.get("lfs"))
    by_sha1 = len(files) - by_sha256
    checks = []
    if by_sha256:
        checks.append(f"{by_sha256} by sha256")
    if by_sha1:
        checks.append(f"{by_sha1} by git blob sha1")
    line = (
        f"✓ {job['model_id']}: {len(files)} files, {human_bytes(job.get('bytes_total'))} "
        f"verified ({', '.join(checks) or 'no files'})"
    )
    started, finished = job.get("started_at"), job.get("finished_at")
    transferred = int(job.get("bytes_transferred") or 0)
    if started and finished and finished > started:
        elapsed = finished - started
        line += f" in {human_duration(elapsed)}"
        if transferred:
            line += f", {human_bytes(transferred / elapsed)}/s"
    return line
