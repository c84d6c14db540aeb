"""The live progress of one file of a download job.

The engine (``engine.py``, ``transfer.py``) writes it as bytes arrive; the job (``live.py``)
reads it for its events, its speed and its saved rows.
"""

from __future__ import annotations

from dataclasses import dataclass

from manager.downloads.plan import RemoteFile
from manager.downloads.schemas import FileStatus


@dataclass
class FileState:
    """Live progress of one file; the job reads it for events and persistence."""

    file: RemoteFile
    bytes_done: int = 0
    status: FileStatus = FileStatus.PENDING
    transferred: int = 0
    retries: int = 0
