"""MLX_SERVER_CPU_BLAS: a CBLAS library loaded before MLX is the one MLX multiplies with.

The positive cases use a counting CBLAS compiled here from C (a plain, correct ``sgemm`` that
counts its calls), so they need a C compiler but no OpenBLAS; each runs in a fresh Python
process, since MLX binds its BLAS once per process, when it is imported.
"""

from __future__ import annotations

import _ctypes
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest

from inference_server.cpu_blas import CpuBlasError, activate, choose_library
from modelyard_dev.procs import base_env, inference_service, running

ROOT = Path(__file__).resolve().parents[2]

COUNTING_CBLAS = r"""
static long calls = 0;
long counting_calls(void) { return calls; }

void cblas_sgemm(int order, int trans_a, int trans_b, int m, int n, int k, float alpha,
                 const float *a, int lda, const float *b, int ldb, float beta,
                 float *c, int ldc) {
    int row_major = order == 101, ta = trans_a != 111, tb = trans_b != 111;
    calls++;
    for (int i = 0; i < m; i++) {
        for (int j = 0; j < n; j++) {
            float sum = 0.0f;
            for (int p = 0; p < k; p++) {
                float x = row_major ? (ta ? a[p * lda + i] : a[i * lda + p])
                                    : (ta ? a[i * lda + p] : a[p * lda + i]);
                float y = row_major ? (tb ? b[j * ldb + p] : b[p * ldb + j])
                                    : (tb ? b[p * ldb + j] : b[j * ldb + p]);
                sum += x * y;
            }
            float *out = row_major ? &c[i * ldc + j] : &c[j * ldc + i];
            *out = alpha * sum + (beta == 0.0f ? 0.0f : beta * *out);
        }
    }
}
"""


@pytest.fixture(scope="module")
def counting_blas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None or not sys.platform.startswith("linux"):
        pytest.skip("needs Linux and a C compiler")
    folder = tmp_path_factory.mktemp("blas")
    source = folder / "counting.c"
    source.write_text(COUNTING_CBLAS)
    library = folder / "libcountingblas.so"
    subprocess.run(
        [compiler, "-O1", "-shared", "-fPIC", "-o", str(library), str(source)], check=True
    )
    return library


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=ROOT,
        env=base_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_choice_of_library() -> None:
    def find(name: str) -> str | None:
        return f"lib{name}.so.0"

    assert choose_library("auto", platform="linux", find=find) == "libopenblas.so.0"
    assert choose_library("auto", platform="linux", find=lambda _: None) is None
    assert choose_library("bundled", platform="linux", find=find) is None
    assert choose_library("/opt/libblas.so", platform="linux", find=find) == "/opt/libblas.so"
    assert choose_library("auto", platform="darwin", find=find) is None  # Accelerate there
    assert choose_library("/opt/libblas.so", platform="darwin", find=find) is None


def test_bundled_loads_nothing() -> None:
    assert activate("bundled") is None


def test_a_library_without_cblas_is_refused() -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("needs Linux")
    with pytest.raises(CpuBlasError, match="does not export cblas_sgemm"):
        activate(_ctypes.__file__)


def test_a_file_that_is_not_a_library_is_refused(tmp_path: Path) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("needs Linux")
    junk = tmp_path / "libjunk.so"
    junk.write_text("not a library")
    with pytest.raises(CpuBlasError, match="could not be loaded"):
        activate(str(junk))


def test_mlx_multiplies_with_the_library_loaded_before_it(counting_blas: Path) -> None:
    result = run_python(
        f"""
        import ctypes, json
        import numpy as np
        from inference_server.cpu_blas import activate
        active = activate({str(counting_blas)!r})
        import mlx.core as mx
        a = np.arange(12, dtype=np.float32).reshape(3, 4) / 7
        b = np.arange(20, dtype=np.float32).reshape(4, 5) / 3
        product = mx.array(a) @ mx.array(b)
        transposed = mx.array(b).T @ mx.array(a).T
        mx.eval(product, transposed)
        error = max(
            float(np.abs(np.array(product) - a @ b).max()),
            float(np.abs(np.array(transposed) - (a @ b).T).max()),
        )
        calls = ctypes.CDLL({str(counting_blas)!r}).counting_calls()
        again = activate({str(counting_blas)!r})  # a second app in the same process
        print(json.dumps({{"path": active.path, "again": again.path, "calls": calls,
                          "error": error}}))
        """
    )
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout.splitlines()[-1])
    assert seen["path"] == seen["again"] == os.path.realpath(counting_blas)
    assert seen["calls"] >= 2
    assert seen["error"] < 1e-4


def test_too_late_once_mlx_is_imported(counting_blas: Path) -> None:
    result = run_python(
        f"""
        import mlx.core
        from inference_server.cpu_blas import CpuBlasError, activate
        for attempt in range(2):  # the second app in a process gets the same answer
            try:
                activate({str(counting_blas)!r})
            except CpuBlasError as exc:
                print("refused:", exc)
        """
    )
    assert result.returncode == 0, result.stderr
    refusals = [line for line in result.stdout.splitlines() if line.startswith("refused:")]
    assert len(refusals) == 2 and all("imported before" in line for line in refusals)


def test_server_uses_the_library_and_upcasts(
    counting_blas: Path, models_dir: Path, hf_cache: Path, log_dir: Path
) -> None:
    service = inference_service(
        {
            "MLX_SERVER_MODELS_DIRS": str(models_dir),
            "MLX_SERVER_HF_CACHE_DIR": str(hf_cache),
            "MLX_SERVER_CPU_BLAS": str(counting_blas),
        },
        log_dir=log_dir,
    )
    with running(service):
        reply = httpx.post(
            f"{service.url}/v1/chat/completions",
            json={
                "model": "local/tiny-a",
                "messages": [{"role": "user", "content": "hello"}],
                "max_tokens": 4,
            },
            timeout=60,
        )
        assert reply.status_code == 200, reply.text
        assert reply.json()["usage"]["completion_tokens"] >= 1
        pool = httpx.get(f"{service.url}/admin/pool", timeout=10).json()
        maps = Path(f"/proc/{service.pid}/maps").read_text()
    assert pool["cpu_blas"] == os.path.realpath(counting_blas)
    # MLX_SERVER_CPU_FLOAT32=auto: float16 weights upcast, as an optimized BLAS is loaded
    assert [slot["compute_dtype"] for slot in pool["slots"]] == ["float32"]
    assert os.path.realpath(counting_blas) in maps


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("/no/such/libblas.so", "is not a file"),
        (_ctypes.__file__, "does not export cblas_sgemm"),  # a shared library, but no BLAS
    ],
)
def test_server_refuses_to_start_with_an_unusable_library(value: str, message: str) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("needs Linux")
    result = subprocess.run(
        [sys.executable, "-m", "inference_server"],
        cwd=ROOT,
        env=base_env({"MLX_SERVER_CPU_BLAS": value, "MLX_SERVER_PORT": "1"}),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
