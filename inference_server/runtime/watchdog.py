"""Rank 0's watch over a sharded server's group, from the event loop.

A rank that dies should end the requests in flight with an error, but the worker thread
cannot be relied on to notice: MLX's ring backend can wait forever in a collective operation
for bytes from a peer that is gone, and a thread blocked in MLX's C++ code cannot be
interrupted. So this task watches, about once a second:

- the ring's TCP links (``Ranks.lost_link``): a link that its peer closed means that rank's
  process exited (killed, crashed), which is the common case, seen at the next tick;
- the worker's progress (``MLXWorker.group_busy_s``): a batch step or a collective
  operation that has not returned within ``MLX_SERVER_DISTRIBUTED_STEP_TIMEOUT_S`` means a
  rank that hangs, or a host that went away without closing its sockets.

Either way it calls ``MLXWorker.lose``: the requests in flight end with
``distributed_rank_lost`` (503), new ones are refused, ``/ready`` reports it.
"""

from __future__ import annotations

import asyncio
import logging

from inference_server.distributed import Ranks
from inference_server.runtime.worker import MLXWorker

logger = logging.getLogger(__name__)


async def watch_group(worker: MLXWorker, ranks: Ranks, step_timeout_s: float) -> None:
    """Run until the group is lost (by this watch or by the worker itself)."""
    tick = min(1.0, step_timeout_s / 4)
    while worker.broken is None:
        await asyncio.sleep(tick)
        try:
            reason = await asyncio.to_thread(ranks.lost_link)
        except Exception:  # the sockets cannot be listed here: the progress watch remains
            logger.exception("cannot check the links to the other ranks")
            reason = None
        busy = worker.group_busy_s
        if reason is None and busy > step_timeout_s:
            reason = (
                f"a batch step or collective operation made no progress for {busy:.0f} s "
                f"(MLX_SERVER_DISTRIBUTED_STEP_TIMEOUT_S={step_timeout_s:g})"
            )
        if reason is not None and worker.broken is None:
            worker.lose(reason)
