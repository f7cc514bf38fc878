"""A job's outbox: what a start counted is queued even when the start dies first (SPEC §11: a job
whose selection was interrupted is resumed by a sweeper).

A job is started by writing it with every pair counted pending, then queuing what carries those
pairs: one message per pair (Prepr, DataForSEO: resends/jobs.py), pages (a native resend by ids:
resends/native.py) or the first step of its selection (resends/selections.py). A Lambda that died
in between (its timeout, its sandbox) left pairs counted that no message carries, and the job
`running` or `selecting` for ever. So the job is written in one transaction with its outbox: the
same work as fan-out messages (pages of subjects × webhooks and selection steps, which the
fan-out function runs; at most a few pages of ids, ~40 KB each), due GRACE_SECONDS later. The
start deletes the outbox once everything is queued, or in the same transaction as it takes the
pairs SQS refused out of the job. An outbox still there when due was left by a start that died:
the waker's `sweep` (every minute) puts its messages on the fan-out queue, then deletes it, only
while it holds the due time that was read. What it queues again is idempotent: the consumer
counts each pair once and never sends a pair that was delivered, and a step the walk took
already is a duplicate it ignores.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from webhook_resend import clock
from webhook_resend.aws import keys
from webhook_resend.aws.dynamodb import Outbox, Store
from webhook_resend.aws.publisher import SqsPublisher
from webhook_resend.models.base import SubjectKind
from webhook_resend.models.messages import PageMessage, SelectionMessage
from webhook_resend.observability import logger

# Longer than any start runs (the API's functions stop at 29 s), short enough that a job whose
# start died is resumed within minutes.
GRACE_SECONDS = 300
# Subjects a page of the outbox holds (as a native resend's pages: ≤ 37 KB of ids in one message).
PAGE_SUBJECTS = 1000
# Outboxes read per Query of a shard; the sweep stops with less than the margin left.
SWEEP_PAGE = 100
SWEEP_MARGIN_SECONDS = 10.0

FanoutMessage = PageMessage | SelectionMessage


def encode(messages: Sequence[FanoutMessage]) -> str:
    return json.dumps(
        [
            {"step" if isinstance(m, SelectionMessage) else "page": m.model_dump(mode="json")}
            for m in messages
        ],
        separators=(",", ":"),
    )


def decode(body: str) -> list[FanoutMessage]:
    found: list[FanoutMessage] = []
    for entry in json.loads(body):
        [(kind, fields)] = entry.items()
        model = SelectionMessage if kind == "step" else PageMessage
        found.append(model.model_validate(fields))
    return found


def new(
    tenant_id: str, job_id: str, messages: Sequence[FanoutMessage], now: datetime, expires_at: int
) -> Outbox:
    due = clock.canonical(now + timedelta(seconds=GRACE_SECONDS))
    return Outbox(tenant_id, job_id, due, encode(messages), expires_at)


def pages_of(
    tenant_id: str,
    job_id: str,
    created_on: str,
    kind: SubjectKind,
    event: str | None,
    pairs: Sequence[tuple[str, str]],
) -> list[PageMessage]:
    """Pages of (subject, webhook) pairs: the subjects that go to the same webhooks together, as
    subjects × webhooks (a Prepr page is its items × its webhooks: one page)."""
    webhooks: dict[str, list[str]] = {}
    for subject_id, webhook_id in pairs:
        webhooks.setdefault(subject_id, []).append(webhook_id)
    subjects: dict[tuple[str, ...], list[str]] = {}
    for subject_id, its_webhooks in webhooks.items():
        subjects.setdefault(tuple(its_webhooks), []).append(subject_id)
    common: dict[str, Any] = {"tenant_id": tenant_id, "job_id": job_id, "created_on": created_on}
    return [
        PageMessage(
            **common,
            kind=kind,
            event=event,  # type: ignore[arg-type]
            subject_ids=ids[start : start + PAGE_SUBJECTS],
            webhook_ids=list(its_webhooks),
        )
        for its_webhooks, ids in subjects.items()
        for start in range(0, len(ids), PAGE_SUBJECTS)
    ]


@dataclass
class SweepReport:
    found: int = 0  # outboxes due
    resumed: int = 0  # whose messages all went on the fan-out queue
    messages: int = 0  # fan-out messages sent
    not_sent: int = 0  # outboxes left for the next run (some message not sent, or unreadable)
    stopped_early: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sweep(
    store: Store,
    pages_out: SqsPublisher,
    *,
    now: datetime,
    time_left: Callable[[], float],
    page_size: int = SWEEP_PAGE,
    margin_seconds: float = SWEEP_MARGIN_SECONDS,
) -> SweepReport:
    """Resume every job whose start left its outbox past its due time: its messages go on the
    fan-out queue, then the outbox is deleted. One left (SQS refused a message) is tried again by
    the next run."""
    report = SweepReport()
    until = clock.canonical(now)
    for shard in range(keys.PARK_SHARDS):
        start: dict[str, Any] | None = None
        while True:
            if time_left() < margin_seconds:
                report.stopped_early = True
                return report
            page, start = store.due_outboxes(shard, until, page_size, start)
            for outbox in page:
                _resume(store, pages_out, outbox, report)
            if start is None:
                break
    return report


def _resume(store: Store, pages_out: SqsPublisher, outbox: Outbox, report: SweepReport) -> None:
    report.found += 1
    try:
        messages = decode(outbox.body)
    except (ValueError, TypeError, AttributeError) as exc:
        # Left for its TTL: sending it could only fail again.
        logger.error("unreadable outbox", extra={"job_id": outbox.job_id, "error": type(exc).__name__})
        report.not_sent += 1
        return
    result = pages_out.publish(messages)
    report.messages += len(result.sent)
    if result.not_sent:
        logger.warning(
            "outbox not sent whole", extra={"job_id": outbox.job_id, "not_sent": len(result.not_sent)}
        )
        report.not_sent += 1
        return
    try:
        store.sweep_outbox(outbox)
    except (ClientError, BotoCoreError) as exc:
        # Swept again by the next run (duplicates the consumer and the walk absorb); the other
        # outboxes of this run go on.
        logger.warning(
            "swept outbox not deleted", extra={"job_id": outbox.job_id, "error": type(exc).__name__}
        )
    report.resumed += 1
    logger.warning(
        "job start resumed from its outbox",
        extra={"tenant_id": outbox.tenant_id, "job_id": outbox.job_id, "messages": len(messages)},
    )
