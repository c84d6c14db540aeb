"""One model served by several processes with MLX's distributed runtime (``mlx.launch``).

Start the same command on every rank, e.g. two processes on this host (ring backend over
TCP), or one per Mac with a hostfile (ring over Ethernet/Thunderbolt, or ``--backend jaccl``)::

    MLX_SERVER_DISTRIBUTED=tensor mlx.launch -n 2 --backend ring -- python -m inference_server

Every rank loads each model with mlx-lm's ``sharded_load`` (``tensor``: every layer split
across the ranks, for families with ``shard``, e.g. Llama and Qwen2; ``pipeline``: the
layers divided among them, for families with ``pipeline``). Rank 0 serves HTTP and runs the
pool and the scheduler; the other ranks serve nothing and follow it:

- rank 0's MLX worker sends every operation that touches the model (load, unload, a request
  joining a batch, cancelled requests leaving it, a batch step) to the others before doing
  it (``Ranks.send``: the pickled operation, summed over the group, which from rank 0 alone
  is a broadcast); each follower applies it to its own worker (``follow``). The sums run on
  mlx-lm's generation stream, after the model's own collective operations that a batch step
  leaves in flight (it evaluates the next token asynchronously), so every rank sees them in
  the same order. Everything else
  a follower does follows from those operations deterministically (the same prompts, the
  same sampling from the same random seed, the same stop-string decisions), so every rank
  runs the same collective operations in the same order.
- A rank that dies breaks the group: the next collective operation on rank 0 raises, the
  requests in flight end with an error (``RanksLostError``, 503), new ones are refused, and
  ``/ready`` reports it (``mlx.launch`` itself stops the remaining ranks when one exits, so
  a supervisor restarts the whole group).
- Constrained decoding (``response_format`` with a schema, forced tools) is refused: its
  grammar state lives in rank 0's request handler.

The pool's memory budget is ``MLX_SERVER_MAX_MEMORY_GB`` per rank, times the ranks (each
holds its share of every model); the manager sees one inference server with that budget.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass
from typing import Any, Literal

from inference_server.errors import InferenceError

logger = logging.getLogger(__name__)

Mode = Literal["tensor", "pipeline"]


class RanksLostError(InferenceError):
    """A rank of the distributed group died: this server can no longer generate."""

    status = 503
    code = "distributed_rank_lost"


class DistributedSetupError(RuntimeError):
    pass


@dataclass
class Ranks:
    """This process's place in the group, and the channel from rank 0 to the others."""

    group: Any
    mode: Mode

    @property
    def rank(self) -> int:
        return int(self.group.rank())

    @property
    def size(self) -> int:
        return int(self.group.size())

    @property
    def leader(self) -> bool:
        return self.rank == 0

    def send(self, op: tuple[Any, ...]) -> None:
        """Rank 0: hand ``op`` to every other rank (they wait in ``receive``)."""
        import mlx.core as mx
        import numpy as np
        from mlx_lm.generate import generation_stream

        data = mx.array(np.frombuffer(pickle.dumps(op), dtype=np.uint8))
        size = mx.array(data.size)
        mx.eval(mx.distributed.all_sum(size, group=self.group, stream=generation_stream))
        mx.eval(mx.distributed.all_sum(data, group=self.group, stream=generation_stream))

    def receive(self) -> tuple[Any, ...]:
        """The other ranks: the next operation rank 0 sends."""
        import mlx.core as mx
        import numpy as np
        from mlx_lm.generate import generation_stream

        stream = generation_stream
        size: Any = mx.distributed.all_sum(mx.array(0), group=self.group, stream=stream).item()
        zeros = mx.zeros(int(size), dtype=mx.uint8)
        data = mx.distributed.all_sum(zeros, group=self.group, stream=stream)
        op: tuple[Any, ...] = pickle.loads(np.array(data, dtype=np.uint8).tobytes())
        return op

    def load(self, path: str) -> tuple[Any, Any]:
        """Load this rank's share of the model at ``path``."""
        from mlx_lm.utils import sharded_load

        if self.mode == "tensor":
            loaded = sharded_load(path, tensor_group=self.group)
        else:
            loaded = sharded_load(path, pipeline_group=self.group)
        return loaded[0], loaded[1]


def join(mode: Literal["off", "tensor", "pipeline"]) -> Ranks | None:
    """The group ``mlx.launch`` set up (None when ``mode`` is off). Calling it again returns
    the same group: MLX keeps it for the process."""
    if mode == "off":
        return None
    import mlx.core as mx

    try:
        group = mx.distributed.init(strict=True)
    except RuntimeError as exc:
        raise DistributedSetupError(
            f"MLX_SERVER_DISTRIBUTED={mode} needs the processes started by mlx.launch "
            f"(e.g. mlx.launch -n 2 --backend ring -- python -m inference_server): {exc}"
        ) from exc
    if group.size() < 2:
        raise DistributedSetupError(
            f"MLX_SERVER_DISTRIBUTED={mode} needs at least two ranks; this process is alone "
            "(start it with mlx.launch)"
        )
    return Ranks(group=group, mode=mode)


def describe(ranks: Ranks | None) -> str:
    if ranks is None:
        return "one process"
    return f"{ranks.mode} parallel over {ranks.size} ranks (this is rank {ranks.rank})"
