"""Pacing (SPEC §12): a webhook's rate limit, held by every consumer instance together, and the
receivers' own say (a 429 or 503 halves the webhook's pace, which climbs back gradually).

**The budget is a schedule of send times, not a bucket of tokens.** A token bucket of capacity C
and rate r lets C + r requests through in one second, so a limit of 5/s would allow 10 in a burst
after an idle spell. Instead each (webhook, URL) has one DynamoDB item holding its *next free slot*
`tat` (GCRA's "theoretical arrival time", in microseconds since the epoch). A batch that has `n`
requests for the URL reserves `k <= n` consecutive slots `max(tat, now) + i * spacing` with one
conditional update (see `take_slots`), sends each request at its slot, and holds what did not fit.
Slots are never handed out twice and never closer than `spacing`, whoever takes them.

**The bound.** With `L = floor(1.1 * per_second)` (never below 1) and `spacing` the larger of
`1 / per_second` and just over `(1 + TOLERANCE) / L`, any interval of `1 + TOLERANCE` seconds holds
at most `L` slots. A request leaves no earlier than its slot and at most `LATE_SECONDS` after it
(the sender checks right before it sends; a slot missed by more is given up, never used late), and
instances' clocks differ by at most `SKEW_SECONDS`; so the requests in any one-second window of the
receiver's clock come from slots in an interval shorter than `1 + TOLERANCE`, at most `L` of them:
`per_second + 10 %`, rounded down. At small rates that rounding costs throughput (5/s allows 5 in a
window, so the slots are 0.22 s apart, 4.5/s); from 10/s on the pace is within 10 % of the limit.

**Receivers set the pace.** A 429 or 503 halves the webhook's effective rate (the rate it was paced
at, or for a webhook without a limit half the rate this instance observed sending to it; never
below `MIN_RATE`), stored on the webhook's record; the rate climbs back by `RECOVERY_PER_MINUTE`
for every whole minute without another 429/503, up to the limit (without one, up to the rate
observed, after which it is unlimited again). A halving applies once per reservation: answers to
requests whose slots were taken before the last halving do not halve it again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from webhook_resend import clock
from webhook_resend.aws.dynamodb import BudgetAnswer

# Seconds a request may leave after its slot, all causes together (its lateness in the consumer,
# the clock skew between instances, the time from the check to the request on the wire).
TOLERANCE = 0.1
# A slot missed by more than this is given up (the pair takes a new one later), never used late.
LATE_SECONDS = 0.05
# What the bound assumes of the clocks of two consumer instances (Lambda's are kept by the Amazon
# Time Sync Service, typically within a millisecond); with LATE_SECONDS, what is left of TOLERANCE
# is the time from the check to the request leaving.
SKEW_SECONDS = 0.01
# A batch waits in-process for slots at most this far ahead; later slots are held in SQS or parked.
INLINE_SECONDS = 5.0
# A pair held until a slot comes back this long before it (the poller's batching window and the
# batch's reads fit in it), and then waits in-process for the slot.
LEAD_SECONDS = 2
# A batch's first slot is no sooner than this: the sender is set up and the request built first
# (a slot missed by more than LATE_SECONDS is given up).
SETUP_SECONDS = 0.25
# Conditional writes one reservation may take when other instances keep moving the budget.
BUDGET_ROUNDS = 4
# The least a webhook is slowed to: the least limit one can set.
MIN_RATE = 1.0
MAX_RATE = 1000
# After a halving, the pace grows by this factor for every whole minute without a 429/503.
RECOVERY_PER_MINUTE = 1.1
SLOWING_CODES = frozenset({429, 503})

_US = 1_000_000


class Budgets(Protocol):
    """The shared budgets (the DynamoDB store; a fake in unit tests): two conditional writes."""

    def restart_budget(
        self, key: Mapping[str, str], tat_us: int, now_us: int, expires_at: int
    ) -> BudgetAnswer:
        """Set `tat` to `tat_us` if the budget is idle: no item, or `tat < now_us`."""
        ...

    def extend_budget(
        self, key: Mapping[str, str], add_us: int, now_us: int, latest_us: int, expires_at: int
    ) -> BudgetAnswer:
        """Add `add_us` to `tat` if `now_us <= tat <= latest_us`."""
        ...


@dataclass(frozen=True)
class Slots:
    """Slots taken from one budget: `count` of them from `first_us`, `spacing_us` apart, and the
    budget's next free slot after them (None when it could not be written: nothing was taken)."""

    first_us: int
    spacing_us: int
    count: int
    next_free_us: int | None

    def at(self, index: int) -> int:
        return self.first_us + index * self.spacing_us


def allowed_per_window(per_second: float) -> int:
    """L: the most requests one second may hold, `per_second` + 10 % rounded down (at least 1)."""
    return max(1, math.floor(per_second * 11 / 10 + 1e-9))


def spacing_us(per_second: float) -> int:
    """Microseconds between two slots: never closer than `1 / per_second`, and so that no interval
    of 1 + TOLERANCE seconds holds more than `allowed_per_window` slots (L slots span (L-1)
    spacings; L + 1 would need L * spacing <= 1 + TOLERANCE, which this spacing exceeds)."""
    window = allowed_per_window(per_second)
    return max(math.ceil(_US / per_second), math.floor(_US * (1 + TOLERANCE) / window) + 1)


def pace_per_second(limit: float) -> float:
    """The pace a limit is kept with (what its spacing gives)."""
    return _US / spacing_us(limit)


def effective_rate(
    limit: float | None, slowed: float | None, slowed_on_ms: int | None, now_ms: int
) -> float | None:
    """The rate a webhook is paced at now: its limit (None: unlimited) unless a 429/503 slowed it,
    in which case the slowed rate grown by RECOVERY_PER_MINUTE for every whole minute since, up to
    the limit, or, without a limit, up to twice the slowed rate (the rate observed when it was
    halved), after which it is unlimited again."""
    if slowed is None or slowed_on_ms is None:
        return limit
    minutes = max(0, (now_ms - slowed_on_ms) // 60_000)
    ceiling = limit if limit is not None else 2 * slowed
    # Past the ceiling the exponent would only grow: stop at the first step that reaches it.
    steps = math.ceil(math.log(ceiling / slowed, RECOVERY_PER_MINUTE)) if ceiling > slowed else 0
    if minutes >= steps:
        return limit
    return min(ceiling, slowed * RECOVERY_PER_MINUTE**minutes)


def halved(current: float | None, observed: float) -> float:
    """The rate after a 429/503: half the effective rate, or half the observed rate of a webhook
    that had none; never below MIN_RATE."""
    base = current if current is not None else observed
    return max(MIN_RATE, min(float(MAX_RATE), base / 2))


def observed_rate(send_times: list[float]) -> float:
    """Requests per second in a batch's sends to one URL: their number over the time they took,
    counted as at least a second."""
    if not send_times:
        return MIN_RATE
    span = max(1.0, max(send_times) - min(send_times))
    return max(MIN_RATE, len(send_times) / span)


def limit_of(webhook: Mapping[str, Any], default_limit: int) -> float | None:
    """The webhook's own `rate_limit.per_second`, else the tenant-wide default (0: unlimited)."""
    own = (webhook.get("rate_limit") or {}).get("per_second")
    if own:
        return float(own)
    return float(default_limit) if default_limit else None


def rate_of(webhook: Mapping[str, Any], default_limit: int, now_ms: int) -> float | None:
    """The effective rate of a webhook record as read (None: unlimited)."""
    slowed = webhook.get("paced_per_second")
    return effective_rate(
        limit_of(webhook, default_limit),
        float(slowed) if slowed is not None else None,
        int(webhook["paced_on"]) if "paced_on" in webhook else None,
        now_ms,
    )


def take_slots(
    budgets: Budgets,
    key: Mapping[str, str],
    wanted: int,
    spacing: int,
    now_us: int,
    horizon_us: int,
    expires_at: int,
    guess: int | None = None,
) -> Slots:
    """Reserve up to `wanted` consecutive slots no later than `now_us + horizon_us`.

    One conditional write when `guess` (the budget's next free slot as last seen) is right; each
    refusal answers the budget as it is, and the next write is computed from that. An idle budget
    (no item, or its next free slot passed) restarts at `now_us`; a busy one is extended by
    `k * spacing` under the condition that all `k` slots still fit, so two instances extending it
    at once each get slots of their own (ADD is applied atomically, condition and all)."""
    tat = guess
    for _ in range(BUDGET_ROUNDS):
        if tat is None or tat < now_us:
            count = min(wanted, horizon_us // spacing + 1)
            answer = budgets.restart_budget(key, now_us + count * spacing, now_us, expires_at)
            if answer.taken:
                return Slots(now_us, spacing, count, now_us + count * spacing)
        else:
            room = now_us + horizon_us - tat
            count = min(wanted, room // spacing + 1) if room >= 0 else 0
            if count == 0:
                return Slots(tat, spacing, 0, tat)
            latest = now_us + horizon_us - (count - 1) * spacing
            answer = budgets.extend_budget(key, count * spacing, now_us, latest, expires_at)
            if answer.taken and answer.tat is not None:
                return Slots(answer.tat - count * spacing, spacing, count, answer.tat)
        tat = answer.tat
    return Slots(now_us, spacing, 0, None)


def reset_point(now_us: int) -> int:
    """Where a halving brings a budget's next free slot back to: past every slot a batch may be
    waiting for in-process (INLINE_SECONDS), by more than any spacing, so the slots taken at the
    new pace never crowd those."""
    return now_us + int(INLINE_SECONDS * _US) + spacing_us(MIN_RATE)


def slot_text(slot_us: int) -> str:
    """A slot as a record keeps it: canonical time, rounded up to the millisecond (never early)."""
    ms = -(-slot_us // 1000)
    return clock.canonical(datetime.fromtimestamp(ms / 1000, UTC))


def slot_of(text: str) -> int:
    """The slot a record's canonical time names, in microseconds."""
    return round(clock.parse(text).timestamp() * 1000) * 1000


def now_us() -> int:
    return time.time_ns() // 1000


# The budgets' next free slots as this container last saw them: a guess that saves the refused
# write when a budget is busy (a wrong guess costs one write more, never a wrong slot).
_next_free: dict[tuple[str, str], int] = {}
_REMEMBERED = 10_000


def guess(key: Mapping[str, str]) -> int | None:
    return _next_free.get((key["pk"], key["sk"]))


def remember(key: Mapping[str, str], next_free_us: int) -> None:
    if len(_next_free) >= _REMEMBERED:
        _next_free.clear()
    _next_free[(key["pk"], key["sk"])] = next_free_us


def forget(key: Mapping[str, str]) -> None:
    _next_free.pop((key["pk"], key["sk"]), None)
