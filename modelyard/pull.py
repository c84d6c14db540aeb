"""``modelyard pull``: start (or re-attach to) a download job and follow it to its end.

The job runs in the manager; this command only watches its event stream. Ctrl-C detaches
(the download goes on) or, with ``--pause-on-exit``, pauses the job first.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.markup import escape

from modelyard.client import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_UNREACHABLE,
    CliError,
    ManagerClient,
)
from modelyard.output import ago, emit_json, human_bytes, print_error
from modelyard.progress import JobProgress, verified_line
from modelyard.sse import parse_sse

ACTIVE = ("queued", "downloading", "paused", "verifying")
FINISHED = ("completed", "failed", "cancelled")
RECONNECT_FOR_S = 30.0


@dataclass(frozen=True)
class PullRequest:
    model_id: str
    revision: str = "main"
    include: tuple[str, ...] = ()
    pause_on_exit: bool = False
    force: bool = False


def find_active(client: ManagerClient, model_id: str, revision: str) -> dict[str, Any] | None:
    """The job already downloading this model at this revision, if any."""
    listing = client.get("/api/downloads", params={"status": list(ACTIVE), "limit": 1000})
    for job in listing.get("downloads", []):
        if job["model_id"] == model_id and job["revision"] == revision:
            found: dict[str, Any] = job
            return found
    return None


def start(client: ManagerClient, request: PullRequest) -> tuple[dict[str, Any], bool, bool]:
    """``(job, reattached, already_complete)``; a paused job is resumed."""
    existing = find_active(client, request.model_id, request.revision)
    body: dict[str, Any] = {"model_id": request.model_id, "revision": request.revision}
    if request.include:
        body["allow_patterns"] = list(request.include)
    if request.force:
        body["force"] = True
    try:
        job = client.post("/api/downloads", body, timeout=120.0)
    except CliError as exc:
        if exc.code == "model_not_servable":
            raise not_servable(exc, request.model_id) from None
        raise
    reattached = existing is not None and existing["id"] == job["id"]
    complete = job["status"] == "completed" and not reattached
    if job["status"] == "paused":
        job = client.post(f"/api/downloads/{job['id']}/resume")
    return job, reattached, complete


def not_servable(exc: CliError, model_id: str) -> CliError:
    """The manager's 409 ``model_not_servable`` in the command line's words: the verdict and
    its reasons, what to do instead, and ``--force`` in place of the API's ``"force": true``."""
    details = exc.details
    verdict = details.get("verdict") or "unknown"
    reasons = [
        r["message"]
        for r in details.get("reasons") or []
        if isinstance(r, dict) and r.get("severity") != "info" and isinstance(r.get("message"), str)
    ]
    message = f"{model_id} would not run on this inference server (verdict: {verdict})"
    if reasons:
        message += ": " + "; ".join(reasons)
    steps = [s for s in exc.steps if '"force"' not in s and "GET /api/" not in s]
    steps += [
        f"See the verdict and the model's files: `modelyard info {model_id}`.",
        f"To download it anyway: `modelyard pull {model_id} --force`.",
    ]
    return CliError(message, steps=steps, code=exc.code, status=exc.status, details=details)


def forced_warning(job: dict[str, Any]) -> str | None:
    """The line that says a job was forced past its verdict (None when it was not)."""
    warning = job.get("warning")
    if not isinstance(warning, dict):
        return None
    details = warning.get("details") or {}
    reasons = [
        r["message"]
        for r in details.get("reasons") or []
        if isinstance(r, dict) and r.get("severity") != "info" and isinstance(r.get("message"), str)
    ]
    why = "; ".join(reasons) or str(warning.get("message") or "")
    return f"! downloading anyway: it would not run here ({details.get('verdict', '?')}): {why}"


def job_events(
    client: ManagerClient, job_id: str, *, sleep: Callable[[float], None] = time.sleep
) -> Iterator[dict[str, Any]]:
    """The job's states from its event stream, reconnecting (with ``Last-Event-ID``) when the
    stream breaks, for up to ``RECONNECT_FOR_S`` while the manager cannot be reached."""
    last_id: str | None = None
    down_since: float | None = None
    while True:
        headers = {"Last-Event-ID": last_id} if last_id else {}
        try:
            with client.stream(
                "GET", f"/api/downloads/{job_id}/events", headers=headers, read_timeout=120.0
            ) as response:
                down_since = None
                for event in parse_sse(response.iter_lines()):
                    last_id = event.id or last_id
                    job = _job_of(json.loads(event.data), job_id)
                    if job is not None:
                        yield job
        except CliError as exc:
            if exc.exit_code != EXIT_UNREACHABLE:
                raise
            down_since = down_since or time.monotonic()
            if time.monotonic() - down_since > RECONNECT_FOR_S:
                raise
        sleep(0.5)


def _job_of(payload: dict[str, Any], job_id: str) -> dict[str, Any] | None:
    if payload.get("type") == "snapshot":
        for job in payload.get("jobs", []):
            if job.get("id") == job_id:
                found: dict[str, Any] = job
                return found
        return None
    job = payload.get("job")
    if isinstance(job, dict) and job.get("id") == job_id:
        return job
    if payload.get("type") == "deleted" and payload.get("job_id") == job_id:
        raise CliError(
            "the download job was removed while it was being watched",
            steps=["Start it again with `modelyard pull`."],
        )
    return None


def follow(
    client: ManagerClient, job: dict[str, Any], on_update: Callable[[dict[str, Any]], None]
) -> dict[str, Any]:
    """Feed every state of the job to ``on_update`` until it is finished or paused."""
    on_update(job)
    if job["status"] in FINISHED:
        return job
    for state in job_events(client, job["id"]):
        on_update(state)
        if state["status"] in (*FINISHED, "paused"):
            return state
    raise AssertionError("unreachable")  # pragma: no cover


def outcome(job: dict[str, Any]) -> CliError | None:
    """None when the job completed; else the error to report."""
    status = job["status"]
    if status == "completed":
        return None
    if status == "failed":
        error = job.get("error") or {}
        return CliError(
            error.get("message") or "the download failed",
            steps=[*error.get("resolution_steps", []), "Retry with `modelyard pull`."],
            code=error.get("code"),
            details=error.get("details") or {},
        )
    if status == "paused":
        return CliError(
            f"the download of {job['model_id']} was paused",
            steps=[f"Resume it with `modelyard pull {job['model_id']}`."],
            code="paused",
        )
    return CliError(f"the download of {job['model_id']} was {status}", code=status)


def run_pull(
    client: ManagerClient, request: PullRequest, *, as_json: bool, console: Console
) -> int:
    try:
        job, reattached, complete = start(client, request)
    except KeyboardInterrupt:
        # The request may have reached the manager: a job it started is left (or paused)
        # like one interrupted later.
        found = find_active(client, request.model_id, request.revision)
        if found is None:
            raise
        if as_json:
            _pause_if_asked(client, found, request)
            return EXIT_INTERRUPTED
        return _detach(client, found, request, console)
    if as_json:
        return _pull_json(client, job, request)
    if complete:
        console.print(
            f"✓ {escape(job['model_id'])} is already downloaded and verified "
            f"({human_bytes(job.get('bytes_total'))})"
        )
        return EXIT_OK
    # From here on the job exists: Ctrl-C detaches from it (or pauses it), wherever it lands.
    bars = JobProgress(console, job["model_id"])
    try:
        _announce(job, reattached, console)
        with bars:
            final = follow(client, job, bars.update)
    except KeyboardInterrupt:
        bars.stop()
        return _detach(client, job, request, console)
    error = outcome(final)
    if error is None:
        console.print(verified_line(final))
        return EXIT_OK
    print_error(error, as_json=False)
    return EXIT_FAILURE


def _announce(job: dict[str, Any], reattached: bool, console: Console) -> None:
    if reattached:
        console.print(
            f"Re-attaching to the download of {escape(job['model_id'])} started "
            f"{ago(job.get('created_at'))} ago ({job['status']})"
        )
    else:
        console.print(
            f"Downloading {escape(job['model_id'])}@{escape(job['revision'])}: "
            f"{job.get('files_total', 0)} files, {human_bytes(job.get('bytes_total'))}"
        )
    warning = forced_warning(job)
    if warning:
        console.print(f"[yellow]{escape(warning)}[/]")


def _pull_json(client: ManagerClient, job: dict[str, Any], request: PullRequest) -> int:
    try:
        final = follow(client, job, lambda _state: None)
    except KeyboardInterrupt:
        _pause_if_asked(client, job, request)
        return EXIT_INTERRUPTED
    emit_json(final)
    return EXIT_OK if final["status"] == "completed" else EXIT_FAILURE


def _pause_if_asked(client: ManagerClient, job: dict[str, Any], request: PullRequest) -> None:
    if request.pause_on_exit:
        with contextlib.suppress(CliError):
            client.post(f"/api/downloads/{job['id']}/pause")


def _detach(
    client: ManagerClient, job: dict[str, Any], request: PullRequest, console: Console
) -> int:
    model = escape(job["model_id"])
    if request.pause_on_exit:
        client.post(f"/api/downloads/{job['id']}/pause")
        console.print(f"Paused the download of {model}; `modelyard pull {model}` resumes it.")
    else:
        console.print(
            f"Detached: the download of {model} goes on in the manager. "
            f"`modelyard pull {model}` shows its progress again."
        )
    return EXIT_INTERRUPTED
