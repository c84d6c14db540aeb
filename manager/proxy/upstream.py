"""The connection pool the proxy forwards completions over.

The proxy's own HTTP client is aiohttp, not the httpx client the manager uses for everything
else: a forwarded request costs about a quarter of the CPU with it (its parser is compiled),
and on the proxy that time is added to every request and to every streamed chunk.
"""

from __future__ import annotations

import aiohttp

from manager.settings import ManagerSettings


def make_upstream_session(settings: ManagerSettings) -> aiohttp.ClientSession:
    """One pooled session to the inference server; call inside the running event loop."""
    headers = {}
    if settings.inference_api_key is not None:
        headers["Authorization"] = f"Bearer {settings.inference_api_key.get_secret_value()}"
    return aiohttp.ClientSession(
        headers=headers,
        connector=aiohttp.TCPConnector(
            limit=settings.proxy_max_connections,
            keepalive_timeout=30,
            use_dns_cache=True,
        ),
        # The pool wait and the connect have their own bounds; a stream may pause for as
        # long as a long prefill takes, up to the read timeout between chunks.
        timeout=aiohttp.ClientTimeout(
            total=None, connect=30, sock_connect=5, sock_read=settings.proxy_read_timeout_s
        ),
        auto_decompress=False,
        skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
        trust_env=False,
    )
