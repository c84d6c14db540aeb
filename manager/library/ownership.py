"""What the library asks of downloads: which models an active download job still owns.

A job that is queued, running, paused or verifying owns its model's partial files, and the
model itself may not be deleted under it; storage cleanup keeps those files. The download
service provides this (``manager.downloads.deps.OwnedModelsDep``); the library only knows
the protocol.
"""

from __future__ import annotations

from typing import Protocol


class DownloadOwnership(Protocol):
    async def owned_model_ids(self) -> set[str]:
        """Ids of the models whose download job is still active."""
        ...
