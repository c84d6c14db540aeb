"""A TCP relay that copies bytes both ways and does nothing else: the floor for a proxy.

``bench/proxy_overhead.py`` runs it as a third path beside "direct" and "through the manager",
so the figure for the manager can be read against what any proxy in its place costs on the
same machine in the same run (an extra process and two socket hops per chunk, no HTTP).

    python bench/byte_relay.py LISTEN_PORT UPSTREAM_PORT
"""

from __future__ import annotations

import asyncio
import sys
from typing import cast


class _Upstream(asyncio.Protocol):
    def __init__(self, downstream: asyncio.Transport) -> None:
        self.downstream = downstream

    def data_received(self, data: bytes) -> None:
        self.downstream.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.downstream.close()


class _Downstream(asyncio.Protocol):
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.upstream: asyncio.Transport | None = None
        self.pending: list[bytes] = []
        self.connecting: asyncio.Task[None] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.connecting = asyncio.ensure_future(self._connect())

    async def _connect(self) -> None:
        loop = asyncio.get_running_loop()
        upstream, _ = await loop.create_connection(
            lambda: _Upstream(self.transport), "127.0.0.1", self.upstream_port
        )
        self.upstream = upstream
        for data in self.pending:
            upstream.write(data)
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        if self.upstream is None:
            self.pending.append(data)
        else:
            self.upstream.write(data)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.upstream is not None:
            self.upstream.close()


async def serve(listen_port: int, upstream_port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Downstream(upstream_port), "127.0.0.1", listen_port)
    await server.serve_forever()


if __name__ == "__main__":
    import uvloop

    uvloop.run(serve(int(sys.argv[1]), int(sys.argv[2])))
