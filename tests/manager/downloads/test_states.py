"""The job state machine and the retry policy (pure)."""

from __future__ import annotations

import email.utils

import pytest

from manager.downloads.retry import backoff_delay
from manager.downloads.schemas import JobStatus
from manager.downloads.states import TRANSITIONS, Action, can_move, plan_action
from manager.errors import ConflictError
from manager.hub.errors import parse_retry_after

S = JobStatus


def test_finished_states_are_final_except_failed_which_can_be_resumed() -> None:
    assert TRANSITIONS[S.COMPLETED] == frozenset()
    assert TRANSITIONS[S.CANCELLED] == frozenset()
    assert TRANSITIONS[S.FAILED] == frozenset({S.QUEUED})
    assert set(TRANSITIONS) == set(JobStatus)


def test_happy_path_and_restart_recovery() -> None:
    for a, b in [
        (S.QUEUED, S.DOWNLOADING),
        (S.DOWNLOADING, S.VERIFYING),
        (S.VERIFYING, S.COMPLETED),
    ]:
        assert can_move(a, b)
    assert can_move(S.DOWNLOADING, S.QUEUED)  # start-up continues interrupted jobs
    assert not can_move(S.QUEUED, S.COMPLETED)
    assert not can_move(S.PAUSED, S.DOWNLOADING)  # resume goes through the queue


@pytest.mark.parametrize(
    ("status", "action", "expected"),
    [
        (S.QUEUED, Action.PAUSE, S.PAUSED),
        (S.DOWNLOADING, Action.PAUSE, S.PAUSED),
        (S.PAUSED, Action.PAUSE, None),
        (S.PAUSED, Action.RESUME, S.QUEUED),
        (S.FAILED, Action.RESUME, S.QUEUED),
        (S.DOWNLOADING, Action.RESUME, None),
        (S.PAUSED, Action.CANCEL, S.CANCELLED),
        (S.DOWNLOADING, Action.CANCEL, S.CANCELLED),
        (S.CANCELLED, Action.CANCEL, None),
    ],
)
def test_actions(status: JobStatus, action: Action, expected: JobStatus | None) -> None:
    assert plan_action(status, action) == expected


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (S.COMPLETED, Action.PAUSE),
        (S.COMPLETED, Action.RESUME),
        (S.CANCELLED, Action.RESUME),
        (S.FAILED, Action.PAUSE),
    ],
)
def test_refused_actions_are_409(status: JobStatus, action: Action) -> None:
    with pytest.raises(ConflictError) as caught:
        plan_action(status, action)
    assert caught.value.status == 409
    assert caught.value.details == {"status": status.value, "action": action.value}


def test_retry_after_seconds_and_dates() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after("0.5") == 0.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("100000") == 120.0  # capped
    date = email.utils.formatdate(1_000_030, usegmt=True)
    assert parse_retry_after(date, now=1_000_000) == pytest.approx(30.0)
    assert parse_retry_after(email.utils.formatdate(1_000, usegmt=True), now=2_000) == 0.0


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf", "-1", "-0.5", "1e999"])
def test_retry_after_that_is_no_wait_is_absent(value: str) -> None:
    """Reproduction: ``Retry-After: nan`` from the Hub became a wait of nan seconds (asyncio
    never wakes from it: the download hung); ``-1`` became 0. Both are treated as absent."""
    assert parse_retry_after(value) is None


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    for failures, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (10, 8.0)]:
        delays = [backoff_delay(failures, 1.0, 8.0) for _ in range(50)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 1
