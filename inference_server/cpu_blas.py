"""Which BLAS library MLX's CPU backend multiplies float32 matrices with.

The ``mlx[cpu]`` wheel for Linux bundles the reference BLAS (netlib), whose ``sgemm`` is a
plain loop: its time grows with every row, where an optimized BLAS serves a batch of rows for
little more than one (``bench/cpu_dtypes.py --cpu-blas`` measures both). MLX binds
``cblas_sgemm`` when ``mlx.core`` is imported, and the dynamic linker looks in the process's
global scope first, so a CBLAS library loaded there (``RTLD_GLOBAL``) before that import is
the one MLX calls. ``activate`` does that; ``create_app`` runs it before anything imports MLX.

``MLX_SERVER_CPU_BLAS``:
- ``auto`` (default): on Linux, OpenBLAS when the dynamic linker finds ``libopenblas.so.0``
  (Debian and Ubuntu: ``apt install libopenblas0-pthread``), else the bundled library;
- ``bundled``: MLX's own;
- a path: that library, which must export ``cblas_sgemm``; anything wrong with it stops the
  start with a message saying what.

On macOS MLX uses Accelerate and nothing is loaded. Only float32 products go through the BLAS
(float16 and bfloat16 ones use MLX's own kernels), which is why ``precision.py`` upcasts to
float32 when an optimized library is active.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

AUTO = "auto"
BUNDLED = "bundled"
SYMBOL = "cblas_sgemm"

# The library files this process has checked -> whether MLX multiplies with them. Filled as
# libraries are loaded (never at import), as the dynamic linker's own state is.
_BOUND_BY_MLX: dict[str, bool] = {}


class CpuBlasError(RuntimeError):
    """The configured BLAS library cannot be used; the message says why."""


@dataclass(frozen=True)
class CpuBlas:
    """An optimized BLAS library loaded for MLX: the file that provides ``cblas_sgemm``."""

    path: str


def choose_library(choice: str, *, platform: str, find: Callable[[str], str | None]) -> str | None:
    """The library to load for a setting, or ``None`` for MLX's bundled one. Pure."""
    if choice == BUNDLED or not platform.startswith("linux"):
        return None
    if choice == AUTO:
        return find("openblas")
    return choice


def activate(choice: str) -> CpuBlas | None:
    """Load the chosen library into the global symbol scope, before MLX is imported.

    ``auto`` never fails: whatever goes wrong is logged and the bundled library stays. An
    explicit path that cannot be used raises ``CpuBlasError``.
    """
    name = choose_library(choice, platform=sys.platform, find=ctypes.util.find_library)
    if name is None:
        if choice not in (AUTO, BUNDLED):
            logger.info("MLX_SERVER_CPU_BLAS=%s is ignored on %s", choice, sys.platform)
        return None
    try:
        return _load(name)
    except CpuBlasError as exc:
        if choice != AUTO:
            raise CpuBlasError(f"MLX_SERVER_CPU_BLAS={choice}: {exc}") from exc
        logger.warning("MLX keeps its bundled BLAS: %s", exc)
        return None


def _load(name: str) -> CpuBlas:
    mapped_before = _symbol_file(SYMBOL)
    mlx_imported = "mlx.core" in sys.modules
    try:
        library = ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
    except OSError as exc:
        raise CpuBlasError(f"{name} could not be loaded ({exc})") from exc
    if not hasattr(library, SYMBOL):
        raise CpuBlasError(f"{name} does not export {SYMBOL}; it is not a CBLAS library")
    provider = _symbol_file(SYMBOL)
    own = _address_file(ctypes.cast(getattr(library, SYMBOL), ctypes.c_void_p).value)
    if provider is None or own is None or provider != own:
        raise CpuBlasError(f"{SYMBOL} resolves to {provider}, not to {name}")
    # Decided once per library and process: MLX binds its BLAS once, when it is imported, so a
    # second app in the same process (tests) must get the first answer, not a fresh guess.
    # Already in the global scope before MLX came (LD_PRELOAD, or loaded here earlier): used.
    used = _BOUND_BY_MLX.setdefault(provider, not mlx_imported or mapped_before == provider)
    if not used:
        raise CpuBlasError(f"MLX was imported before {name} was loaded, so it cannot use it")
    logger.info("MLX's CPU matrix products use %s", provider)
    return CpuBlas(path=provider)


def _symbol_file(symbol: str) -> str | None:
    """The file providing ``symbol`` in the global scope (what MLX binds to), if any."""
    try:
        function = getattr(ctypes.CDLL(None), symbol)
    except AttributeError:
        return None
    return _address_file(ctypes.cast(function, ctypes.c_void_p).value)


def _address_file(address: int | None) -> str | None:
    """The mapped file holding ``address``, from ``/proc/self/maps``."""
    if address is None:
        return None
    maps = Path("/proc/self/maps")
    if not maps.exists():
        return None
    for line in maps.read_text().splitlines():
        fields = line.split(maxsplit=5)
        if len(fields) < 6:
            continue
        start, _, end = fields[0].partition("-")
        if int(start, 16) <= address < int(end, 16):
            return os.path.realpath(fields[5])
    return None
