"""Log lines: JSON for machines (no duplicated fields), text for people, one access line per
request with its id, and ``--help`` on both processes."""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from service_kit.observability import (
    JSONFormatter,
    TextFormatter,
    configure_logging,
    request_id_var,
)


def record(msg: str = "hello %s", *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, msg, args or ("x",), None)
    rec.__dict__.update(extra)
    return rec


def test_json_lines_drop_uvicorn_color_message() -> None:
    rec = record(color_message="\x1b[1mhello x\x1b[0m", job_id="j1")
    token = request_id_var.set("rid-1")
    try:
        entry = json.loads(JSONFormatter("manager").format(rec))
    finally:
        request_id_var.reset(token)
    assert entry["msg"] == "hello x" and entry["job_id"] == "j1" and entry["request_id"] == "rid-1"
    assert "color_message" not in entry


def test_text_lines_for_people() -> None:
    rec = record(color_message="\x1b[1mhello x\x1b[0m", job_id="j1")
    token = request_id_var.set("rid-2")
    try:
        line = TextFormatter("manager").format(rec)
    finally:
        request_id_var.reset(token)
    assert " INFO    manager  hello x  job_id=j1  [rid-2]" in line
    assert "\x1b" not in line and "color_message" not in line


@pytest.mark.parametrize(("setting", "kind"), [("json", JSONFormatter), ("text", TextFormatter)])
def test_the_format_setting_wins(setting: str, kind: type[logging.Formatter]) -> None:
    root = logging.getLogger()
    saved, level = root.handlers[:], root.level
    try:
        configure_logging("manager", "INFO", setting)
        assert isinstance(root.handlers[0].formatter, kind)
    finally:
        root.handlers[:] = saved
        root.setLevel(level)


def test_auto_is_json_when_stderr_is_not_a_terminal() -> None:
    code = (
        "import logging; from service_kit.observability import configure_logging;"
        "configure_logging('manager', 'INFO', 'auto');"
        "logging.getLogger('x').info('a line')"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert json.loads(result.stderr)["msg"] == "a line"


@pytest.mark.parametrize(
    ("module", "variable"),
    [("manager", "MODEL_MANAGER_LOG_FORMAT"), ("inference_server", "MLX_SERVER_CPU_BLAS")],
)
def test_help_prints_the_settings_instead_of_starting(module: str, variable: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", module, "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: python -m {module}")
    assert f"  {variable}  (default: " in result.stdout
    wrong = subprocess.run(
        [sys.executable, "-m", module, "--port", "1"], capture_output=True, text=True, timeout=60
    )
    assert wrong.returncode == 2 and "settings come from the environment" in wrong.stderr
