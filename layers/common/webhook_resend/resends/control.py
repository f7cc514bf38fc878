"""Pause, resume and cancel a resend job (SPEC §11), at a cost that does not grow with the job.

Each call is one conditional UpdateItem of the job record (`Store.control_job`) and at most one
message; nothing is listed by the call:
* **pause** (from selecting or running): the job's `state` becomes `paused`. The selection stops
  at its next step (a step finds the job no longer selecting; its cursor stays on the job), and
  the delivery consumer, which reads the job of every pair it is handed, parks each pair of a
  paused job under its job (`parking`, reason `paused`) without an attempt: the message leaves
  SQS, so neither an attempt nor a receive is used up while the job is paused. Attempts already
  on the wire finish and count as they end.
* **resume** (from paused): `state` goes back to what it was (selecting, or running), and one
  message (`HeldMessage`) on the fan-out queue continues the selection where it stopped and
  walks the job's held pairs, page by page and shard by shard, back onto the delivery queue.
* **cancel** (from selecting, running or paused): `state` becomes `cancelled` for good. The
  selection stops; the consumer ends every pair of the job it is handed `cancelled` (pending −1,
  cancelled +1, in the exactly-once commit) without an attempt; the walk puts every parked pair
  of the job back on the delivery queue at once, the held ones and those parked for a backoff, a
  429/503 deferral or a rate limit alike (found in `parked_by_job`, under the job), so each ends
  within seconds rather than when it comes due. `resend.cancelled` is announced once, by whoever
  sees nothing pending (the consumer's batch that ends the last pair, or this call when nothing
  is pending).

A repeated move answers the job unchanged (a repeated resume or cancel sends its message again,
so one that SQS lost is sent by the retry); any other move is `409` naming the status.
"""

from __future__ import annotations

from typing import Literal

from webhook_resend import clock
from webhook_resend.aws import keys
from webhook_resend.aws.dynamodb import Store, job_document
from webhook_resend.aws.publisher import SqsPublisher
from webhook_resend.delivery import parking
from webhook_resend.delivery.events import EventPublisher, announce_job_end
from webhook_resend.errors import ConflictError, FieldProblem, not_found
from webhook_resend.models.messages import HeldMessage, SelectionMessage
from webhook_resend.models.records import CANCELLED, PAUSED, SELECTING, Job
from webhook_resend.observability import logger

Move = Literal["pause", "resume", "cancel"]
# The statuses a move leaves a job in: a call that finds the job there already answers it unchanged.
_ARRIVED = {"pause": ("paused",), "resume": ("selecting", "running"), "cancel": ("cancelled",)}
_FROM = {
    "pause": "only a selecting or running resend can be paused",
    "resume": "only a paused resend can be resumed",
    "cancel": "only a selecting, running or paused resend can be cancelled",
}
HELD_PAGE = 500  # held pairs one fan-out message puts back on the delivery queue


class ControlNotSentError(Exception):
    """SQS did not take the message of a resume or cancel: the job moved, and the same call
    again (idempotent) sends the message."""


def control(
    store: Store,
    pages_out: SqsPublisher,
    events_out: EventPublisher,
    tenant_id: str,
    job_id: str,
    move: Move,
    *,
    keep_days: int,
) -> Job:
    """Apply `move` to the tenant's job and answer its document after the move (see the module).
    NotFoundError when the tenant has no such job, ConflictError for a move its status forbids,
    ControlNotSentError when the message of a resume or cancel could not be queued."""
    record, moved = store.control_job(tenant_id, job_id, move, clock.now_text())
    if record is None:
        raise not_found("resend")
    job = job_document(record)
    if not moved and job.status not in _ARRIVED[move]:
        raise ConflictError(FieldProblem("status", f"the resend is {job.status}: {_FROM[move]}"))
    # A repeat of a resume (the job was paused once) or of a cancel sends the message again.
    repeat_heals = move == "cancel" or (move == "resume" and "resumed_on" in record)
    walk = HeldMessage(tenant_id=tenant_id, job_id=job_id, held_shard=None)
    if move != "pause" and (moved or repeat_heals) and pages_out.publish([walk]).not_sent:
        raise ControlNotSentError(job_id)
    if move != "pause" and job.pending <= 0:
        # Nothing pending: no consumer batch will end this job, so its end is announced here
        # (resend.cancelled for a cancelled job; a resumed one still selecting has not ended).
        announce_job_end(
            store, events_out, tenant_id, job_id, "resend.completed", drained=True, keep_days=keep_days
        )
    logger.info("resend controlled", extra={"job_id": job_id, "move": move, "moved": moved})
    return job


def wake_held(store: Store, pages_out: SqsPublisher, pairs_out: SqsPublisher, message: HeldMessage) -> int:
    """Run one message of a resume's (or cancel's) walk; answers how many held pairs it put back
    on the delivery queue. Idempotent on redelivery: a page put back twice only duplicates
    messages, which the consumer's exactly-once commit absorbs; a pair is deleted from the
    parked items only after SQS took it. ControlNotSentError when SQS did not take all of it
    (the message comes back and does it again)."""
    record = store.job_record(message.tenant_id, message.job_id)
    state = (record or {}).get("state")
    if record is None or "created_on" not in record or state == PAUSED:
        # Gone, or paused again: that pause's resume walks the held pairs then.
        return 0
    if message.held_shard is None:
        follow: list[SelectionMessage | HeldMessage] = []
        if state == SELECTING:
            # Where the pause stopped the selection: its step sent again (a second copy of a step
            # is a duplicate the step protocol refuses, resends/selections.py).
            found = store.get_walk(message.tenant_id, message.job_id)
            walk = found[1] if found else None
            if walk is not None:
                follow.append(
                    SelectionMessage(
                        tenant_id=message.tenant_id,
                        job_id=message.job_id,
                        step=walk.step,
                        phase=walk.phase,
                        start=walk.cursor,
                    )
                )
        # A cancelled job's walk reads every pair it has parked, whatever the reason; a resume's
        # only the held ones (the others wait for their due time, as before the pause).
        follow += [
            HeldMessage(
                tenant_id=message.tenant_id,
                job_id=message.job_id,
                held_shard=shard,
                every_parked=state == CANCELLED,
            )
            for shard in range(keys.PARK_SHARDS)
        ]
        if pages_out.publish(follow).not_sent:
            raise ControlNotSentError(message.job_id)
        return 0
    read = store.job_parked if message.every_parked else store.held_parked
    page, next_start = read(message.tenant_id, message.job_id, message.held_shard, HELD_PAGE, message.start)
    report = parking.WakeReport()
    parking.wake_page(store, pairs_out, page, report)
    if report.not_sent:
        raise ControlNotSentError(message.job_id)
    if next_start is not None:
        following = HeldMessage(
            tenant_id=message.tenant_id,
            job_id=message.job_id,
            held_shard=message.held_shard,
            start=next_start,
            every_parked=message.every_parked,
        )
        if pages_out.publish([following]).not_sent:
            raise ControlNotSentError(message.job_id)
    if state == CANCELLED and report.woken:
        logger.info("parked pairs of a cancelled job sent to be ended", extra={"pairs": report.woken})
    return report.woken
