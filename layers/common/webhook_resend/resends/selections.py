"""Asynchronous selection: a native resend by filter or by past outcome (and a schedule's fire)
answers at once with its job `selecting`, and the fan-out function selects it, one step at a time.

A job's selection walks an index in two phases, each step one message on the fan-out queue that
carries where it starts (the previous step's LastEvaluatedKey):
1. **count**: Select=COUNT pages of the items index under the filter (or of the failed-deliveries
   index) until the end. Over `MaxPairsPerRequest`, the job ends `rejected`, its reason naming
   the cap and the count, and nothing is queued.
2. **queue**: a page of up to 1,000 matching items (or 1,000 failed records) per step; its pairs
   are counted into the job, then sent to the delivery queue, then the next step is sent. After
   the last page the job is `running` (or `completed`, when every pair has ended already).

The per-step protocol (models.records.Walk.action_for) makes every step count once and the walk
never fork, however SQS delivers the messages:
* A step is *claimed* by one conditional write on the job (the walk must stand at this step and
  still be selecting), which moves the walk on, records the claiming message's id and the cursor
  of the next step, and adds the step's items and pairs to `total_items`, `total_queued` and
  `pending`: a pair is counted before its message exists, so `pending` never goes below 0. The
  pairs are kept beside the job in the same transaction.
* Then the pairs are sent, then the next step. A crash anywhere leaves the message to SQS, which
  delivers it again: the same message finds itself the claimant and finishes (it sends the kept
  pairs again, which the delivery consumer absorbs, and the next step); a second copy of a step
  (its predecessor sent it twice) finds another claimant and stops.
* Pairs SQS answered it did not take are taken out of the job (as `jobs.take_back` does), in one
  transaction that holds only while no redelivered copy has begun sending the same pairs; pairs
  whose call got no answer, and every pair a redelivered copy could not send, may be in the
  queue, so they are ended `failed` through the exactly-once commit, never taken out.
* A step message that SQS dead-letters ends the selection (delivery/dead_letters.py).

In a resend by outcome a pair may have failed on several pages (several jobs, several URLs): the
index is walked newest first, and each step marks its subjects and pairs beside the job (one
conditional update per subject, the same answer for a redelivered step), so a pair is selected
once, with the event of its latest failure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from webhook_resend import clock
from webhook_resend.aws.dynamodb import Store
from webhook_resend.aws.publisher import SqsPublisher
from webhook_resend.delivery.events import EventPublisher, announce_job_end
from webhook_resend.errors import QueueingError, SelectionNotStartedError
from webhook_resend.models.base import Source, new_id
from webhook_resend.models.messages import CALLBACK, PageMessage, PairMessage, SelectionMessage
from webhook_resend.models.records import (
    CLAIM,
    REJECTED,
    RESUME,
    SELECTED,
    SELECTING,
    Job,
    Selection,
    Walk,
)
from webhook_resend.observability import logger
from webhook_resend.resends import outbox
from webhook_resend.resends.filters import ItemFilter, parse_item_filter
from webhook_resend.resends.jobs import REFUSED, UNKNOWN_PUBLISH, DuplicateJobError, take_back

PAGE_SUBJECTS = 1000  # items one queue step selects at most: ≤ 37 KB of ids kept beside the job
FAILED_RECORDS = 1000  # failed delivery records one queue step of a resend by outcome reads
COUNT_QUERIES = 25  # Select=COUNT Queries one count step takes at most (each reads up to 1 MB)
READ_QUERIES = 8  # index Queries one queue step takes at most, to fill its page
TIME_RESERVE_SECONDS = 60.0  # a count step takes no further Query with less time than this left
NOT_STARTED = "the selection could not start: SQS did not take its first step"


def over_cap(pairs: int, cap: int, records: int | None = None) -> str:
    selects = (
        f"selects {pairs} pairs"
        if records is None
        else f"selects up to {pairs} pairs ({records} failed deliveries)"
    )
    return f"{selects}; a resend may queue at most {cap} (narrow the selection or split it)"


def settlement(
    failed: Sequence[PairMessage], unknown: Sequence[PairMessage], *, first: bool
) -> tuple[list[PairMessage], list[PairMessage]]:
    """What becomes of a step's pairs that a publish did not send: (taken back, ended failed).

    The step's first publisher may take back what SQS answered it did not take (they are not in
    the queue) and ends what got no answer (they may be). A redelivered step's publisher cannot
    know what an earlier run sent: every pair it could not send may be in the queue, so each ends
    `failed`, counted once (a copy in the queue then finds it counted and is never sent)."""
    if first:
        return list(failed), list(unknown)
    return [], [*failed, *unknown]


class StepNotSettledError(Exception):
    """SQS or DynamoDB did not take all of a step's work: the message must come back (SQS delivers
    it again after its visibility timeout), and its step is finished then."""


@dataclass(frozen=True)
class StepDone:
    """What one step message did (for logs and metrics)."""

    action: str  # models.records: claim, resume, stopped, duplicate; or "gone" (no such job)
    items: int = 0
    pairs: int = 0
    sent: int = 0


# ---------------------------------------------------------------------------------------------
# Starting: the API (or a schedule's fire) writes the job and sends its first step
# ---------------------------------------------------------------------------------------------
def start(
    store: Store,
    pages_out: SqsPublisher,
    tenant_id: str,
    selection: Selection,
    *,
    source: Source,
    retention_days: int,
    job_id: str | None = None,
    task_ids: Sequence[str] = (),
) -> Job:
    """Write the job, `selecting`, and queue the first step of its selection; with `task_ids`
    (tasks selected at once, up to 1,000), count their callbacks and queue them as one page too.
    Answers the job as written.

    DuplicateJobError when a job of `job_id` exists (a retried schedule fire): if that job never
    got its first step out, the step is sent again first (a second copy is harmless: the step
    protocol runs one of them).
    """
    now = clock.now()
    created_on = clock.canonical(now)
    if selection.kind == "failed":
        # The walk reads failures up to the job's creation, never its own.
        selection = selection.model_copy(update={"until": created_on})
    counted = len(task_ids)
    job = Job(
        id=job_id or new_id(),
        source=source,
        event=selection.event,
        status=SELECTING,
        created_on=created_on,
        total_items=counted,
        total_queued=counted,
        delivered=0,
        failed=0,
        pending=counted,
    )
    first = SelectionMessage(tenant_id=tenant_id, job_id=job.id, step=0, phase="count")
    tasks = (
        PageMessage(
            tenant_id=tenant_id,
            job_id=job.id,
            created_on=created_on,
            kind="task",
            subject_ids=list(task_ids),
            webhook_ids=[CALLBACK],
        )
        if task_ids
        else None
    )
    expires_at = clock.expires_at(retention_days, now)
    # Its start's work, resumed by the waker's sweep should this start die (resends/outbox.py).
    box = outbox.new(tenant_id, job.id, [tasks, first] if tasks else [first], now, expires_at)
    if not store.put_job(tenant_id, job, expires_at, Walk(state=SELECTING, selection=selection), box):
        found = store.get_walk(tenant_id, job.id)
        walk = found[1] if found else None
        if walk is not None and walk.state == SELECTING and walk.step == 0:
            pages_out.publish([first])
        raise DuplicateJobError(job.id)
    refused = unknown = 0
    if tasks is not None:
        result = pages_out.publish([tasks])
        if result.not_sent:
            refused = sum(page.size for page in result.failed)
            unknown_pairs = [pair for page in result.unknown for pair in page.messages()]
            unknown = len(unknown_pairs)
            # What is left to queue is the first step; then the refused tasks leave the job.
            store.replace_outbox(outbox.new(tenant_id, job.id, [first], now, expires_at))
            take_back(store, tenant_id, job.id, refused, unknown_pairs, retention_days)
    if pages_out.publish([first]).not_sent:
        queued = counted - refused
        state = SELECTED if queued > 0 else REJECTED
        store.end_walk(tenant_id, job.id, 0, state, NOT_STARTED)
        store.drop_outbox(tenant_id, job.id)
        logger.error("selection not started", extra={"job_id": job.id})
        raise SelectionNotStartedError(
            job_id=job.id, queued=queued - unknown, refused=refused + unknown, ended=unknown
        )
    store.drop_outbox(tenant_id, job.id)
    if refused or unknown:
        raise QueueingError(
            job_id=job.id, queued=counted - refused - unknown, refused=refused + unknown, ended=unknown
        )
    return job


# ---------------------------------------------------------------------------------------------
# Walking: the fan-out function runs one step per message
# ---------------------------------------------------------------------------------------------
def _forever() -> float:
    return float("inf")


class Selections:
    """Runs the steps of jobs' selections, reading and writing through the store, sending pairs
    to the delivery queue and steps to the fan-out queue."""

    def __init__(
        self,
        store: Store,
        pages_out: SqsPublisher,
        pairs_out: SqsPublisher,
        retention_days: int,
        seconds_left: Callable[[], float] = _forever,
        events_out: EventPublisher | None = None,
    ) -> None:
        self._store = store
        self._pages_out = pages_out
        self._pairs_out = pairs_out
        self._retention_days = retention_days
        self._seconds_left = seconds_left
        # Where a selection over the cap announces its rejection (resend.rejected); none without.
        self._events_out = events_out

    def run(self, message: SelectionMessage, message_id: str) -> StepDone:
        """Run one step (see the module's protocol). StepNotSettledError when it must come back;
        AWS errors propagate (the message comes back too)."""
        found = self._store.get_walk(message.tenant_id, message.job_id)
        if found is None or found[1] is None:
            return StepDone("gone")
        job, walk = found
        action = walk.action_for(message.step, message_id)
        if action == CLAIM:
            return self._claim(message, message_id, job, walk)
        if action == RESUME:
            return self._resume(message, job, walk)
        return StepDone(action)

    # -- claiming a step --------------------------------------------------------------------------
    def _claim(self, message: SelectionMessage, message_id: str, job: Job, walk: Walk) -> StepDone:
        if walk.phase == "count":
            return self._count_step(message, message_id, job, walk)
        return self._queue_step(message, message_id, job, walk)

    def _count_step(self, message: SelectionMessage, message_id: str, job: Job, walk: Walk) -> StepDone:
        selection = walk.selection
        counted, cursor = self._count(message, selection)
        claim: dict[str, Any] = {"phase": "count", "cursor": cursor, "counted": counted}
        if cursor is None:
            total = walk.counted + counted
            pairs = total * len(selection.webhook_ids) if selection.kind == "filter" else total
            if pairs > selection.max_pairs:
                records = total if selection.kind == "failed" else None
                claim.update(end=REJECTED, reason=over_cap(pairs, selection.max_pairs, records))
            elif pairs == 0:
                # Nothing to queue: the items a filter matches are counted, and the job is done.
                claim.update(end=SELECTED, items=total if selection.kind == "filter" else 0)
            else:
                claim["phase"] = "queue"
        if not self._store.claim_step(message.tenant_id, message.job_id, message.step, message_id, **claim):
            return self._lost(message, message_id)
        if claim.get("end") is None:
            self._next(message, claim["phase"], cursor)
        elif claim["end"] == REJECTED:
            self._announce(message, "resend.rejected")
        else:
            self._announce(message, "resend.completed")  # selected nothing: completed at once
        return StepDone(CLAIM)

    def _announce(self, message: SelectionMessage, event_type: str) -> None:
        """The job's end, once (the claim of the job's end decides it): resend.rejected at a
        rejection; resend.completed when the selection ends with nothing pending (the pairs of
        earlier pages all ended while it selected: no consumer batch will announce it). Best
        effort: the job has ended either way, and an AWS error here must not make the step come
        back."""
        if self._events_out is None:
            return
        try:
            announce_job_end(
                self._store,
                self._events_out,
                message.tenant_id,
                message.job_id,
                event_type,  # type: ignore[arg-type]
                drained=event_type != "resend.rejected",
                keep_days=self._retention_days,
            )
        except (ClientError, BotoCoreError) as exc:
            logger.warning("job end not announced", extra={"error": type(exc).__name__})

    def _count(self, message: SelectionMessage, selection: Selection) -> tuple[int, dict[str, Any] | None]:
        """What this step counts, and where the next count step starts (None: counted to the end).
        It takes Select=COUNT Queries (each up to 1 MB of index) while it has time."""
        total, start = 0, message.start
        for _ in range(COUNT_QUERIES):
            if selection.kind == "filter":
                counted, start = self._count_items(message.tenant_id, selection, start)
            else:
                number, start = self._store.failed_page(
                    message.tenant_id,
                    selection.since or "",
                    selection.until or "",
                    webhook_ids=selection.webhook_ids,
                    event=selection.event,
                    of_job=selection.of_job,
                    start=start,
                    count=True,
                )
                counted = int(number)  # type: ignore[arg-type]
            total += counted
            if start is None or self._seconds_left() < TIME_RESERVE_SECONDS:
                break
        return total, start

    def _count_items(
        self, tenant_id: str, selection: Selection, start: dict[str, Any] | None
    ) -> tuple[int, dict[str, Any] | None]:
        item_filter = parse_item_filter(selection.item_filter)
        lo, hi = item_filter.sort_key_range()
        compiled = item_filter.compiled()
        if compiled.residual.is_empty:
            return self._store.count_item_index_page(tenant_id, lo, hi, compiled.condition, start=start)
        # Part of the filter is evaluated here: the entries must be read to count.
        entries, start = self._store.query_item_index(tenant_id, lo, hi, compiled.condition, start=start)
        return sum(1 for entry in entries if compiled.keeps(entry)), start

    def _queue_step(self, message: SelectionMessage, message_id: str, job: Job, walk: Walk) -> StepDone:
        selection = walk.selection
        if selection.kind == "filter":
            page, items, cursor = self._item_page(message, job, selection)
        else:
            page, items, cursor = self._failed_page(message, job, selection)
        pairs = page.size if page else 0
        claimed = self._store.claim_step(
            message.tenant_id,
            message.job_id,
            message.step,
            message_id,
            phase="queue",
            cursor=cursor,
            items=items,
            pairs=pairs,
            page=page if pairs else None,
            end=SELECTED if cursor is None else None,
            expires_at=clock.expires_at(self._retention_days),
        )
        if not claimed:
            return self._lost(message, message_id)
        sent = self._publish(message, page, first=True) if page and pairs else 0
        if cursor is not None:
            self._next(message, "queue", cursor)
        else:
            # The selection's end: announced here when nothing is pending (it selected nothing,
            # or SQS refused this last page's pairs after every earlier pair had ended), as no
            # consumer batch will; else by the batch that ends its last pair.
            self._announce(message, "resend.completed")
        return StepDone(CLAIM, items=items, pairs=pairs, sent=sent)

    def _item_page(
        self, message: SelectionMessage, job: Job, selection: Selection
    ) -> tuple[PageMessage | None, int, dict[str, Any] | None]:
        """Up to PAGE_SUBJECTS matching items from the step's start (DynamoDB evaluates the filter;
        at most READ_QUERIES Queries), and where the next step starts."""
        item_filter: ItemFilter = parse_item_filter(selection.item_filter)
        lo, hi = item_filter.sort_key_range()
        compiled = item_filter.compiled()
        reads = ("id",) if compiled.residual.is_empty else None
        found: list[str] = []
        start = message.start
        for _ in range(READ_QUERIES):
            entries, start = self._store.query_item_index(
                message.tenant_id,
                lo,
                hi,
                compiled.condition,
                start=start,
                limit=PAGE_SUBJECTS - len(found),
                attributes=reads,
            )
            found += [entry["id"] for entry in entries if compiled.keeps(entry)]
            if start is None or len(found) >= PAGE_SUBJECTS:
                break
        page = PageMessage(
            tenant_id=message.tenant_id,
            job_id=message.job_id,
            created_on=job.created_on,
            kind="item",
            event=selection.event,  # type: ignore[arg-type]
            subject_ids=found,
            webhook_ids=selection.webhook_ids,
        )
        return page, len(found), start

    def _failed_page(
        self, message: SelectionMessage, job: Job, selection: Selection
    ) -> tuple[PageMessage | None, int, dict[str, Any] | None]:
        """The pairs of up to FAILED_RECORDS failed records, newest first, that no earlier step
        selected, each with the event of its latest failure; the subjects first selected here."""
        records, start = self._store.failed_page(
            message.tenant_id,
            selection.since or "",
            selection.until or "",
            webhook_ids=selection.webhook_ids,
            event=selection.event,
            of_job=selection.of_job,
            start=message.start,
            limit=FAILED_RECORDS,
        )
        latest: dict[tuple[str, str], tuple[str, str | None]] = {}  # (subject, webhook) → (kind, event)
        for record in records:  # type: ignore[union-attr]
            key = (record["subject_id"], record["webhook_id"])
            if key not in latest:  # newest first: the first record of a pair is its latest failure
                latest[key] = (record.get("kind", "item"), record.get("event"))
        wanted: dict[str, list[str]] = {}
        for subject_id, webhook_id in latest:
            wanted.setdefault(subject_id, []).append(webhook_id)
        marked = self._store.mark_selected(
            message.tenant_id, message.job_id, message.step, wanted, clock.expires_at(self._retention_days)
        )
        pairs = [
            (kind, subject_id, webhook_id, event)
            for (subject_id, webhook_id), (kind, event) in latest.items()
            if webhook_id in marked[subject_id][1]
        ]
        items = sum(1 for first, _ in marked.values() if first)
        page = PageMessage(
            tenant_id=message.tenant_id,
            job_id=message.job_id,
            created_on=job.created_on,
            pairs=pairs,  # type: ignore[arg-type]
        )
        return page, items, start

    def _lost(self, message: SelectionMessage, message_id: str) -> StepDone:
        """The claim was refused: another copy claimed the step, or the job stopped selecting.
        If the claimant was this very message (SQS delivered it twice at once), finish its step."""
        found = self._store.get_walk(message.tenant_id, message.job_id)
        if found is None or found[1] is None:
            return StepDone("gone")
        job, walk = found
        action = walk.action_for(message.step, message_id)
        if action == RESUME:
            return self._resume(message, job, walk)
        return StepDone(action)

    # -- finishing a claimed step -----------------------------------------------------------------
    def _resume(self, message: SelectionMessage, job: Job, walk: Walk) -> StepDone:
        """This message claimed its step and stopped short: send what it kept (unless settled),
        then the next step, while the selection goes on."""
        kept = self._store.get_step_page(message.tenant_id, message.job_id, message.step)
        sent = 0
        if kept is not None:
            page, settled = kept
            if not settled:
                sent = self._publish(message, page, first=False)
        if walk.state == SELECTING:
            self._next(message, walk.phase, walk.cursor)
        else:
            self._announce(message, "resend.completed")  # as at the end of _queue_step
        return StepDone(RESUME, sent=sent)

    def _publish(self, message: SelectionMessage, page: PageMessage, *, first: bool) -> int:
        """Send the step's pairs; settle what SQS did not take (see the module's protocol)."""
        tenant_id, job_id, step = message.tenant_id, message.job_id, message.step
        if not first and not self._store.begin_republish(tenant_id, job_id, step):
            return 0
        result = self._pairs_out.publish(page.messages())
        refused, unknown = settlement(result.failed, result.unknown, first=first)
        if unknown:
            self._end_unknown(job_id, unknown)
        if refused:
            if self._store.take_back_step(tenant_id, job_id, step, len(refused), REFUSED):
                logger.warning(
                    "pairs refused by SQS taken back", extra={"job_id": job_id, "pairs": len(refused)}
                )
                return len(result.sent)
            # A redelivered copy began sending these pairs too: they may be queued.
            self._end_unknown(job_id, refused)
        self._store.mark_step_published(tenant_id, job_id, step)
        return len(result.sent)

    def _end_unknown(self, job_id: str, pairs: Sequence[PairMessage]) -> None:
        now = clock.now()
        unwritten = self._store.end_failed(
            pairs, UNKNOWN_PUBLISH, clock.canonical(now), clock.expires_at(self._retention_days, now)
        )
        if unwritten:
            raise StepNotSettledError(f"{len(unwritten)} pairs of job {job_id} neither queued nor ended")

    def _next(self, message: SelectionMessage, phase: str, cursor: dict[str, Any] | None) -> None:
        following = SelectionMessage(
            tenant_id=message.tenant_id,
            job_id=message.job_id,
            step=message.step + 1,
            phase=phase,  # type: ignore[arg-type]
            start=cursor,
        )
        if self._pages_out.publish([following]).not_sent:
            raise StepNotSettledError(f"step {following.step} of job {message.job_id} not sent")
