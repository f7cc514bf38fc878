"""When to try a failed delivery again: the retry schedule with jitter, and Retry-After."""

from __future__ import annotations

import random
from email.utils import parsedate_to_datetime

from webhook_resend import clock

MAX_DELAY_SECONDS = 12 * 60 * 60  # SQS's longest visibility timeout, and Retry-After's cap
JITTER = 0.2


def retry_after_seconds(value: str | None) -> int | None:
    """Seconds a `Retry-After` header asks for (delta-seconds or an HTTP date), capped at 12 h."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(int(value), MAX_DELAY_SECONDS)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0, min(int((when - clock.now()).total_seconds()), MAX_DELAY_SECONDS))


def delay_before_retry(
    attempts_made: int,
    schedule: tuple[int, ...],
    retry_after: int | None = None,
    rng: random.Random | None = None,
) -> int | None:
    """Seconds to wait before the next attempt, or None when the schedule is exhausted.

    `attempts_made` counts attempts so far (1 after the first). The schedule's delay gets ±20%
    jitter so a receiver that failed for many deliveries at once is not hit by all at once again;
    a Retry-After longer than that wins.
    """
    if attempts_made < 1 or attempts_made > len(schedule):
        return None
    base = schedule[attempts_made - 1]
    jittered = base * (1 + (rng or random).uniform(-JITTER, JITTER))
    delay = max(jittered, retry_after or 0)
    return min(round(delay), MAX_DELAY_SECONDS)


# A receiver answering 429 or 503 defers a pair without using up one of its attempts, for up to a
# day of such waits in all (SPEC §12); past that, such an answer is an ordinary failed attempt.
MAX_DEFERRED_SECONDS = 24 * 60 * 60


def deferral_delay(
    deferrals_made: int,
    deferred_seconds: int,
    schedule: tuple[int, ...],
    retry_after: int | None = None,
    rng: random.Random | None = None,
) -> int | None:
    """Seconds a 429/503 defers the pair, or None when that would take its deferrals past
    MAX_DEFERRED_SECONDS. `deferrals_made` counts the deferrals before this one. The wait is the
    answer's `Retry-After`, else the retry schedule's entry for this deferral (its last entry once
    they are used up), with the schedule's jitter."""
    if retry_after is not None:
        delay = retry_after
    else:
        base = schedule[min(deferrals_made, len(schedule) - 1)]
        delay = min(round(base * (1 + (rng or random).uniform(-JITTER, JITTER))), MAX_DELAY_SECONDS)
    if deferred_seconds + delay > MAX_DEFERRED_SECONDS:
        return None
    return delay
