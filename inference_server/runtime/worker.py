"""The one thread that owns MLX.

Everything that touches MLX (loading, unloading, prompt processing, decoding) runs here.
Async handlers submit work through a command queue and read events from a per-job asyncio
queue. Each loaded model has a ``Runtime`` (``models.py``) with its own mlx-lm
``BatchGenerator``: requests for one model join and leave its batch between steps
(continuous batching); the loop steps every runtime with work in turn, so requests for
different models are served side by side. Between steps the thread takes the commands that
came in (blocking on the queue when no runtime has work), starts new jobs from their prompts
(``prefill.py``) and drops cancelled ones.

Each token becomes the job's events (``decoding.py``), gathered in an outbox and handed to
the event loop once per step (``delivery.py``). With a model sharded over several
processes, rank 0's worker sends every operation to the other ranks first and theirs follow
it; a lost rank ends the requests in flight (``replication.py``, ``watchdog.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any

from inference_server.distributed import Ranks, RanksLostError
from inference_server.metrics import InferenceMetrics
from inference_server.runtime import delivery, prefill
from inference_server.runtime.decoding import on_token
from inference_server.runtime.delivery import Outbox
from inference_server.runtime.events import Failed, Job, Progress
from inference_server.runtime.models import (
    JobState,
    Runtime,
    WorkerStats,
    compute_dtype,
    new_generator,
)
from inference_server.runtime.replication import HEARTBEAT_S, Replication

logger = logging.getLogger(__name__)

_Command = tuple[str, Any]


class MLXWorker(Replication):
    """Owns MLX on one thread; see the module docstring."""

    def __init__(
        self,
        *,
        completion_batch_size: int = 64,
        prefill_batch_size: int = 8,
        prefill_step_size: int = 2048,
        prompt_cache_bytes: int = 512 * 2**20,
        metrics: InferenceMetrics | None = None,
        ranks: Ranks | None = None,
    ) -> None:
        super().__init__(ranks)
        self._prompt_cache_bytes = prompt_cache_bytes
        self._metrics = metrics or InferenceMetrics()
        self._commands: queue.SimpleQueue[_Command] = queue.SimpleQueue()
        self._runtimes: dict[str, Runtime] = {}
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._batch_sizes = (completion_batch_size, prefill_batch_size, prefill_step_size)
        self._outbox = Outbox()
        self.stats = WorkerStats()

    # ---- lifecycle (event loop side) -------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mlx-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        self._commands.put(("wake", None))
        if self._thread is not None:
            # A lost group may have left the thread blocked in a collective for good.
            self._thread.join(timeout if self.broken is None else min(timeout, 1.0))
            self._thread = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    async def call(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the worker thread and await its result."""
        if self.broken is not None:  # the thread may be blocked in a collective for good
            raise RanksLostError(self.broken)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._calls.add(future)
        future.add_done_callback(self._calls.discard)
        self._commands.put(("call", (fn, loop, future)))
        return await future

    def submit(self, job: Job) -> None:
        if self.broken is not None:
            delivery.end(job, RanksLostError(self.broken))
            return
        self._submitted.add(job)
        self._commands.put(("submit", job))

    def cancel(self, job: Job) -> None:
        job.cancelled = True
        self._commands.put(("wake", None))

    # ---- model management (run through ``call``) ----------------------------------------
    def load_runtime(
        self, model_id: str, path: str, *, float32: bool = False
    ) -> tuple[Runtime, int]:
        """Load a model on the worker; returns the runtime and the memory it took.

        With ``float32`` its float16 and bfloat16 weights are upcast as they load (see
        ``pool/precision.py``): lazily, so the half-precision copy never sits in memory whole.
        """
        import mlx.core as mx
        from mlx_lm import load

        self._replicate(("load", model_id, path, float32))
        before = mx.get_active_memory()
        if self._ranks is not None:
            model, tokenizer = self._ranks.load(path)
        else:
            loaded: Any = load(path, lazy=True)
            model, tokenizer = loaded[0], loaded[1]
        if float32:
            model.set_dtype(mx.float32, predicate=lambda dtype: dtype in (mx.float16, mx.bfloat16))
        mx.eval(model.parameters())
        generator = new_generator(model, tokenizer, self._batch_sizes)
        mx.synchronize()
        used = max(0, mx.get_active_memory() - before)
        if self._ranks is not None:  # every rank holds a share of the same size
            used *= self._ranks.size
        runtime = Runtime(
            model_id=model_id,
            model=model,
            tokenizer=tokenizer,
            generator=generator,
            prompt_cache=prefill.new_prompt_cache(self._prompt_cache_bytes),
            compute_dtype=compute_dtype(model),
        )
        self._runtimes[model_id] = runtime
        return runtime, used

    def add_runtime(self, runtime: Runtime) -> None:
        """Serve a runtime built elsewhere (on this thread), e.g. a vision-language model."""
        self._runtimes[runtime.model_id] = runtime

    @property
    def prefill_step_size(self) -> int:
        return self._batch_sizes[2]

    def unload_runtime(self, model_id: str) -> None:
        import mlx.core as mx

        if model_id in self._runtimes:
            self._replicate(("unload", model_id))
        runtime = self._runtimes.pop(model_id, None)
        if runtime is None:
            return
        for state in list(runtime.jobs.values()):
            self._outbox.finish(state.job, Failed(RuntimeError(f"model {model_id} was unloaded")))
        runtime.jobs.clear()
        runtime.generator.close()
        del runtime
        gc.collect()
        mx.clear_cache()

    # ---- the thread ----------------------------------------------------------------------
    def _run(self) -> None:
        if self._ranks is not None:
            self._seed_group()
        while not self._stopping:
            busy = any(r.busy for r in self._runtimes.values())
            self._drain(block=not busy)
            if self._stopping:
                break
            self._step_all()
            self._outbox.flush()
        if self._ranks is not None and self.broken is None:
            with contextlib.suppress(RanksLostError):
                self._replicate(("stop",))
        self._outbox.flush()

    def _step_all(self) -> None:
        # A method of its own: a loop variable in ``_run`` would keep the last runtime
        # (and its weights) alive after an unload.
        for runtime in list(self._runtimes.values()):
            if runtime.busy:
                self._step(runtime)

    def _drain(self, *, block: bool) -> None:
        try:
            if not block:
                command = self._commands.get_nowait()
            elif self._ranks is not None and self.broken is None:
                command = self._commands.get(timeout=HEARTBEAT_S)
            else:
                command = self._commands.get()
        except queue.Empty:
            if block:  # idle with other ranks: check they are still there
                with contextlib.suppress(RanksLostError):
                    self._replicate(("ping",))
            self._reap_cancelled()
            return
        while True:
            self._handle(command)
            try:
                command = self._commands.get_nowait()
            except queue.Empty:
                break
        self._reap_cancelled()

    def _handle(self, command: _Command) -> None:
        kind, payload = command
        if kind == "call":
            fn, loop, future = payload
            try:
                result = fn()
            except BaseException as exc:
                loop.call_soon_threadsafe(delivery.set_exception, future, exc)
            else:
                loop.call_soon_threadsafe(delivery.set_result, future, result)
            self._outbox.flush()
        elif kind == "submit":
            self._insert(payload)

    def _insert(self, job: Job) -> None:
        if self.broken is not None:
            self._outbox.emit(job, Failed(RanksLostError(self.broken)))
            return
        if job.cancelled:
            return
        try:
            self._replicate(
                ("insert", job.model_id, job.prompt, job.max_tokens, job.params, job.stop)
            )
        except RanksLostError as exc:
            self._outbox.emit(job, Failed(exc))
            return
        runtime = self._runtimes.get(job.model_id)
        if runtime is None:
            self._outbox.emit(job, Failed(RuntimeError(f"model {job.model_id} is not loaded")))
            return
        if job.cancelled:
            return
        if job.max_tokens == 1 and not runtime.multimodal:
            self._one_token(runtime, job)
            return
        try:
            uid = prefill.insert(runtime, job, prefill.start(runtime, job))
        except Exception as exc:
            self._outbox.emit(job, Failed(exc))
            return
        job.uid = uid
        runtime.jobs[uid] = JobState.start(job, runtime.tokenizer)

    def _one_token(self, runtime: Runtime, job: Job) -> None:
        """A one-token job: one forward pass outside the batch (see ``prefill.one_token``)."""
        try:
            begin = prefill.start(runtime, job)
            with self._group_op():
                response = prefill.one_token(
                    runtime, job, begin, step=self.prefill_step_size, progress=self._group_progress
                )
        except Exception as exc:
            self._outbox.emit(job, Failed(exc))
            return
        state = JobState.start(job, runtime.tokenizer)
        self._metrics.tokens.labels(runtime.model_id).inc()
        on_token(runtime, state, response, self._outbox, self.stats)

    def _reap_cancelled(self) -> None:
        for runtime in self._runtimes.values():
            cancelled = [uid for uid, s in runtime.jobs.items() if s.job.cancelled]
            if cancelled:
                try:
                    self._replicate(("remove", runtime.model_id, cancelled))
                except RanksLostError:
                    return
                runtime.generator.remove(cancelled)
                for uid in cancelled:
                    state = runtime.jobs.pop(uid)
                    state.job.finished = True

    def _step(self, runtime: Runtime) -> None:
        try:
            with self._group_op():
                self._replicate(("step", runtime.model_id))
                prompt_responses, responses = runtime.generator.next()
        except Exception as exc:
            if self._ranks is not None:
                # A rank is gone, or the ranks may no longer agree: stop generating.
                self._break(exc)
                return
            logger.exception("generation step failed for %s", runtime.model_id)
            self._fail_runtime(runtime, exc)
            return
        self.stats.steps += 1
        self.stats.last_batch = len(responses)
        self.stats.max_batch = max(self.stats.max_batch, len(responses))
        if responses:
            self._metrics.batch_size.observe(len(responses))
            self._metrics.tokens.labels(runtime.model_id).inc(len(responses))
        for progress in prompt_responses:
            state = runtime.jobs.get(progress.uid)
            if state is not None and not progress.end_of_prompt:
                done, total = progress.progress
                self._outbox.emit(state.job, Progress(done, total))
        finished: list[int] = []
        for response in responses:
            state = runtime.jobs.get(response.uid)
            if state is None:
                continue
            if on_token(runtime, state, response, self._outbox, self.stats):
                finished.append(response.uid)
        for uid in finished:
            runtime.jobs.pop(uid, None)

    def _fail_runtime(self, runtime: Runtime, exc: Exception) -> None:
        for state in list(runtime.jobs.values()):
            self._outbox.finish(state.job, Failed(exc))
        runtime.jobs.clear()
        runtime.generator.close()
        if runtime.make_generator is not None:
            runtime.generator = runtime.make_generator()
        else:
            runtime.generator = new_generator(runtime.model, runtime.tokenizer, self._batch_sizes)
