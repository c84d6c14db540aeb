"""The job state machine, explicit and pure (no I/O): which change is allowed, and what an
action asks for in each state.

    queued ──► downloading ──► verifying ──► completed
    pause:  queued | downloading | verifying ──► paused      (partials kept)
    resume: paused | failed ──► queued
    cancel: queued | downloading | verifying | paused ──► cancelled  (partials removed)
    errors: queued | downloading | verifying ──► failed
    start-up: downloading | verifying ──► queued (continue from the partials)
"""

from __future__ import annotations

from enum import StrEnum
from types import MappingProxyType

from manager.downloads.schemas import JobStatus
from manager.errors import ConflictError

S = JobStatus

TRANSITIONS: MappingProxyType[JobStatus, frozenset[JobStatus]] = MappingProxyType(
    {
        S.QUEUED: frozenset({S.DOWNLOADING, S.PAUSED, S.CANCELLED, S.FAILED}),
        S.DOWNLOADING: frozenset({S.VERIFYING, S.PAUSED, S.CANCELLED, S.FAILED, S.QUEUED}),
        S.VERIFYING: frozenset({S.COMPLETED, S.PAUSED, S.CANCELLED, S.FAILED, S.QUEUED}),
        S.PAUSED: frozenset({S.QUEUED, S.CANCELLED}),
        S.FAILED: frozenset({S.QUEUED}),
        S.COMPLETED: frozenset(),
        S.CANCELLED: frozenset(),
    }
)


class Action(StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"


_ACTION_TARGET = {Action.PAUSE: S.PAUSED, Action.RESUME: S.QUEUED, Action.CANCEL: S.CANCELLED}
# States in which an action is already satisfied (answered with the job, nothing changes).
_ALREADY = {
    Action.PAUSE: frozenset({S.PAUSED}),
    Action.RESUME: frozenset({S.QUEUED, S.DOWNLOADING, S.VERIFYING}),
    Action.CANCEL: frozenset({S.CANCELLED}),
}


def can_move(current: JobStatus, target: JobStatus) -> bool:
    return target in TRANSITIONS[current]


def check_move(current: JobStatus, target: JobStatus) -> None:
    if not can_move(current, target):
        raise AssertionError(f"illegal job transition {current} -> {target}")


def plan_action(current: JobStatus, action: Action) -> JobStatus | None:
    """The status ``action`` moves a job to; None when it is already there; 409 if refused."""
    if current in _ALREADY[action]:
        return None
    target = _ACTION_TARGET[action]
    if can_move(current, target):
        return target
    raise ConflictError(
        f"cannot {action.value} a download that is {current.value}",
        details={"status": current.value, "action": action.value},
        resolution_steps=[
            "Pause a queued or running download; resume a paused or failed one.",
            "Start a new download (POST /api/downloads) for a completed or cancelled one.",
        ],
    )
