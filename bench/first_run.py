"""First run from a fresh clone: ``scripts/run.sh`` until ``modelyard serve`` prints its banner.

Clones a git repository (default: this one; ``--source`` names another, e.g. an older tree to
compare) into a temporary folder and runs its ``scripts/run.sh`` there, as a new user would:
no virtual environment, nothing cached (``UV_CACHE_DIR`` in the temporary folder, so uv
downloads every wheel), the data and the Hugging Face cache in the temporary folder, free
ports. Times when the venv exists, when the install is done (the bootstrap's stamp), and when
the banner appears, with the load average before and after (a shared host varies a lot), and
compares the total with the 60 s budget. ``--runs N`` repeats it. Prints one JSON line.

    python bench/first_run.py [--source PATH] [--runs 1]
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._common import emit, median
from modelyard_dev.procs import free_port

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = 60.0
BANNER = "is serving"
TIMEOUT_S = 900.0


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def one_run(source: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-first-run-") as tmp:
        root = Path(tmp)
        clone = root / "clone"
        subprocess.run(["git", "clone", "-q", str(source), str(clone)], check=True)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("MODEL_MANAGER_", "MLX_SERVER_", "MODELYARD_", "VIRTUAL_ENV"))
        }
        env.update(
            UV_CACHE_DIR=str(root / "uv-cache"),
            MODELYARD_HOME=str(root / "home"),
            HF_HOME=str(root / "hf"),
            MODEL_MANAGER_PORT=str(free_port()),
            MLX_SERVER_PORT=str(free_port()),
        )
        log = root / "run.log"
        load_before = load_average()
        started = time.monotonic()
        with log.open("wb") as out:
            proc = subprocess.Popen(
                ["scripts/run.sh"],
                cwd=clone,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        marks: dict[str, float] = {}
        venv, stamp = clone / ".venv" / "bin" / "python", clone / ".venv"
        try:
            while proc.poll() is None and time.monotonic() - started < TIMEOUT_S:
                now = time.monotonic() - started
                if "venv_s" not in marks and venv.exists():
                    marks["venv_s"] = now
                if "installed_s" not in marks and any(stamp.glob(".modelyard-installed-*")):
                    marks["installed_s"] = now
                if BANNER in log.read_text(errors="replace"):
                    marks["banner_s"] = now
                    break
                time.sleep(0.1)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGINT)
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(5)
        if "banner_s" not in marks:
            tail = log.read_text(errors="replace")[-2000:]
            raise SystemExit(f"no banner within {TIMEOUT_S:.0f} s:\n{tail}")
        return {
            **{k: round(v, 1) for k, v in marks.items()},
            "load_before": load_before,
            "load_after": load_average(),
        }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--source", type=Path, default=ROOT)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    runs = [one_run(args.source.resolve()) for _ in range(args.runs)]
    total = median([r["banner_s"] for r in runs])
    emit(
        {
            "benchmark": "first_run",
            "source": str(args.source),
            "runs": runs,
            "banner_median_s": round(total, 1),
            "budget_s": BUDGET_S,
            "banner_vs_budget_ratio": round(total / BUDGET_S, 3),
        }
    )


if __name__ == "__main__":
    main()
