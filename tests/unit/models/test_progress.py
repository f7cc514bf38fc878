"""The arithmetic of a job's progress (models/progress.py): rate, eta, failure causes."""

from __future__ import annotations

import pytest

from webhook_resend.models.progress import (
    WINDOW_SECONDS,
    cause_of,
    eta,
    pair_cause,
    rate,
    stale_windows,
    top_causes,
    window_of,
)
from webhook_resend.models.records import Delivery

# A time at the start of a window, and a job started long before it.
NOW = 1_800_000_000.0
W = window_of(NOW)
LONG_AGO = NOW - 3600


def test_progress_window_of_is_ten_second_windows() -> None:
    assert window_of(NOW) == int(NOW) // 10
    assert window_of(NOW + 9.99) == window_of(NOW)
    assert window_of(NOW + 10) == window_of(NOW) + 1


def test_progress_rate_counts_the_current_window_and_the_five_before_over_their_span() -> None:
    # Given 60 pairs in each of the six windows of the last minute, now 5 s into the current one
    ended = {W - i: 60 for i in range(6)}
    now = NOW + 5

    # Then 360 pairs over the 55 s since the oldest of those windows began
    assert rate(ended, now, LONG_AGO) == pytest.approx(360 / 55)


def test_progress_rate_ignores_windows_older_than_a_minute_and_future_ones() -> None:
    ended = {W - 6: 1000, W - 20: 1000, W + 1: 1000, W: 30}

    assert rate(ended, NOW + 10 - 0.001, LONG_AGO) == pytest.approx(30 / (60 - 0.001))


def test_progress_rate_of_a_job_younger_than_a_minute_is_over_its_age() -> None:
    # A job 4 s old that ended 40 pairs ends 10 a second, not 40 over the whole minute.
    assert rate({W: 40}, NOW + 4, NOW) == pytest.approx(10.0)


def test_progress_rate_spans_at_least_one_second() -> None:
    assert rate({W: 40}, NOW + 0.01, NOW) == pytest.approx(40.0)


def test_progress_rate_is_zero_when_nothing_ended_in_the_last_minute() -> None:
    assert rate({}, NOW, LONG_AGO) == 0.0
    assert rate({W - 7: 500}, NOW, LONG_AGO) == 0.0


def test_progress_eta_is_pending_over_rate_rounded_up() -> None:
    assert eta(100, 3.0, running=True) == 34
    assert eta(90, 3.0, running=True) == 30
    assert eta(0, 3.0, running=True) == 0


def test_progress_eta_is_none_when_nothing_ends_or_the_job_is_not_running() -> None:
    assert eta(100, 0.0, running=True) is None
    assert eta(100, 5.0, running=False) is None


def test_progress_stale_windows_are_the_minute_before_the_one_rate_reads() -> None:
    stale = stale_windows(W)

    assert sorted(stale) == list(range(W - 11, W - 5))
    # none of them is one `rate` reads now
    assert all(rate({w: 1}, NOW, LONG_AGO) == 0.0 for w in stale)
    assert WINDOW_SECONDS * len(stale) == 60


def _failed(index: int = 0, code: int | None = None, error: str | None = None) -> Delivery:
    return Delivery(
        job_id="j",
        subject_id="s",
        webhook_id="w",
        url_index=index,
        url="https://example.com",
        status="failed",
        last_status_code=code,
        last_error=error,
    )


@pytest.mark.parametrize(
    ("code", "error", "cause"),
    [
        (404, "HTTP 404", "404"),
        (500, "HTTP 500 (gave up after 4 attempts)", "500"),
        (302, "HTTP 302: redirects are not followed", "302"),
        (None, "timed out after 10 s (gave up after 4 attempts)", "timeout"),
        (None, "connection failed: Connection refused", "connection_failed"),
        (None, "invalid HTTP answer: bad status line", "invalid_answer"),
        (None, "refused: 10.0.0.1 is a private address", "url_refused"),
        (None, "unexpected error: KeyError", "unexpected_error"),
        (None, "dead-lettered after 21 receives", "dead_lettered"),
        (None, "content item no longer exists", "content item no longer exists"),
        (None, None, "unknown"),
    ],
)
def test_progress_cause_of_is_the_status_code_or_the_kind_of_error(
    code: int | None, error: str | None, cause: str
) -> None:
    assert cause_of(_failed(code=code, error=error)) == cause


def test_progress_pair_cause_is_its_first_failed_records() -> None:
    delivered = _failed(0).model_copy(update={"status": "delivered", "last_status_code": 200})
    records = [_failed(2, 500), delivered, _failed(1, 404)]

    assert pair_cause(records) == "404"
    assert pair_cause([delivered]) == "unknown"


def test_progress_top_causes_are_the_five_most_frequent_most_frequent_first() -> None:
    counts = {"500": 3, "404": 9, "timeout": 3, "410": 1, "connection_failed": 4, "502": 2, "zero": 0}

    assert top_causes(counts) == [
        {"cause": "404", "count": 9},
        {"cause": "connection_failed", "count": 4},
        {"cause": "500", "count": 3},
        {"cause": "timeout", "count": 3},
        {"cause": "502", "count": 2},
    ]
    assert top_causes({}) == []
