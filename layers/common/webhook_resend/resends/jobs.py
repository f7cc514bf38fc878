"""Starting a resend job: select nothing, count everything. The job record is written first with
every pair counted pending; then one message per pair is queued, and if some pairs cannot be
queued, the job is corrected to exactly what was queued, and the caller is told.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from webhook_resend import clock
from webhook_resend.aws.dynamodb import Store
from webhook_resend.aws.publisher import SqsPublisher
from webhook_resend.models.base import Source, new_id
from webhook_resend.models.messages import PairMessage
from webhook_resend.models.records import Job, job_status
from webhook_resend.observability import logger
from webhook_resend.resends import outbox
from webhook_resend.resends.outbox import FanoutMessage

# The last error of a pair whose SendMessageBatch call failed without an answer.
UNKNOWN_PUBLISH = "not queued: SQS did not answer; recorded failed so that it is never sent"
# A job's reason once pairs SQS refused were taken out of it (all of them: the job is rejected).
REFUSED = "SQS refused some of the selected pairs: they were taken out of the job, never queued"


class DuplicateJobError(Exception):
    """A job of this id was started already (a retried schedule fire): nothing more to do."""

    def __init__(self, job_id: str) -> None:
        super().__init__(job_id)
        self.job_id = job_id


@dataclass(frozen=True)
class Pair:
    subject_id: str
    webhook_id: str


@dataclass
class FanOut:
    job: Job
    queued: list[Pair]
    unqueued: list[Pair]
    ended: int = 0  # of `unqueued`: may have reached the queue, so counted and ended failed


def start_job(
    store: Store,
    tenant_id: str,
    source: Source,
    event: str | None,
    total_items: int,
    total_queued: int,
    retention_days: int,
    job_id: str | None = None,
    work: Callable[[Job], Sequence[FanoutMessage]] | None = None,
) -> Job:
    """Write a new job with every pair pending (a job of no pair is completed at once); with
    `work`, the fan-out messages that carry its pairs, written with it as its outbox (see
    resends/outbox.py): the caller deletes it once they are queued.

    With `job_id` (derived from what started it, e.g. a schedule's fire time), a second start of
    the same job raises DuplicateJobError and writes nothing.
    """
    now = clock.now()
    created_on = clock.canonical(now)
    job = Job(
        id=job_id or new_id(),
        source=source,
        event=event,
        status=job_status(total_queued),  # type: ignore[arg-type]
        created_on=created_on,
        completed_on=None if total_queued else created_on,
        total_items=total_items,
        total_queued=total_queued,
        delivered=0,
        failed=0,
        pending=total_queued,
    )
    expires_at = clock.expires_at(retention_days, now)
    box = outbox.new(tenant_id, job.id, work(job), now, expires_at) if work and total_queued else None
    if not store.put_job(tenant_id, job, expires_at, outbox=box):
        raise DuplicateJobError(job.id)
    return job


def fan_out(
    store: Store,
    publisher: SqsPublisher,
    tenant_id: str,
    *,
    source: Source,
    event: str | None,
    kind: str,
    pairs: Sequence[Pair],
    total_items: int,
    retention_days: int,
) -> FanOut:
    """Write the job, then queue one message per pair; the job ends up counting what was queued.

    Pairs SQS would not take are in `unqueued`; the caller says so in its answer. Those SQS said
    it did not take are taken out of the job; those whose call failed without an answer may be in
    the queue, so they stay counted and are ended `failed` through the exactly-once protocol
    (a copy that did reach the queue then finds its pair counted and is never sent).
    """

    def work(job: Job) -> Sequence[FanoutMessage]:
        subjects = [(p.subject_id, p.webhook_id) for p in pairs]
        return outbox.pages_of(tenant_id, job.id, job.created_on, kind, event, subjects)  # type: ignore[arg-type]

    job = start_job(store, tenant_id, source, event, total_items, len(pairs), retention_days, work=work)
    created_on = job.created_on
    messages = [
        PairMessage(
            tenant_id=tenant_id,
            job_id=job.id,
            kind=kind,  # type: ignore[arg-type]
            subject_id=pair.subject_id,
            webhook_id=pair.webhook_id,
            event=event,  # type: ignore[arg-type]
            created_on=created_on,
        )
        for pair in pairs
    ]
    result = publisher.publish(messages)
    settle_start(store, tenant_id, job, len(result.failed), result.unknown, retention_days)
    if not result.not_sent:
        return FanOut(job=job, queued=list(pairs), unqueued=[])
    not_sent = {(m.subject_id, m.webhook_id) for m in result.not_sent}
    return FanOut(
        job=job,
        queued=[p for p in pairs if (p.subject_id, p.webhook_id) not in not_sent],
        unqueued=[p for p in pairs if (p.subject_id, p.webhook_id) in not_sent],
        ended=len(result.unknown),
    )


def settle_start(
    store: Store,
    tenant_id: str,
    job: Job,
    refused: int,
    unknown: Sequence[PairMessage],
    retention_days: int,
) -> None:
    """After a start (`start_job` with its work) queued what it counted: its outbox goes, in the
    same write as the pairs SQS refused (see `take_back`)."""
    if refused or unknown:
        take_back(store, tenant_id, job.id, refused, unknown, retention_days, drop_outbox=True)
    elif job.total_queued:
        store.drop_outbox(tenant_id, job.id)


def take_back(
    store: Store,
    tenant_id: str,
    job_id: str,
    refused: int,
    unknown: Sequence[PairMessage],
    retention_days: int,
    *,
    drop_outbox: bool = False,
) -> None:
    """Correct a job after a publish: `refused` pairs were never queued (taken out of its count);
    the `unknown` ones may be in the queue, so they end `failed`, counted once, never sent. With
    `drop_outbox`, the job's outbox goes in the same write as the refused pairs (its sweep must never
    queue what the job no longer counts)."""
    store.unqueue(tenant_id, job_id, refused, REFUSED, outbox=drop_outbox)
    if unknown:
        now = clock.now()
        unwritten = store.end_failed(
            unknown, UNKNOWN_PUBLISH, clock.canonical(now), clock.expires_at(retention_days, now)
        )
        if unwritten:
            # DynamoDB failed too: these stay pending until the dead-letter or sweeper path ends them.
            logger.error(
                "pairs of an unanswered publish not ended", extra={"job_id": job_id, "pairs": len(unwritten)}
            )
