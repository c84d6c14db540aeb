"""The MLX worker's side of a model sharded over several processes
(``inference_server/distributed.py``).

Rank 0's worker sends each operation on a model to the other ranks before doing it
(``_replicate``), and their workers apply the same operations in the same order (``follow``).
A collective operation that never returns (a rank died and MLX did not notice) leaves the
worker thread blocked in MLX's C++ code, where nothing can interrupt it; so the worker
records when each group operation began (``group_busy_s``), and the event loop's watchdog
(``watchdog.py``) ends the requests in flight and refuses new ones without it (``lose``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from abc import abstractmethod
from collections.abc import Iterator
from typing import Any

from inference_server.distributed import Ranks, RanksLostError
from inference_server.runtime import delivery
from inference_server.runtime.delivery import Outbox
from inference_server.runtime.events import Failed, Job
from inference_server.runtime.models import Runtime

logger = logging.getLogger(__name__)

# An idle sharded server checks its other ranks this often (a lost rank shows in /ready).
HEARTBEAT_S = 2.0


class Replication:
    """``MLXWorker``'s group side, a base class of it: the group's state, rank 0's sending,
    the followers' applying, and the end of a group that can no longer go on.

    It applies a follower's operations with the worker's own methods, declared below.
    """

    _runtimes: dict[str, Runtime]
    _outbox: Outbox

    def __init__(self, ranks: Ranks | None) -> None:
        self._ranks = ranks
        self.broken: str | None = None  # why a distributed group can no longer generate
        # When the group operation now running on the worker thread began (None: none is).
        self._group_op_since: float | None = None
        # What the event loop has handed the worker and not yet had back (read and written
        # on the event loop only), so that ``lose`` can end it without the worker.
        self._submitted: weakref.WeakSet[Job] = weakref.WeakSet()
        self._calls: set[asyncio.Future[Any]] = set()

    # ---- the worker's operations, which a follower applies ------------------------------
    @abstractmethod
    def load_runtime(
        self, model_id: str, path: str, *, float32: bool = False
    ) -> tuple[Runtime, int]: ...

    @abstractmethod
    def unload_runtime(self, model_id: str) -> None: ...

    @abstractmethod
    def _insert(self, job: Job) -> None: ...

    @abstractmethod
    def _step(self, runtime: Runtime) -> None: ...

    # ---- the event loop's side ---------------------------------------------------------------
    @property
    def sharded(self) -> bool:
        """Models are sharded over several processes (``inference_server/distributed.py``)."""
        return self._ranks is not None

    @property
    def group_busy_s(self) -> float:
        """How long the group operation now running on the worker thread (a batch step or
        a collective operation) has been going on; 0 when none is."""
        since = self._group_op_since
        return 0.0 if since is None else time.monotonic() - since

    def lose(self, reason: str) -> None:
        """The event loop's side of a lost group (see ``watchdog.py``): mark it broken, end
        every request in flight and every pending call with ``RanksLostError``, refuse the
        ones to come.

        It does not wait for the worker thread, which may stay blocked in MLX's C++
        collective operation for good (nothing can interrupt it there); if that operation
        ever returns or raises, the thread sees the group broken and goes no further.
        """
        if self.broken is None:
            self.broken = f"a rank of the distributed group was lost: {reason}"
            logger.error("%s; this server no longer generates", self.broken)
        error = RanksLostError(self.broken)
        for job in list(self._submitted):
            delivery.end(job, error)
        for future in list(self._calls):
            future.get_loop().call_soon_threadsafe(delivery.set_exception, future, error)

    # ---- the worker thread's side ------------------------------------------------------------
    @contextlib.contextmanager
    def _group_op(self) -> Iterator[None]:
        """Mark a stretch of the worker thread that waits on the other ranks."""
        if self._ranks is None or self._group_op_since is not None:  # none, or nested
            yield
            return
        self._group_op_since = time.monotonic()
        try:
            yield
        finally:
            self._group_op_since = None

    def _group_progress(self) -> None:
        if self._group_op_since is not None:
            self._group_op_since = time.monotonic()

    def _replicate(self, op: tuple[Any, ...], *, watched: bool = True) -> None:
        """Rank 0: send ``op`` to the other ranks before doing it (a no-op elsewhere).
        ``watched``: the watchdog's step timeout applies to the send."""
        ranks = self._ranks
        if ranks is None or not ranks.leader:
            return
        if self.broken is not None:
            raise RanksLostError(self.broken)
        try:
            with self._group_op() if watched else contextlib.nullcontext():
                ranks.send(op)
        except Exception as exc:
            self._break(exc)
            raise RanksLostError(self.broken or str(exc)) from exc

    def _seed_group(self) -> None:
        """Every rank samples from the same random state (rank 0 picks it)."""
        import secrets

        seed = secrets.randbits(63)
        with contextlib.suppress(RanksLostError):
            # Not watched: the other ranks take it once they have started, however long
            # that takes (a rank that dies meanwhile is seen by its closed link).
            self._replicate(("seed", seed), watched=False)
            self._apply(("seed", seed))

    def _break(self, exc: BaseException) -> None:
        """The group cannot go on: fail every request; refuse the ones to come."""
        if self.broken is None:
            self.broken = f"a rank of the distributed group was lost or disagreed: {exc}"
            logger.error("%s; this server no longer generates", self.broken)
        error = RanksLostError(self.broken)
        for runtime in self._runtimes.values():
            for state in list(runtime.jobs.values()):
                self._outbox.finish(state.job, Failed(error))
            runtime.jobs.clear()

    def follow(self) -> int:
        """A follower rank's whole life, on its main thread: apply rank 0's operations until
        it stops (0) or the group breaks (1)."""
        ranks = self._ranks
        assert ranks is not None and not ranks.leader
        while True:
            try:
                op = ranks.receive()
            except Exception as exc:
                logger.error("rank %d lost the group (%s); exiting", ranks.rank, exc)
                return 1
            if op[0] == "stop":
                return 0
            self._apply(op)
            if self.broken is not None:
                return 1

    def _apply(self, op: tuple[Any, ...]) -> None:
        import mlx.core as mx

        kind = op[0]
        if kind == "seed":
            mx.random.seed(op[1])
        elif kind == "load":
            model_id, path, float32 = op[1:]
            try:
                self.load_runtime(model_id, path, float32=float32)
            except Exception as exc:  # rank 0 fails the same way and reports it
                logger.warning("rank loading %s failed: %s", model_id, exc)
        elif kind == "unload":
            self.unload_runtime(op[1])
        elif kind == "insert":
            model_id, prompt, max_tokens, params, stop = op[1:]
            job = Job(model_id, prompt, max_tokens, params, stop, loop=None)
            self._insert(job)
        elif kind == "remove":
            runtime = self._runtimes.get(op[1])
            if runtime is not None:
                runtime.generator.remove(op[2])
                for uid in op[2]:
                    runtime.jobs.pop(uid, None)
        elif kind == "step":
            runtime = self._runtimes.get(op[1])
            if runtime is not None:
                self._step(runtime)
