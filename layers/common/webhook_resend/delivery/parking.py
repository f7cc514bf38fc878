"""Where pairs wait: the one place a pair that is not to be attempted for a while is held.

A wait of up to `PARK_AFTER_SECONDS` (at most 15 minutes) is the message's own visibility
timeout. A longer one (a long backoff, a `Retry-After`; and, by the same `park`, a paused job or
webhook or a rate limit) is *parked*: one DynamoDB item per pair holds the message, its due time
and the reason, and the message leaves SQS only once that item is written. So no message stays in
flight for more than 15 minutes, and a million pairs waiting on a dead receiver neither approach
SQS's in-flight limit nor use up receive counts (SPEC §10).

`wake`, run every minute by the waker function, reads what is due from the sparse, sharded index
of parked items, puts each pair back on the delivery queue, then deletes its item: send first,
delete after, and only while the item still holds the due time that was read. A crash in between
only duplicates a message, which the consumer's exactly-once commit absorbs; a pair parked again
meanwhile keeps its new item. Neither parking nor waking touches a job's counters: a parked pair
is pending, and its delivery records say `retrying`, with `next_attempt_on`.

Every parked item is also an entry of a second sparse index, `parked_by_job`, under its job: a
cancelled job's fan-out walk (resends/control.py) wakes all of its parked pairs at once, with the
same `wake_page`, so the consumer ends them `cancelled` without waiting for their due time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Literal

from webhook_resend import clock
from webhook_resend.aws import keys
from webhook_resend.aws.dynamodb import ParkedPair, Store
from webhook_resend.aws.publisher import SqsPublisher
from webhook_resend.models.messages import PairMessage

# Why a pair waits (kept on its parked item): a retry's backoff, a 429/503's deferral (SPEC §12),
# a rate limit's budget taken for its whole horizon, its job paused (SPEC §11: held under its
# job, where the job's resume or cancel finds it, never woken by the waker; resends/control.py).
Reason = Literal["retry", "deferred", "rate_limit", "paused"]

# Parked entries read per Query: a page is sent and deleted before the next is read.
PAGE_SIZE = 500
# The waker takes no further page with less than this left of its invocation: sending and
# deleting one page takes a few seconds at most, and the next run continues where this one ends.
WAKE_MARGIN_SECONDS = 15.0


@dataclass(frozen=True)
class Wait:
    """A pair to hold until `due`."""

    message: PairMessage
    due: datetime


def should_park(delay_seconds: float, park_after_seconds: int) -> bool:
    """Whether a wait is parked in DynamoDB (longer than the threshold) rather than spent in flight."""
    return delay_seconds > park_after_seconds


def park(
    store: Store, waits: Sequence[Wait], reason: Reason, *, keep_days: int, now: datetime | None = None
) -> list[Wait]:
    """Park each pair until its due time; answer the waits that could not be parked (their
    messages must stay on the queue). A parked item outlives its due time by `keep_days`, so one
    the waker never reached does not linger forever."""
    if not waits:
        return []
    by_key: dict[tuple[str, str], Wait] = {}
    pairs = []
    for wait in waits:
        pair = ParkedPair(
            wait.message,
            clock.canonical(wait.due),
            reason,
            clock.expires_at(keep_days, start=wait.due),
        )
        by_key[(pair.key["pk"], pair.key["sk"])] = wait
        pairs.append(pair)
    unwritten = store.park(pairs, clock.canonical(now or clock.now()))
    return [by_key[(p.key["pk"], p.key["sk"])] for p in unwritten]


@dataclass
class WakeReport:
    """What one run of the waker did."""

    woken: int = 0  # pairs put back on the delivery queue
    deleted: int = 0  # of those, parked items deleted
    parked_again: int = 0  # of those, items parked again meanwhile (kept) or already gone
    not_deleted: int = 0  # of those, items a failed delete left (the next run sends them again)
    not_sent: int = 0  # pairs SQS did not take: still parked, for the next run
    pages: int = 0
    shards_done: int = 0  # shards read to their last due entry
    stopped_early: bool = False  # the invocation's time ran low with pages left

    def as_dict(self) -> dict[str, int | bool]:
        return asdict(self)


def wake(
    store: Store,
    publisher: SqsPublisher,
    *,
    now: datetime,
    time_left: Callable[[], float],
    page_size: int = PAGE_SIZE,
    margin_seconds: float = WAKE_MARGIN_SECONDS,
) -> WakeReport:
    """Put every parked pair due at `now` back on the queue, one page per shard in turn (so a
    run that stops early has served every shard alike), until all are read or time runs low."""
    report = WakeReport()
    until = clock.canonical(now)
    # shard → where its next page starts (None: the first page)
    reading: dict[int, dict | None] = dict.fromkeys(range(keys.PARK_SHARDS))
    while reading:
        for shard in list(reading):
            if time_left() < margin_seconds:
                report.stopped_early = True
                return report
            page, next_start = store.due_parked(shard, until, page_size, reading[shard])
            report.pages += 1
            wake_page(store, publisher, page, report)
            if next_start is None:
                del reading[shard]
                report.shards_done += 1
            else:
                reading[shard] = next_start
    return report


def wake_page(store: Store, publisher: SqsPublisher, page: list[ParkedPair], report: WakeReport) -> None:
    """Put a page of parked pairs back on the queue, then delete the items of those SQS took."""
    if not page:
        return
    result = publisher.publish([p.message for p in page])
    sent_keys = {_pair_of(m) for m in result.sent}
    sent = [p for p in page if _pair_of(p.message) in sent_keys]
    report.woken += len(sent)
    report.not_sent += len(page) - len(sent)
    outcome = store.unpark(sent)
    report.deleted += outcome["deleted"]
    report.parked_again += outcome["changed"]
    report.not_deleted += outcome["failed"]


def _pair_of(message: PairMessage) -> tuple[str, str, str, str]:
    return (message.tenant_id, *message.pair_key)
