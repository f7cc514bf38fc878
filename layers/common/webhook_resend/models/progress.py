"""A job's progress as counters can tell it, without reading a delivery record: the rate at which
its pairs end (`rate`, over the last minute) and when nothing will be pending at that rate
(`eta`), and the causes its pairs failed for, most frequent first.

The job item keeps the pairs ended per 10-second window and a count per failure cause; the
aggregated counter update of the exactly-once commit moves them (aws/dynamodb.py), so they cost no
write of their own. Everything here is arithmetic on those numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping

from webhook_resend.models.records import Delivery

WINDOW_SECONDS = 10
# The windows "the last minute" spans: the current one and the five before it.
WINDOWS = 6
# A rate over less than this would swing wildly on the first commit of a job.
MIN_SPAN_SECONDS = 1.0
TOP_CAUSES = 5
CAUSE_MAX = 60


def window_of(epoch_seconds: float) -> int:
    """The 10-second window a time falls in (epoch seconds // 10)."""
    return int(epoch_seconds // WINDOW_SECONDS)


def stale_windows(window: int) -> list[int]:
    """The windows a commit in `window` clears: the minute before the one `rate` reads, so the
    job item keeps at most a minute of windows while pairs keep ending."""
    return [window - WINDOWS - i for i in range(WINDOWS)]


def rate(ended: Mapping[int, int], now: float, started: float) -> float:
    """Pairs ended per second over the last minute: those ended in the current window and the
    five before it, over the time since the first of them began (or since the job started, when
    that is later), at least one second."""
    current = window_of(now)
    first = current - WINDOWS + 1
    count = sum(n for w, n in ended.items() if first <= w <= current)
    if count <= 0:
        return 0.0
    span = max(now - max(first * WINDOW_SECONDS, started), MIN_SPAN_SECONDS)
    return count / span


def eta(pending: int, per_second: float, running: bool) -> int | None:
    """Seconds until nothing is pending at `per_second`, rounded up; None when the job is not
    running or nothing is ending."""
    if not running or per_second <= 0 or pending < 0:
        return None
    return math.ceil(pending / per_second)


# -- failure causes ---------------------------------------------------------------------------------
# What a failed attempt's `last_error` starts with (delivery/sender.py, the deliverer, the dead-letter
# consumer), as the kind of error it names; the rest of the message (an address, a count) varies.
_KINDS = (
    ("timed out", "timeout"),
    ("connection failed", "connection_failed"),
    ("invalid HTTP answer", "invalid_answer"),
    ("refused", "url_refused"),
    ("unexpected error", "unexpected_error"),
    ("dead-lettered", "dead_lettered"),
)
_DETAIL = re.compile(r"[:(].*$", re.DOTALL)


def cause_of(record: Delivery) -> str:
    """One failed delivery record's cause: its last status code (`"404"`), or the kind of error
    it ended with (`"timeout"`, `"connection_failed"`, ...), or its reason without detail."""
    if record.last_status_code is not None:
        return str(record.last_status_code)
    error = (record.last_error or "").strip()
    for prefix, kind in _KINDS:
        if error.startswith(prefix):
            return kind
    return _DETAIL.sub("", error).strip()[:CAUSE_MAX] or "unknown"


def pair_cause(records: Iterable[Delivery]) -> str:
    """Why a failed pair failed: the cause of its first failed record (by URL index)."""
    failed = sorted((r for r in records if r.status == "failed"), key=lambda r: r.url_index)
    return cause_of(failed[0]) if failed else "unknown"


def top_causes(counts: Mapping[str, int], limit: int = TOP_CAUSES) -> list[dict[str, int | str]]:
    """The `limit` most frequent causes, `[{"cause", "count"}]`, most frequent first (ties by
    cause, so the order is stable)."""
    ranked = sorted(((c, n) for c, n in counts.items() if n > 0), key=lambda cn: (-cn[1], cn[0]))
    return [{"cause": cause, "count": count} for cause, count in ranked[:limit]]
