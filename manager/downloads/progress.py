"""The progress ticker: every ``interval_s``, each running job's speed, event and saved row.

Speed is smoothed (an exponential moving average of the bytes moved since the last tick);
a job whose bytes or file states changed gets a ``progress`` event, and its row is saved at
most every ``save_every_s`` (every tick when other managers read the rows for their clients).
The ticker owns no job: it reads the running ones through ``running`` and hands events and
saves back to the job manager.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable

from manager.downloads.live import LiveJob
from manager.errors import ManagerError

logger = logging.getLogger(__name__)

SPEED_SMOOTHING = 0.3


def smoothed(previous: float | None, rate: float) -> float:
    """The next speed estimate from the last one and the rate measured since. Pure."""
    return rate if previous is None else SPEED_SMOOTHING * rate + (1 - SPEED_SMOOTHING) * previous


class ProgressTicker:
    def __init__(
        self,
        *,
        interval_s: float,
        save_every_s: float,
        running: Callable[[], Iterable[LiveJob]],
        publish: Callable[[LiveJob], None],
        save: Callable[[LiveJob], Awaitable[None]],
    ) -> None:
        self.interval_s = interval_s
        self.save_every_s = save_every_s
        self._running = running
        self._publish = publish
        self._save = save

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval_s)
            try:
                await self.tick()
            except ManagerError as exc:
                logger.warning("saving download progress failed: %s", exc.message)
            except Exception:
                logger.exception("download progress tick failed")

    async def tick(self) -> None:
        now = time.monotonic()
        for live in list(self._running()):
            if not live.running:
                continue
            transferred = live.transferred
            if live.last_tick:
                elapsed = max(now - live.last_tick, 1e-6)
                live.speed = smoothed(live.speed, (transferred - live.last_transferred) / elapsed)
            live.last_tick = now
            live.last_transferred = transferred
            state = (live.bytes_done, tuple(f.status.value for f in live.files))
            if state == live.last_published:
                continue
            live.last_published = state
            live.updated_at = time.time()
            self._publish(live)
            if now - live.last_saved >= self.save_every_s:
                await self._save(live)
