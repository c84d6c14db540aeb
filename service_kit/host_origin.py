"""Host and Origin checks, run before any route: DNS rebinding and cross-site requests.

**DNS rebinding.** A page on ``evil.example`` points its own name at ``127.0.0.1`` once it
has loaded; the browser then sends the page's requests to the local service as same-origin
requests (CORS never applies), but with ``Host: evil.example``. So a request is answered only
when its ``Host`` names this server: a loopback name or address (``localhost``,
``127.0.0.0/8``, ``[::1]``), the address it is bound to, or a name the operator listed
(``*_ALLOWED_HOSTS``; ``*`` allows any and is accepted only together with a token). The port
is not compared. A request with no ``Host`` at all (HTTP/1.0) passes: browsers always send
one, so the attack cannot produce it. ``/health`` skips the Host check, so an orchestrator's
probe that addresses the container by its IP keeps working; it answers only ``ok``.

**Cross-site requests.** A form post or a ``fetch`` with ``mode: "no-cors"`` acts without a
preflight, and the browser still tells the server where it comes from. A request carrying an
``Origin`` is answered only when that origin is allowed: a configured CORS origin (by default
any ``localhost`` / ``127.0.0.1`` / ``[::1]`` origin), or the server's own origin (the
``Origin`` names the host and port the request was sent to, and that Host is allowed), so a
web page served by the process itself can call its API. The scheme is not compared: one port
speaks one protocol, and a TLS proxy in front makes the page ``https`` while the request
arrives as ``http``. ``Origin: null`` (sandboxed frames, local files) is never allowed.

Both refusals are 403 in the envelope (``host_not_allowed`` / ``origin_not_allowed``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from service_kit.service_errors import send_envelope
from shared_schemas.errors import ErrorSource, envelope

LOCAL_ORIGIN_REGEX = r"^https?://(localhost|127\.0\.0\.1|\[::1\])(:\d+)?$"
ANY_HOST = "*"
DEFAULT_PORTS = {"http": 80, "https": 443}
_PORT = re.compile(r"^[0-9]{1,5}$")


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (brackets around IPv6 allowed)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def canonical_name(name: str) -> str:
    """Lower case, no trailing dot, an IP address in its compressed form."""
    name = name.strip().lower().rstrip(".")
    try:
        return ipaddress.ip_address(name).compressed
    except ValueError:
        return name


def split_authority(value: str) -> tuple[str, int | None] | None:
    """``name[:port]`` or ``[v6][:port]`` as (canonical name, port); None when malformed."""
    value = value.strip()
    if value.startswith("["):
        inside, bracket, rest = value[1:].partition("]")
        if not bracket or not inside:
            return None
        name = inside
        if rest and not rest.startswith(":"):
            return None
        port = rest[1:] if rest else None
    else:
        name, colon, port_text = value.partition(":")
        if ":" in port_text:  # an IPv6 address must be bracketed
            return None
        port = port_text if colon else None
    if port is not None and not (_PORT.match(port) and int(port) <= 65535):
        return None
    name = canonical_name(name)
    if not name or any(c in name for c in "/@\\ \t"):
        return None
    return name, int(port) if port is not None else None


def parse_allowed_hosts(value: object) -> object:
    """A settings validator: comma-separated names or addresses, or ``*``. A port, a scheme or
    a path in an entry is an error (the list names hosts; the port is never compared)."""
    if isinstance(value, str):
        value = [item.strip() for item in value.split(",") if item.strip()]
    if not isinstance(value, list):
        return value
    names: list[str] = []
    for entry in value:
        if entry == ANY_HOST:
            names.append(ANY_HOST)
            continue
        parsed = split_authority(str(entry))
        if parsed is None or parsed[1] is not None:
            raise ValueError(f"{str(entry)[:100]!r} is not a host name or address (no port)")
        names.append(parsed[0])
    return names


def wildcard_needs_token(
    allowed_hosts: Iterable[str], has_token: bool, *, hosts_var: str, token_var: str
) -> None:
    """Refuse ``*`` (any Host) unless the process requires a token, as for a public bind."""
    if ANY_HOST in allowed_hosts and not has_token:
        raise ValueError(
            f"{hosts_var}='*' needs {token_var}: without a token any web page can reach this "
            "server through DNS rebinding; set one, or list the host names"
        )


@dataclass(frozen=True)
class HostPolicy:
    """Which ``Host`` names a server answers to (besides loopback, always allowed)."""

    names: frozenset[str]
    any_host: bool = False

    @classmethod
    def build(cls, bind_host: str, allowed: Iterable[str]) -> HostPolicy:
        allowed = list(allowed)
        names = {name for name in allowed if name != ANY_HOST}
        bound = canonical_name(bind_host.strip("[]"))
        try:
            unspecified = ipaddress.ip_address(bound).is_unspecified  # 0.0.0.0 names nothing
        except ValueError:
            unspecified = False
        if bound and not unspecified:
            names.add(bound)
        return cls(frozenset(names), any_host=ANY_HOST in allowed)

    def allows(self, host: str) -> bool:
        parsed = split_authority(host)
        if parsed is None:
            return False
        name = parsed[0]
        return self.any_host or name in self.names or is_loopback(name)


@dataclass(frozen=True)
class OriginPolicy:
    """Which ``Origin`` values a server answers: configured ones (exact, as CORS compares
    them), else those matching ``pattern``, and always the server's own origin."""

    origins: frozenset[str]
    pattern: re.Pattern[str] | None

    @classmethod
    def build(cls, cors_origins: Iterable[str]) -> OriginPolicy:
        origins = frozenset(cors_origins)
        return cls(origins, None if origins else re.compile(LOCAL_ORIGIN_REGEX))

    def allows(self, origin: str, allowed_host: str | None) -> bool:
        """``allowed_host``: the request's Host when present and allowed, else None."""
        if origin in self.origins or (self.pattern is not None and self.pattern.match(origin)):
            return True
        return allowed_host is not None and same_origin(origin, allowed_host)


def same_origin(origin: str, host: str) -> bool:
    """``origin`` names the host and port in ``host`` (a Host header); a Host without a port
    stands for the default port of the origin's scheme."""
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in DEFAULT_PORTS or parts.path or parts.query or parts.username:
        return False
    mine = split_authority(parts.netloc)
    theirs = split_authority(host)
    if mine is None or theirs is None or mine[0] != theirs[0]:
        return False
    default = DEFAULT_PORTS[parts.scheme]
    port = mine[1] if mine[1] is not None else default
    return port == (theirs[1] if theirs[1] is not None else default)


class HostOriginMiddleware:
    """Refuse a request whose Host or Origin is not allowed, before any route (preflights too).

    ``env_prefix`` names the process's settings in the advice (``MODEL_MANAGER_``, say).
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        hosts: HostPolicy,
        origins: OriginPolicy,
        src: ErrorSource,
        env_prefix: str,
        host_open_paths: Iterable[str] = ("/health",),
    ) -> None:
        self.app = app
        self.hosts = hosts
        self.origins = origins
        self._src: ErrorSource = src
        self._prefix = env_prefix
        self._host_open = frozenset(host_open_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        hosts: list[str] = []
        origins: list[str] = []
        for name, value in scope.get("headers", []):
            if name == b"host":
                hosts.append(value.decode("latin-1"))
            elif name == b"origin":
                origins.append(value.decode("latin-1"))
        host_ok = len(hosts) <= 1 and all(self.hosts.allows(h) for h in hosts)
        if not host_ok and scope["path"] not in self._host_open:
            await send_envelope(send, 403, self._host_refused(", ".join(hosts)))
            return
        allowed_host = hosts[0] if hosts and host_ok else None
        for origin in origins:
            if not self.origins.allows(origin, allowed_host):
                await send_envelope(send, 403, self._origin_refused(origin))
                return
        await self.app(scope, receive, send)

    def _host_refused(self, host: str) -> dict[str, Any]:
        shown = host[:100]
        return envelope(
            f"this server does not answer to the host name {shown!r}",
            type="permission_error",
            code="host_not_allowed",
            src=self._src,
            details={"host": shown},
            resolution_steps=[
                "Use a loopback address (http://127.0.0.1:<port>, http://localhost:<port>).",
                f"To reach it by this name, add the name to {self._prefix}ALLOWED_HOSTS.",
            ],
        )

    def _origin_refused(self, origin: str) -> dict[str, Any]:
        shown = origin[:100]
        return envelope(
            f"requests from the web origin {shown!r} are not allowed",
            type="permission_error",
            code="origin_not_allowed",
            src=self._src,
            details={"origin": shown},
            resolution_steps=[
                f"To let pages from this origin call the API, list it in "
                f"{self._prefix}CORS_ORIGINS."
            ],
        )
