"""``modelyard doctor``: what is wrong with this installation, and how to fix it.

``gather`` asks the manager (``/health``, ``/api/system``, ``/ready``, a one-result Hub
search); ``evaluate`` turns those facts into checks without any I/O. A manager too old to have
``/api/system`` gets the checks that the older routes allow, and says which it could not make.
"""

from __future__ import annotations

import ctypes.util
import ipaddress
import platform
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from modelyard.client import CliError, ManagerClient
from modelyard.output import human_bytes

OPENBLAS_INSTALL = "sudo apt install libopenblas0-pthread"


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: could not be checked
    detail: str
    fix: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "detail": self.detail, "fix": self.fix}


@dataclass
class Facts:
    """What the manager said (None where it could not say)."""

    url: str
    manager_error: CliError | None = None
    system: dict[str, Any] | None = None
    ready: dict[str, Any] | None = None
    ready_status: int | None = None
    hub_error: CliError | None = None
    storage: dict[str, Any] | None = None
    pool: dict[str, Any] | None = None
    pool_error: CliError | None = None
    client_os: str = field(default_factory=platform.system)
    openblas_here: bool = field(default_factory=lambda: bool(ctypes.util.find_library("openblas")))


def gather(client: ManagerClient) -> Facts:
    facts = Facts(url=client.url)
    try:
        client.get("/health", timeout=5.0)
    except CliError as exc:
        facts.manager_error = exc
        return facts
    facts.system = client.get("/api/system", allow_404=True, timeout=15.0)
    try:
        response = client.http.get("/ready", timeout=15.0)
        facts.ready_status = response.status_code
        facts.ready = response.json()
    except (httpx.HTTPError, ValueError):
        facts.ready = None
    try:
        page = client.get("/api/hub/search", params={"limit": 1}, timeout=30.0)
        if page.get("stale"):
            facts.hub_error = CliError("the Hub did not answer (the manager served its cache)")
    except CliError as exc:
        facts.hub_error = exc
    if facts.system is None:  # an older manager: what the older routes tell
        try:
            facts.storage = client.get("/api/storage/stats", timeout=30.0)
        except CliError:
            facts.storage = None
        try:
            facts.pool = client.get("/api/inference/pool", timeout=10.0)
        except CliError as exc:
            facts.pool_error = exc
    return facts


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def evaluate(facts: Facts) -> list[Check]:
    if facts.manager_error is not None:
        return [
            Check(
                "manager reachable",
                False,
                facts.manager_error.message,
                facts.manager_error.steps,
            )
        ]
    checks = [Check("manager reachable", True, f"{facts.url} answers")]
    if facts.system is not None:
        checks += _from_system(facts.system, facts)
    else:
        checks += _from_older_routes(facts)
    checks += _ready(facts)
    checks.append(_hub(facts))
    return checks


def _from_system(system: dict[str, Any], facts: Facts) -> list[Check]:
    inference = system.get("inference") or {}
    caps = inference.get("capabilities") or {}
    reachable = bool(inference.get("reachable"))
    checks = [
        Check(
            "inference server reachable",
            reachable,
            f"{inference.get('url')} answers"
            if reachable
            else f"{inference.get('url')} does not answer",
            []
            if reachable
            else [
                "Start it (`modelyard serve` starts both processes), or set "
                "MODEL_MANAGER_INFERENCE_URL to where it listens."
            ],
        )
    ]
    if reachable and caps:
        same = caps.get("version") == system.get("version")
        checks.append(
            Check(
                "same version",
                same,
                f"manager {system.get('version')}, inference server {caps.get('version')}",
                [] if same else ["Install the same modelyard version for both and restart them."],
            )
        )
    checks.append(_folders(system, inference))
    checks.append(_disk(system))
    checks.append(_blas(caps.get("cpu_blas"), reachable, inference.get("url"), facts))
    checks.append(_token(system))
    return checks


def _folders(system: dict[str, Any], inference: dict[str, Any]) -> Check:
    agrees = inference.get("storage_agrees")
    mismatches = [str(m) for m in inference.get("mismatches") or []]
    if agrees is None:
        return Check(
            "same model folders",
            None,
            "not known while the inference server cannot be asked",
        )
    if agrees:
        return Check(
            "same model folders",
            True,
            f"both read {system.get('hf_cache_dir')} and {system.get('models_dir')}",
        )
    return Check(
        "same model folders",
        False,
        "; ".join(mismatches) or "the two processes read different folders",
        [
            "Set HF_HUB_CACHE (or HF_HOME) and MODELYARD_HOME once, for both processes, and "
            "drop the per-process folder settings (MODEL_MANAGER_HF_CACHE_DIR, "
            "MLX_SERVER_HF_CACHE_DIR, MODEL_MANAGER_MODELS_DIR, MLX_SERVER_MODELS_DIRS).",
            "Then restart both (`modelyard serve`).",
        ],
    )


def _disk(system: dict[str, Any]) -> Check:
    disk = system.get("disk") or {}
    free, reserve = disk.get("free_bytes"), disk.get("reserve_bytes")
    if free is None or reserve is None:
        return Check("disk space", None, "the manager did not report its free space")
    ok = free > reserve
    return Check(
        "disk space",
        ok,
        f"{human_bytes(free)} free in {system.get('hf_cache_dir')}, "
        f"{human_bytes(reserve)} kept in reserve",
        []
        if ok
        else [
            "Delete models you no longer use (`modelyard ls`, `modelyard rm MODEL`).",
            "Or point HF_HUB_CACHE at a larger disk, or lower MODEL_MANAGER_DISK_RESERVE_GB.",
        ],
    )


def _blas(cpu_blas: str | None, reachable: bool, inference_url: str | None, facts: Facts) -> Check:
    """OpenBLAS matters on Linux without a GPU; judged only for a server on this host."""
    host = urlsplit(inference_url or "").hostname or ""
    if not reachable or not is_loopback(host) or facts.client_os != "Linux":
        return Check(
            "OpenBLAS (Linux CPU)",
            None,
            "not applicable" if reachable else "not known while the inference server is down",
        )
    if cpu_blas:
        return Check("OpenBLAS (Linux CPU)", True, f"MLX multiplies with {cpu_blas}")
    if facts.openblas_here:
        return Check(
            "OpenBLAS (Linux CPU)",
            False,
            "OpenBLAS is installed but the inference server does not use it",
            ["Set MLX_SERVER_CPU_BLAS=auto (the default) and restart the inference server."],
        )
    return Check(
        "OpenBLAS (Linux CPU)",
        False,
        "MLX uses its bundled reference BLAS: several times slower on this CPU",
        [f"Install OpenBLAS: `{OPENBLAS_INSTALL}`, then restart the inference server."],
    )


def _token(system: dict[str, Any]) -> Check:
    host = str(system.get("bind_host") or "")
    if is_loopback(host):
        return Check("token when exposed", True, f"bound to {host or 'loopback'}")
    required = bool(system.get("auth_required"))
    return Check(
        "token when exposed",
        required,
        f"bound to {host}, " + ("a token is required" if required else "no token is required"),
        [] if required else ["Set MODEL_MANAGER_API_TOKEN, or bind MODEL_MANAGER_HOST=127.0.0.1."],
    )


def _from_older_routes(facts: Facts) -> list[Check]:
    checks = [
        Check(
            "manager version",
            None,
            "this manager has no /api/system: version and folder checks are skipped",
            ["Update modelyard on the manager's host."],
        )
    ]
    if facts.pool_error is not None:
        checks.append(
            Check(
                "inference server reachable",
                False,
                facts.pool_error.message,
                facts.pool_error.steps
                or ["Start it, or set MODEL_MANAGER_INFERENCE_URL to where it listens."],
            )
        )
    elif facts.pool is not None:
        checks.append(Check("inference server reachable", True, "its pool answers"))
    if facts.storage is not None:
        free = facts.storage.get("free_bytes")
        checks.append(
            Check("disk space", None, f"{human_bytes(free)} free (the reserve is not reported)")
        )
    return checks


def _ready(facts: Facts) -> list[Check]:
    ready = facts.ready or {}
    detailed = ready.get("checks")
    if isinstance(detailed, dict):
        failing = [
            f"{name}: {check.get('message') or 'not ok'}"
            for name, check in detailed.items()
            if isinstance(check, dict) and not check.get("ok")
        ]
        ok = facts.ready_status == 200 and not failing
        return [
            Check(
                "manager ready",
                ok,
                "database, inference server and storage ready" if ok else "; ".join(failing),
                [] if ok else ["See the manager's log for the cause."],
            )
        ]
    ok = facts.ready_status == 200
    return [
        Check(
            "manager ready",
            ok,
            "the database answers" if ok else str(ready.get("database") or "not ready"),
            [] if ok else ["See the manager's log for the cause."],
        )
    ]


def _hub(facts: Facts) -> Check:
    endpoint = (facts.system or {}).get("hf_endpoint") or "the Hub"
    if facts.hub_error is None:
        return Check("Hub reachable", True, f"{endpoint} answers")
    steps = list(facts.hub_error.steps)
    if not any("HF_ENDPOINT" in step for step in steps):
        steps.append("Check the network, or HF_ENDPOINT / MODEL_MANAGER_HF_ENDPOINT.")
    return Check("Hub reachable", False, f"{endpoint}: {facts.hub_error.message}", steps)


def passed(checks: list[Check]) -> bool:
    """Every check that could be made passed."""
    return all(check.ok is not False for check in checks)
