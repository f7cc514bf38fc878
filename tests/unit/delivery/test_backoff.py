"""Retry delays: the schedule with ±20% jitter, Retry-After, and the 12 h cap."""

from __future__ import annotations

import random
from datetime import timedelta
from email.utils import format_datetime

import pytest

from webhook_resend import clock
from webhook_resend.delivery import backoff

SCHEDULE = (5, 30, 120, 600, 1800, 3600, 7200, 14400)
TWELVE_HOURS = 12 * 60 * 60


def _http_date(offset: timedelta) -> str:
    return format_datetime(clock.now() + offset, usegmt=True)


@pytest.mark.parametrize("attempts_made", range(1, len(SCHEDULE) + 1))
def test_delay_before_retry_is_the_schedule_step_with_the_seeded_jitter(attempts_made: int) -> None:
    base = SCHEDULE[attempts_made - 1]
    expected = round(base * (1 + random.Random(7).uniform(-0.2, 0.2)))

    delay = backoff.delay_before_retry(attempts_made, SCHEDULE, None, random.Random(7))

    assert delay == expected


@pytest.mark.parametrize("attempts_made", range(1, len(SCHEDULE) + 1))
def test_delay_before_retry_stays_within_twenty_percent_of_the_step(attempts_made: int) -> None:
    base = SCHEDULE[attempts_made - 1]
    rng = random.Random(attempts_made)

    delays = [backoff.delay_before_retry(attempts_made, SCHEDULE, None, rng) for _ in range(200)]

    assert all(d is not None and round(base * 0.8) <= d <= round(base * 1.2) for d in delays), delays
    # Jitter actually spreads the retries (every step of the default schedule is ≥ 5 s).
    assert len(set(delays)) > 1


def test_delay_before_retry_is_none_after_the_schedule_is_exhausted() -> None:
    rng = random.Random(1)

    assert backoff.delay_before_retry(len(SCHEDULE) + 1, SCHEDULE, None, rng) is None
    assert backoff.delay_before_retry(3, (0, 0), None, rng) is None


def test_delay_before_retry_is_none_after_the_schedule_even_with_retry_after() -> None:
    assert backoff.delay_before_retry(3, (0, 0), 60, random.Random(1)) is None


def test_delay_before_retry_of_a_zero_schedule_is_zero() -> None:
    rng = random.Random(1)

    assert [backoff.delay_before_retry(n, (0, 0, 0), None, rng) for n in (1, 2, 3)] == [0, 0, 0]


def test_delay_before_retry_takes_a_longer_retry_after() -> None:
    assert backoff.delay_before_retry(1, SCHEDULE, 3600, random.Random(3)) == 3600


def test_delay_before_retry_keeps_the_schedule_when_retry_after_is_shorter() -> None:
    expected = round(600 * (1 + random.Random(3).uniform(-0.2, 0.2)))

    assert backoff.delay_before_retry(4, SCHEDULE, 1, random.Random(3)) == expected


def test_delay_before_retry_honours_retry_after_over_a_zero_schedule() -> None:
    assert backoff.delay_before_retry(1, (0, 0, 0), 2, random.Random(3)) == 2


def test_delay_before_retry_is_capped_at_twelve_hours() -> None:
    rng = random.Random(5)

    assert backoff.delay_before_retry(1, (100_000,), None, rng) == TWELVE_HOURS
    assert backoff.delay_before_retry(1, SCHEDULE, 10 * TWELVE_HOURS, rng) == TWELVE_HOURS


@pytest.mark.parametrize(("header", "seconds"), [("0", 0), ("1", 1), ("120", 120), (" 30 ", 30)])
def test_retry_after_seconds_reads_delta_seconds(header: str, seconds: int) -> None:
    assert backoff.retry_after_seconds(header) == seconds


def test_retry_after_seconds_caps_delta_seconds_at_twelve_hours() -> None:
    assert backoff.retry_after_seconds("999999999") == TWELVE_HOURS


def test_retry_after_seconds_reads_an_http_date() -> None:
    seconds = backoff.retry_after_seconds(_http_date(timedelta(hours=1)))

    # The date has whole seconds and the clock moves on while the test runs.
    assert seconds is not None
    assert 3590 <= seconds <= 3600


def test_retry_after_seconds_of_a_past_http_date_is_zero() -> None:
    assert backoff.retry_after_seconds(_http_date(timedelta(hours=-1))) == 0


def test_retry_after_seconds_caps_an_http_date_at_twelve_hours() -> None:
    assert backoff.retry_after_seconds(_http_date(timedelta(days=3))) == TWELVE_HOURS


def test_retry_after_wins_over_the_schedule_when_given_as_an_http_date() -> None:
    retry_after = backoff.retry_after_seconds(_http_date(timedelta(hours=2)))

    delay = backoff.delay_before_retry(1, SCHEDULE, retry_after, random.Random(9))

    assert delay is not None
    assert 7190 <= delay <= 7200


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "   ",
        "soon",
        "-5",
        "1.5",
        "1e3",
        "0x10",
        "Wed, 99 Foo 2015 07:28:00 GMT",
        "Wed, 21 Oct 2015 07:28:00",  # no zone: not an HTTP date
        "²",  # str.isdigit() says yes; int() says no
        "12 seconds",
    ],
)
def test_retry_after_seconds_of_garbage_is_none(header: str | None) -> None:
    assert backoff.retry_after_seconds(header) is None


# -- deferrals: a 429/503 waits without using up an attempt, a day of such waits at most (SPEC §12) ----
def test_deferral_delay_honours_retry_after() -> None:
    assert backoff.deferral_delay(0, 0, (5, 30), retry_after=7) == 7


def test_deferral_delay_without_retry_after_follows_the_schedule_then_its_last_entry() -> None:
    rng = random.Random(1)
    delays = [backoff.deferral_delay(n, 0, (10, 100), rng=rng) for n in range(4)]

    assert [
        d is not None and lo <= d <= hi
        for d, (lo, hi) in zip(delays, [(8, 12), (80, 120), (80, 120), (80, 120)], strict=True)
    ] == [True] * 4


def test_deferral_delay_stops_at_a_day_of_deferrals() -> None:
    day = backoff.MAX_DEFERRED_SECONDS

    assert backoff.deferral_delay(40, day - 60, (5,), retry_after=60) == 60
    assert backoff.deferral_delay(41, day - 59, (5,), retry_after=60) is None
