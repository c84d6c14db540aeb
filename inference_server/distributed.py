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
- A rank that dies breaks the group: the requests in flight end with an error
  (``RanksLostError``, 503), new ones are refused, and ``/ready`` reports it (``mlx.launch``
  itself stops the remaining ranks when one exits, so a supervisor restarts the whole group).
  A collective operation does not always notice a dead peer: the ring backend can wait
  forever for bytes from a socket whose other end is gone. So rank 0 does not rely on it.
  ``runtime/watchdog.py`` watches from the event loop: the ring's TCP links of this
  process (``Ranks.lost_link``: a link whose peer closed it means that rank's process
  exited, the common case, seen within a second), and the worker's progress (a batch step
  or a collective operation that has not returned within
  ``MLX_SERVER_DISTRIBUTED_STEP_TIMEOUT_S``: a rank that hangs, or a host that is gone
  without closing its sockets).
- Constrained decoding (``response_format`` with a schema, forced tools) is refused: its
  grammar state lives in rank 0's request handler.

The pool's memory budget is ``MLX_SERVER_MAX_MEMORY_GB`` per rank, times the ranks (each
holds its share of every model); the manager sees one inference server with that budget.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import pickle
import socket
from dataclasses import dataclass, field
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
    # The ring's TCP connections of this process, (local, remote) address pairs, as they
    # were when the group formed (empty for a backend that is not the ring).
    links: list[tuple[tuple[str, int], tuple[str, int]]] = field(default_factory=list)

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

    def lost_link(self) -> str | None:
        """Why a ring link of this process is broken (its peer closed it, or it is gone),
        or None while every link is up. Blocking (it lists the process's sockets)."""
        if not self.links:
            return None
        import psutil

        now = {
            (_address(c.laddr), _address(c.raddr)): c.status
            for c in psutil.Process().net_connections(kind="tcp")
            if c.raddr
        }
        for local, remote in self.links:
            status = now.get((local, remote))
            if status != psutil.CONN_ESTABLISHED:
                state = "closed" if status is None else status.lower().replace("_", " ")
                return (
                    f"the link {local[0]}:{local[1]} <-> {remote[0]}:{remote[1]} to another "
                    f"rank is {state} (that rank's process is gone)"
                )
        return None

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
    return Ranks(group=group, mode=mode, links=ring_links(os.environ))


def ring_addresses(hostfile: str) -> set[tuple[str, int]]:
    """The addresses of every rank in a ring hostfile (``MLX_HOSTFILE``: a JSON list per
    rank of ``"host:port"``), host names resolved."""
    addresses = set()
    for entries in json.loads(hostfile):
        for entry in entries:
            host, _, port = str(entry).rpartition(":")
            host = host.strip("[]")
            with contextlib.suppress(OSError):  # an address already, or not resolvable here
                host = socket.gethostbyname(host)
            addresses.add((host, int(port)))
    return addresses


def ring_links(environ: Any) -> list[tuple[tuple[str, int], tuple[str, int]]]:
    """This process's established TCP connections to or from a ring address: the ring's
    links (none when the group is not a ring set up from a hostfile)."""
    path = environ.get("MLX_HOSTFILE")
    if not path:
        return []
    try:
        with open(path) as file:
            addresses = ring_addresses(file.read())
    except (OSError, ValueError, TypeError):
        logger.warning("cannot read the ring hostfile %s: rank links are not watched", path)
        return []
    import psutil

    links = []
    for conn in psutil.Process().net_connections(kind="tcp"):
        if not conn.raddr or conn.status != psutil.CONN_ESTABLISHED:
            continue
        local, remote = _address(conn.laddr), _address(conn.raddr)
        if local in addresses or remote in addresses:
            links.append((local, remote))
    return links


def _address(addr: Any) -> tuple[str, int]:
    return (str(addr[0]), int(addr[1]))


def describe(ranks: Ranks | None) -> str:
    if ranks is None:
        return "one process"
    return f"{ranks.mode} parallel over {ranks.size} ranks (this is rank {ranks.rank})"
