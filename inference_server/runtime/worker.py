"""The one thread that owns MLX.

Everything that touches MLX (loading, unloading, prompt processing, decoding) runs here.
Async handlers submit work through a command queue and read events from a per-job asyncio
queue. Each loaded model has a ``Runtime`` with its own mlx-lm ``BatchGenerator``: requests
for one model join and leave its batch between steps (continuous batching); the loop steps
every runtime with work in turn, so requests for different models are served side by side.

Events produced during one step are handed to the event loop in a single
``call_soon_threadsafe`` call, so the per-token cost on the loop is one wake-up per step,
not one per token per request.

With a model sharded over several processes (``inference_server/distributed.py``), rank 0's
worker sends each operation on a model to the other ranks before doing it (``_replicate``),
and their workers apply the same operations in the same order (``follow``). A collective
operation that never returns (a rank died and MLX did not notice) leaves this thread blocked
in MLX's C++ code, where nothing can interrupt it; so the worker records when each group
operation began (``group_busy_s``), and the event loop's watchdog (``watchdog.py``) ends the
requests in flight and refuses new ones without it (``lose``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import queue
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from inference_server.distributed import Ranks, RanksLostError
from inference_server.metrics import InferenceMetrics
from inference_server.runtime.events import Delta, Done, Event, Failed, Job, Progress
from inference_server.runtime.sampling import make_processors, make_sampler
from inference_server.runtime.stops import StopScanner

logger = logging.getLogger(__name__)

# An idle sharded server checks its other ranks this often (a lost rank shows in /ready).
HEARTBEAT_S = 2.0


def on_cpu_backend() -> bool:
    """Whether MLX computes on the CPU here (``mlx[cpu]``), not on a GPU (Metal, CUDA)."""
    import mlx.core as mx

    return bool(mx.default_device().type == mx.DeviceType.cpu)


def _compute_dtype(model: Any) -> str | None:
    """The dtype of the model's floating-point weights (the first one found), e.g. float32."""
    import mlx.core as mx
    from mlx.utils import tree_flatten

    arrays: Any = tree_flatten(model.parameters())
    for _name, array in arrays:
        if mx.issubdtype(array.dtype, mx.floating):
            return str(array.dtype).removeprefix("mlx.core.")
    return None


@dataclass
class Runtime:
    """A loaded model and its batch.

    ``tokenizer_lock`` serialises the tokenizer's use off the event loop (a fast tokenizer
    must not be used by two threads at once); ``grammars`` and ``max_token_chars`` are
    filled on first use, under that lock.
    """

    model_id: str
    model: Any
    tokenizer: Any
    generator: Any
    prompt_cache: Any = None
    compute_dtype: str | None = None
    jobs: dict[int, _JobState] = field(default_factory=dict)
    tokens_generated: int = 0
    tokenizer_lock: threading.Lock = field(default_factory=threading.Lock)
    grammars: Any = None
    max_token_chars: int | None = None
    # Vision-language models (inference_server/vision): the image processor, and how to
    # build a fresh generator after a failed step; their jobs carry ``media``.
    processor: Any = None
    make_generator: Callable[[], Any] | None = None

    @property
    def multimodal(self) -> bool:
        return self.processor is not None

    @property
    def vocab_size(self) -> int:
        """Logits per step: the model's vocabulary (may exceed the tokenizer's)."""
        args = getattr(self.model, "args", None)
        size = getattr(args, "vocab_size", None)
        return int(size) if isinstance(size, int) and size > 0 else len(self.tokenizer)

    @property
    def busy(self) -> bool:
        return bool(self.jobs)


@dataclass(eq=False)
class _JobState:
    job: Job
    detokenizer: Any
    scanner: StopScanner
    top_logprobs: int | None


@dataclass
class WorkerStats:
    steps: int = 0
    tokens: int = 0
    max_batch: int = 0
    last_batch: int = 0


_Command = tuple[str, Any]


@dataclass(frozen=True)
class _OneToken:
    """The fields of a batch response that ``_on_token`` reads, for ``_one_token``."""

    token: int
    logprobs: Any
    finish_reason: str
    all_tokens: list[int]
    prompt_cache: Any


class MLXWorker:
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
        self._ranks = ranks
        self.broken: str | None = None  # why a distributed group can no longer generate
        self._prompt_cache_bytes = prompt_cache_bytes
        self._metrics = metrics or InferenceMetrics()
        self._commands: queue.SimpleQueue[_Command] = queue.SimpleQueue()
        self._runtimes: dict[str, Runtime] = {}
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._batch_sizes = (completion_batch_size, prefill_batch_size, prefill_step_size)
        self._outbox: dict[asyncio.AbstractEventLoop, list[tuple[Job, list[Event]]]] = {}
        self.stats = WorkerStats()
        # When the group operation now running on the worker thread began (None: none is).
        self._group_op_since: float | None = None
        # What the event loop has handed the worker and not yet had back (read and written
        # on the event loop only), so that ``lose`` can end it without the worker.
        self._submitted: weakref.WeakSet[Job] = weakref.WeakSet()
        self._calls: set[asyncio.Future[Any]] = set()

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
            self._end(job, RanksLostError(self.broken))
            return
        self._submitted.add(job)
        self._commands.put(("submit", job))

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
            self._end(job, error)
        for future in list(self._calls):
            future.get_loop().call_soon_threadsafe(_set_exception, future, error)

    @staticmethod
    def _end(job: Job, error: BaseException) -> None:
        """Fail ``job`` from the event loop's side (the worker may never reach it)."""
        if job.finished or job.loop is None:
            return
        job.finished = True
        events: list[Event] = [Failed(error)]
        job.loop.call_soon_threadsafe(_deliver, [(job, events)])

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

    def cancel(self, job: Job) -> None:
        job.cancelled = True
        self._commands.put(("wake", None))

    @property
    def sharded(self) -> bool:
        """Models are sharded over several processes (``inference_server/distributed.py``)."""
        return self._ranks is not None

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
        generator = self._new_generator(model, tokenizer)
        mx.synchronize()
        used = max(0, mx.get_active_memory() - before)
        if self._ranks is not None:  # every rank holds a share of the same size
            used *= self._ranks.size
        runtime = Runtime(
            model_id=model_id,
            model=model,
            tokenizer=tokenizer,
            generator=generator,
            prompt_cache=self._new_prompt_cache(),
            compute_dtype=_compute_dtype(model),
        )
        self._runtimes[model_id] = runtime
        return runtime, used

    def add_runtime(self, runtime: Runtime) -> None:
        """Serve a runtime built elsewhere (on this thread), e.g. a vision-language model."""
        self._runtimes[runtime.model_id] = runtime

    @property
    def prefill_step_size(self) -> int:
        return self._batch_sizes[2]

    def _new_prompt_cache(self) -> Any:
        if self._prompt_cache_bytes <= 0:
            return None
        from mlx_lm.models.cache import LRUPromptCache

        return LRUPromptCache(max_size=64, max_bytes=self._prompt_cache_bytes)

    def _new_generator(self, model: Any, tokenizer: Any) -> Any:
        from mlx_lm.generate import BatchGenerator

        completion, prefill, step = self._batch_sizes
        return BatchGenerator(
            model,
            stop_tokens=[[t] for t in sorted(tokenizer.eos_token_ids)],
            completion_batch_size=completion,
            # BatchGenerator decodes max(completion, prefill) sequences together: keep the
            # prefill batch within the completion batch so the latter is the real limit.
            prefill_batch_size=min(prefill, completion),
            prefill_step_size=step,
        )

    def unload_runtime(self, model_id: str) -> None:
        import mlx.core as mx

        if model_id in self._runtimes:
            self._replicate(("unload", model_id))
        runtime = self._runtimes.pop(model_id, None)
        if runtime is None:
            return
        for state in list(runtime.jobs.values()):
            self._finish(state, Failed(RuntimeError(f"model {model_id} was unloaded")))
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
            self._flush()
        if self._ranks is not None and self.broken is None:
            with contextlib.suppress(RanksLostError):
                self._replicate(("stop",))
        self._flush()

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
                loop.call_soon_threadsafe(_set_exception, future, exc)
            else:
                loop.call_soon_threadsafe(_set_result, future, result)
            self._flush()
        elif kind == "submit":
            self._insert(payload)

    def _insert(self, job: Job) -> None:
        if self.broken is not None:
            self._emit(job, Failed(RanksLostError(self.broken)))
            return
        if job.cancelled:
            return
        try:
            self._replicate(
                ("insert", job.model_id, job.prompt, job.max_tokens, job.params, job.stop)
            )
        except RanksLostError as exc:
            self._emit(job, Failed(exc))
            return
        runtime = self._runtimes.get(job.model_id)
        if runtime is None:
            self._emit(job, Failed(RuntimeError(f"model {job.model_id} is not loaded")))
            return
        if job.cancelled:
            return
        if job.max_tokens == 1 and not runtime.multimodal:
            self._one_token(runtime, job)
            return
        media = {"media": [job.media]} if runtime.multimodal else {}
        try:
            sampler = make_sampler(job.params)
            processors = _processors(job)
            cache, rest = self._cached_prefix(runtime, job.prompt)
            job.cached_tokens = len(job.prompt) - len(rest)
            (uid,) = runtime.generator.insert(
                [rest],
                max_tokens=[job.max_tokens],
                caches=[cache] if cache is not None else None,
                all_tokens=[job.prompt[: job.cached_tokens]],
                samplers=[sampler] if sampler is not None else None,
                logits_processors=[processors] if processors else None,
                **media,
            )
        except Exception as exc:
            self._emit(job, Failed(exc))
            return
        job.uid = uid
        detokenizer = runtime.tokenizer.detokenizer
        detokenizer.reset()
        runtime.jobs[uid] = _JobState(
            job=job,
            detokenizer=detokenizer,
            scanner=StopScanner(job.stop),
            top_logprobs=job.params.top_logprobs,
        )

    def _one_token(self, runtime: Runtime, job: Job) -> None:
        """A generation of one token, in one forward pass, outside the batch.

        The batch hands a token back one step after computing it (each step starts the next
        token before returning the current one), so through it a one-token request would cost
        two forward passes, the second thrown away.
        """
        import mlx.core as mx
        from mlx_lm.generate import generation_stream
        from mlx_lm.models.cache import make_prompt_cache

        try:
            sampler = make_sampler(job.params)
            processors = _processors(job)
            cache, rest = self._cached_prefix(runtime, job.prompt)
            job.cached_tokens = len(job.prompt) - len(rest)
            if cache is None:
                cache = make_prompt_cache(runtime.model)
            step = self._batch_sizes[2]
            with self._group_op(), mx.stream(generation_stream):
                while len(rest) > step:
                    runtime.model(mx.array(rest[:step])[None], cache=cache)
                    mx.eval([c.state for c in cache])
                    rest = rest[step:]
                    self._group_progress()  # each chunk is a step of its own
                logits = runtime.model(mx.array(rest)[None], cache=cache)[:, -1, :]
                context = mx.array(job.prompt)
                for processor in processors:
                    logits = processor(context, logits)
                logprobs = logits - mx.logsumexp(logits, axis=-1, keepdims=True)
                sampled = sampler(logprobs) if sampler is not None else mx.argmax(logprobs, -1)
                mx.eval(sampled, logprobs)
        except Exception as exc:
            self._emit(job, Failed(exc))
            return
        values: Any = sampled.tolist()
        token = int(values[0])
        reason = "stop" if token in runtime.tokenizer.eos_token_ids else "length"
        detokenizer = runtime.tokenizer.detokenizer
        detokenizer.reset()
        state = _JobState(
            job=job,
            detokenizer=detokenizer,
            scanner=StopScanner(job.stop),
            top_logprobs=job.params.top_logprobs,
        )
        self._metrics.tokens.labels(runtime.model_id).inc()
        # The cache now holds exactly the prompt: the next request with this prompt (or one
        # that extends it) starts from it.
        response = _OneToken(token, logprobs[0], reason, job.prompt, cache)
        self._on_token(runtime, state, response)

    def _cached_prefix(self, runtime: Runtime, prompt: list[int]) -> tuple[Any, list[int]]:
        """The longest cached KV prefix of ``prompt`` and the tokens still to process."""
        if runtime.prompt_cache is None:
            return None, prompt
        from mlx_lm.models.cache import can_trim_prompt_cache, trim_prompt_cache

        cache, rest = runtime.prompt_cache.fetch_nearest_cache(runtime.model_id, prompt)
        if cache is None:
            return None, prompt
        if not rest:  # exact hit: re-process the last token to get its logits
            if not can_trim_prompt_cache(cache):
                return None, prompt
            trim_prompt_cache(cache, 1)
            rest = prompt[-1:]
        return cache, list(rest)

    def _remember(self, runtime: Runtime, tokens: Any, cache: Any) -> None:
        if runtime.prompt_cache is not None and cache is not None and tokens:
            runtime.prompt_cache.insert_cache(runtime.model_id, list(tokens), cache)

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
                self._emit(state.job, Progress(done, total))
        finished: list[int] = []
        for response in responses:
            state = runtime.jobs.get(response.uid)
            if state is None:
                continue
            if self._on_token(runtime, state, response):
                finished.append(response.uid)
        for uid in finished:
            runtime.jobs.pop(uid, None)

    def _on_token(self, runtime: Runtime, state: _JobState, response: Any) -> bool:
        """Handle one token; return True when the job is finished."""
        job = state.job
        reason = response.finish_reason
        if reason is not None:
            self._remember(runtime, response.all_tokens, response.prompt_cache)
        if reason == "stop":  # an EOS token: not part of the text
            tail = _finalize(state)
            if tail:
                self._emit(job, Delta(tail, 0))
            self._finish(state, self._done(job, "stop"))
            return True
        job.generated += 1
        runtime.tokens_generated += 1
        self.stats.tokens += 1
        state.detokenizer.add_token(response.token)
        piece = state.detokenizer.last_segment
        logprobs = None
        if state.top_logprobs is not None:
            logprobs = [_token_logprobs(runtime.tokenizer, response, state.top_logprobs)]
        if reason == "length":
            state.detokenizer.finalize()
            piece += state.detokenizer.last_segment
        text, stopped = state.scanner.feed(piece)
        if stopped:
            if text or logprobs:
                self._emit(job, Delta(text, 1, logprobs))
            if reason is None:
                caches = runtime.generator.remove(
                    [response.uid], return_prompt_caches=runtime.prompt_cache is not None
                )
                for cache, tokens in caches.values():
                    self._remember(runtime, tokens, cache)
            self._finish(state, self._done(job, "stop"))
            return True
        if reason == "length":
            text += state.scanner.flush()
            self._emit(job, Delta(text, 1, logprobs))
            self._finish(state, self._done(job, "length"))
            return True
        if text or logprobs:
            self._emit(job, Delta(text, 1, logprobs))
        return False

    @staticmethod
    def _done(job: Job, reason: str) -> Done:
        return Done(reason, len(job.prompt), job.generated, job.cached_tokens)

    def _fail_runtime(self, runtime: Runtime, exc: Exception) -> None:
        for state in list(runtime.jobs.values()):
            self._finish(state, Failed(exc))
        runtime.jobs.clear()
        runtime.generator.close()
        if runtime.make_generator is not None:
            runtime.generator = runtime.make_generator()
        else:
            runtime.generator = self._new_generator(runtime.model, runtime.tokenizer)

    def _finish(self, state: _JobState, event: Event) -> None:
        state.job.finished = True
        self._emit(state.job, event)

    def _emit(self, job: Job, event: Event) -> None:
        if job.loop is None:  # a follower rank's copy of a request: nobody reads it here
            return
        batch = self._outbox.setdefault(job.loop, [])
        if batch and batch[-1][0] is job:
            batch[-1][1].append(event)
        else:
            batch.append((job, [event]))

    def _flush(self) -> None:
        if not self._outbox:
            return
        outbox, self._outbox = self._outbox, {}
        for loop, batch in outbox.items():
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is listening
                loop.call_soon_threadsafe(_deliver, batch)

    # ---- a model sharded over several processes ---------------------------------------------
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
                self._finish(state, Failed(error))
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


def _processors(job: Job) -> list[Any]:
    """The job's logits processors; its grammar constraint last, so nothing undoes a mask."""
    processors: list[Any] = make_processors(job.params)
    if job.constraint is not None:
        processors.append(job.constraint)
    return processors


def _finalize(state: _JobState) -> str:
    state.detokenizer.finalize()
    text, _ = state.scanner.feed(state.detokenizer.last_segment)
    return text + state.scanner.flush()


def _token_logprobs(tokenizer: Any, response: Any, top: int) -> dict[str, Any]:
    import mlx.core as mx

    vector: Any = response.logprobs
    token = int(response.token)
    entry: dict[str, Any] = {
        "token": tokenizer.decode([token]),
        "logprob": float(vector[token].item()),
        "top_logprobs": [],
    }
    if top > 0:
        ids = mx.argpartition(-vector, kth=top - 1)[:top]
        values = vector[ids]
        order = mx.argsort(-values)
        ids_list: Any = ids[order].tolist()
        values_list: Any = values[order].tolist()
        entry["top_logprobs"] = [
            {"token": tokenizer.decode([int(i)]), "logprob": float(v)}
            for i, v in zip(ids_list, values_list, strict=True)
        ]
    return entry


def _deliver(batch: list[tuple[Job, list[Event]]]) -> None:
    for job, events in batch:
        job.queue.put_nowait(events)


def _set_result(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _set_exception(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
