"""The command line's pure parts: doctor's verdicts, the restart back-off, SSE, lines shown,
serve's relay of the children's output and its banner's readiness."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from modelyard import doctor
from modelyard.child_logs import LogRelay, classify
from modelyard.client import CliError, error_from_body
from modelyard.progress import verified_line
from modelyard.pull import outcome
from modelyard.serve import Layout, child_environment, not_ready, read_env, restart_delay
from modelyard.sse import SSEEvent, parse_sse


def system(**overrides: Any) -> dict[str, Any]:
    caps = {"version": "0.1.0", "cpu_blas": "/usr/lib/libopenblas.so.0"}
    base: dict[str, Any] = {
        "version": "0.1.0",
        "data_dir": "/d",
        "hf_cache_dir": "/d/hub",
        "models_dir": "/d/models",
        "hf_endpoint": "https://huggingface.co",
        "auth_required": False,
        "bind_host": "127.0.0.1",
        "disk": {"free_bytes": 50 * 10**9, "reserve_bytes": 2 * 10**9},
        "local_models": 3,
        "inference": {
            "url": "http://127.0.0.1:8001",
            "reachable": True,
            "capabilities": caps,
            "storage_agrees": True,
            "mismatches": [],
        },
    }
    base.update(overrides)
    return base


def facts(sys_info: dict[str, Any] | None, **kw: Any) -> doctor.Facts:
    ready = {
        "status": "ready",
        "checks": {n: {"ok": True, "message": None} for n in ("database", "inference", "storage")},
    }
    values: dict[str, Any] = {
        "url": "http://127.0.0.1:8000",
        "system": sys_info,
        "ready": ready,
        "ready_status": 200,
        "client_os": "Linux",
        "openblas_here": False,
    }
    values.update(kw)
    return doctor.Facts(**values)


def by_name(checks: list[doctor.Check]) -> dict[str, doctor.Check]:
    return {c.name: c for c in checks}


def test_doctor_all_good() -> None:
    checks = doctor.evaluate(facts(system()))
    assert doctor.passed(checks)
    assert set(by_name(checks)) == {
        "manager reachable",
        "inference server reachable",
        "same version",
        "same model folders",
        "disk space",
        "OpenBLAS (Linux CPU)",
        "token when exposed",
        "manager ready",
        "Hub reachable",
    }


def test_doctor_folder_mismatch_is_named_with_its_fix() -> None:
    inference = {
        **system()["inference"],
        "storage_agrees": False,
        "mismatches": ["the manager keeps Hub models in /a, but the inference server reads /b"],
    }
    checks = by_name(doctor.evaluate(facts(system(inference=inference))))
    folders = checks["same model folders"]
    assert folders.ok is False and "/a" in folders.detail and "/b" in folders.detail
    assert any("HF_HUB_CACHE" in step for step in folders.fix)
    assert not doctor.passed(list(checks.values()))


@pytest.mark.parametrize(
    ("change", "name"),
    [
        ({"disk": {"free_bytes": 1, "reserve_bytes": 2 * 10**9}}, "disk space"),
        ({"bind_host": "0.0.0.0", "auth_required": False}, "token when exposed"),
        ({"version": "0.2.0"}, "same version"),
    ],
)
def test_doctor_failures(change: dict[str, Any], name: str) -> None:
    checks = by_name(doctor.evaluate(facts(system(**change))))
    assert checks[name].ok is False and checks[name].fix


def test_doctor_openblas() -> None:
    no_blas = system()
    no_blas["inference"]["capabilities"]["cpu_blas"] = None
    missing = by_name(doctor.evaluate(facts(no_blas)))["OpenBLAS (Linux CPU)"]
    assert missing.ok is False and "apt install libopenblas0-pthread" in missing.fix[0]
    unused = by_name(doctor.evaluate(facts(no_blas, openblas_here=True)))["OpenBLAS (Linux CPU)"]
    assert unused.ok is False and "MLX_SERVER_CPU_BLAS" in unused.fix[0]
    mac = by_name(doctor.evaluate(facts(no_blas, client_os="Darwin")))["OpenBLAS (Linux CPU)"]
    assert mac.ok is None


def test_doctor_inference_down() -> None:
    down = system()
    down["inference"].update(reachable=False, storage_agrees=None)
    checks = by_name(doctor.evaluate(facts(down)))
    assert checks["inference server reachable"].ok is False
    assert checks["same model folders"].ok is None
    assert not doctor.passed(list(checks.values()))


def test_doctor_older_manager_and_unreachable_manager() -> None:
    older = doctor.evaluate(
        facts(None, ready={"status": "ready", "database": "ok"}, pool={"slots": []})
    )
    assert doctor.passed(older)
    assert by_name(older)["manager version"].ok is None
    gone = doctor.evaluate(facts(None, manager_error=CliError("cannot reach", exit_code=3)))
    assert [c.name for c in gone] == ["manager reachable"] and not doctor.passed(gone)


def test_restart_back_off_doubles_to_a_cap() -> None:
    assert [restart_delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]


def test_env_file_fills_only_what_the_environment_lacks(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("MODEL_MANAGER_PORT=9000\nMLX_SERVER_PORT=9001\n")
    env = read_env({"MODEL_MANAGER_PORT": "7000"}, env_file)
    assert env["MODEL_MANAGER_PORT"] == "7000" and env["MLX_SERVER_PORT"] == "9001"
    layout = Layout.from_env(env)
    assert layout.manager_url == "http://127.0.0.1:7000"
    assert layout.inference_url == "http://127.0.0.1:9001"
    bound = Layout.from_env(
        {"MODEL_MANAGER_HOST": "0.0.0.0", "MODEL_MANAGER_INFERENCE_URL": "http://x:1/"}
    )
    assert bound.manager_url == "http://127.0.0.1:8000" and bound.inference_url == "http://x:1"


def test_sse_parsing() -> None:
    lines = ["retry: 2000", "id: a-1", 'data: {"x": 1}', "", ": keep-alive", "", "data: [DONE]", ""]
    assert list(parse_sse(lines)) == [SSEEvent('{"x": 1}', "a-1"), SSEEvent("[DONE]")]
    assert list(parse_sse(["data: a", "data: b"])) == [SSEEvent("a\nb")]


def test_envelope_errors_keep_message_and_steps() -> None:
    body = {"error": {"message": "nope", "code": "x", "resolution_steps": ["do y"]}}
    error = error_from_body(404, body, fallback="?")
    assert (error.message, error.steps, error.code, error.status) == ("nope", ["do y"], "x", 404)
    unauthorized = error_from_body(401, {"error": {"message": "bad token"}}, fallback="?")
    assert "MODEL_MANAGER_API_TOKEN" in unauthorized.steps[0]
    assert error_from_body(502, "oops", fallback="Bad Gateway").message == "HTTP 502: Bad Gateway"


def test_verified_line_and_outcomes() -> None:
    job = {
        "model_id": "org/m",
        "status": "completed",
        "bytes_total": 3_000_000,
        "bytes_transferred": 3_000_000,
        "started_at": 100.0,
        "finished_at": 102.0,
        "files": [{"lfs": True}, {"lfs": False}, {"lfs": False}],
    }
    assert verified_line(job) == (
        "✓ org/m: 3 files, 3.0 MB verified (1 by sha256, 2 by git blob sha1) in 2.0 s, 1.5 MB/s"
    )
    assert outcome(job) is None
    failed = outcome(
        {**job, "status": "failed", "error": {"message": "disk full", "resolution_steps": ["free"]}}
    )
    assert failed is not None and failed.message == "disk full" and failed.steps[0] == "free"
    paused = outcome({**job, "status": "paused"})
    assert paused is not None and "modelyard pull org/m" in paused.steps[0]


# ---- serve's relay of the children's output ---------------------------------------------------


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (
            '{"level": "info", "logger": "uvicorn.error", "msg": "Started server process [7]"}\n',
            ("INFO", True),
        ),
        (
            '{"level": "info", "logger": "uvicorn.error", "msg": "Uvicorn running on http://127.0.0.1:8000 (Press CTRL+C to quit)"}',
            ("INFO", True),
        ),
        ('{"level": "info", "logger": "uvicorn.error", "msg": "Shutting down"}', ("INFO", True)),
        ('{"level": "info", "logger": "manager.app", "msg": "Shutting down"}', ("INFO", False)),
        ('{"level": "warning", "logger": "manager", "msg": "disk is low"}', ("WARNING", False)),
        (
            "13:43:44.807 INFO    inference_server  Waiting for application startup.\n",
            ("INFO", True),
        ),
        ("13:43:44.807 INFO    manager  Application shutdown complete.", ("INFO", True)),
        ("13:43:44.807 INFO    manager  GET /v1/models 200 3.1 ms  [abc]", ("INFO", False)),
        ("13:43:44.807 ERROR   manager  [Errno 98] address already in use", ("ERROR", False)),
        ("Traceback (most recent call last):", (None, False)),
        ("{not json", (None, False)),
        ('{"msg": "no level"}', (None, False)),
    ],
)
def test_classify_child_lines(line: str, expected: tuple[str | None, bool]) -> None:
    assert classify(line) == expected


def test_relay_holds_quiet_lines_until_the_banner() -> None:
    out = io.StringIO()
    relay = LogRelay(out)
    relay.line("12:00:00.000 INFO    manager  GET /api/system 200 4.0 ms")
    relay.line("12:00:00.001 INFO    manager  Application startup complete.")
    relay.line("12:00:00.002 WARNING manager  the inference server has not answered yet")
    relay.line("Traceback (most recent call last):")
    assert out.getvalue().splitlines() == [
        "12:00:00.002 WARNING manager  the inference server has not answered yet",
        "Traceback (most recent call last):",
    ]
    relay.release(replay=False)
    relay.line("12:00:01.000 INFO    manager  GET /v1/models 200 3.0 ms")
    relay.line("12:00:01.001 INFO    manager  Shutting down")
    assert (
        out.getvalue().splitlines()[-1] == "12:00:01.000 INFO    manager  GET /v1/models 200 3.0 ms"
    )
    assert "GET /api/system" not in out.getvalue()  # dropped: the start went well


def test_relay_replays_held_lines_when_start_up_fails() -> None:
    out = io.StringIO()
    relay = LogRelay(out, hold_lines=2)
    for n in range(3):
        relay.line(f'{{"level": "info", "logger": "x", "msg": "step {n}"}}')
    relay.release(replay=True)
    assert [json.loads(line)["msg"] for line in out.getvalue().splitlines()] == ["step 1", "step 2"]


def test_children_write_text_logs_when_serve_is_in_a_terminal() -> None:
    layout = Layout("http://127.0.0.1:8000", "http://127.0.0.1:8001")
    assert child_environment({}, layout, terminal=True)["MODEL_MANAGER_LOG_FORMAT"] == "text"
    chosen = child_environment({"MLX_SERVER_LOG_FORMAT": "json"}, layout, terminal=True)
    assert (
        chosen["MLX_SERVER_LOG_FORMAT"] == "json" and chosen["MODEL_MANAGER_LOG_FORMAT"] == "text"
    )
    assert "MODEL_MANAGER_LOG_FORMAT" not in child_environment({}, layout, terminal=False)


def test_banner_names_what_is_not_ready() -> None:
    ready = {
        "status": "not_ready",
        "checks": {
            "database": {"ok": True, "message": None},
            "inference": {"ok": True, "message": None},
            "storage": {"ok": False, "message": "the manager keeps Hub models in /a"},
        },
    }
    assert not_ready(ready) == ["storage: the manager keeps Hub models in /a"]
    assert not_ready({"status": "ready", "checks": {}}) == []
    assert not_ready(None) == ["the manager did not answer /ready"]
