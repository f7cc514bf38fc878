"""The dead-letter consumer's domain: every pair of a message that SQS dead-lettered ends, and is
counted once, so no job stays running forever (SPEC §11).

A delivery dead letter is one pair (`PairMessage`); a fan-out dead letter is a page of pairs
(`PageMessage`), some of which may have been queued, or even delivered, before the page failed.
Each pair goes through the exactly-once commit (`Store.commit`): whichever ends a pair first, this
consumer or a copy of its message, is the one that counts it.

A fan-out dead letter may also be a step of a job's selection (`SelectionMessage`, see
resends/selections.py): its walk is interrupted for good, so the selection ends there. The job
keeps what earlier steps counted (running, then completed, as those pairs end; `rejected` when
nothing was queued), its `reason` says where and why the selection stopped, and the pairs the
step itself had counted but not surely sent end like the pairs of a dead-lettered page. A copy of
a step that another message had claimed (a duplicate) changes nothing.

A pair of a cancelled job ends `cancelled` instead (counted `cancelled`, its records saying the
resend was cancelled), as the consumer would have ended it. Otherwise a pair ends `failed` unless
every URL it has was delivered: each of its delivery records that has
not ended is recorded failed with "dead-lettered after N receives", and each URL of its webhook
(or callback of its task) without a record gets one, so the records show why the pair failed. A
pair whose webhook or task is gone and that has no record gets its first record, with no URL, as
the deliverer records a pair whose item is gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from webhook_resend import clock
from webhook_resend.aws.dynamodb import COUNTED, PairOutcome, Store
from webhook_resend.delivery import callbacks
from webhook_resend.delivery.events import Notifier
from webhook_resend.models.messages import HeldMessage, PageMessage, PairMessage, SelectionMessage
from webhook_resend.models.records import (
    CANCELLED,
    CANCELLED_ERROR,
    CLAIM,
    REJECTED,
    RESUME,
    SELECTED,
    SELECTING,
    Delivery,
)
from webhook_resend.observability import logger

# Pairs read and committed together: a page of 1,000 × 10 pairs is written as it goes, so a run
# stopped midway has counted what it wrote and the next run skips it. 99 single-URL pairs and the
# job's counter update fill one transaction (Store.commit: at most 100 items).
PAIRS_PER_ROUND = 99
PROBLEMS_LOGGED = 5  # per message kind tried


def dead_lettered(receives: int) -> str:
    """The `last_error` of a delivery that SQS dead-lettered."""
    return f"dead-lettered after {receives} receives"


def interrupted(step: int, receives: int) -> str:
    """The `reason` of a job whose selection stopped for good: one of its steps was dead-lettered."""
    return (
        f"selection interrupted at step {step + 1}: its message was dead-lettered after {receives} receives"
    )


class UnreadableMessageError(Exception):
    """Neither a pair nor a page. `problems` says where each reading failed, never what the body
    held (it may hold a tenant's data)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("neither a pair message nor a page message")
        self.problems = problems


class NotRecordedError(Exception):
    """DynamoDB kept refusing some of the writes: the message must come back and be tried again."""


def _problems(kind: str, error: ValidationError, fields: Iterable[str]) -> list[str]:
    known = set(fields)
    found = []
    for detail in error.errors(include_input=False, include_url=False)[:PROBLEMS_LOGGED]:
        location = detail["loc"]
        # A field the model has is named; an unknown key is not, it comes from the body.
        field = str(location[0]) if location and location[0] in known else "(body)"
        found.append(f"{kind} {field}: {detail['type']}")
    return found


def read(body: str) -> PairMessage | PageMessage | SelectionMessage | HeldMessage:
    """The message a dead letter holds; UnreadableMessageError when it is none of the kinds. Each
    kind has a required field the others lack (and none takes unknown fields), so the body's
    shape says which it is."""
    errors: list[tuple[str, ValidationError, Any]] = []
    kinds = (("pair", PairMessage), ("page", PageMessage), ("step", SelectionMessage), ("held", HeldMessage))
    for kind, model in kinds:
        try:
            return model.model_validate_json(body)  # type: ignore[no-any-return]
        except ValidationError as error:
            errors.append((kind, error, model.model_fields))
    problems = [p for kind, error, fields in errors for p in _problems(kind, error, fields)]
    raise UnreadableMessageError(problems) from None


@dataclass(frozen=True)
class Ended:
    """What one dead letter changed."""

    job_found: bool  # False: the job is gone (retention), nothing was written or counted
    pairs: int  # pairs the message holds
    ended: int  # of them, pairs this run found not yet counted and ended (each counted once)


@dataclass(frozen=True)
class _Url:
    url_index: int
    url: str
    method: str


class DeadLetters:
    """Ends the pairs of dead-lettered messages, reading and writing through the store."""

    def __init__(self, store: Store, retention_days: int, notifier: Notifier | None = None) -> None:
        self._store = store
        self._retention_days = retention_days
        # Operational events: a job whose last pairs end here is complete (resend.completed).
        self._notifier = notifier

    def end(
        self,
        message: PairMessage | PageMessage | SelectionMessage | HeldMessage,
        receives: int,
        message_id: str = "",
    ) -> Ended:
        """End every pair of `message` that has not ended (NotRecordedError if some could not be
        written; AWS errors propagate), or the selection a step message was part of.
        `receives` is the message's receive count, `message_id` its SQS message id."""
        if isinstance(message, SelectionMessage):
            return self.end_selection(message, receives, message_id)
        if isinstance(message, HeldMessage):
            # A resume's (or cancel's) walk of held pairs: its pairs stay held, counted pending,
            # and nothing is lost; the same resume or cancel again sends the walk again.
            logger.error(
                "walk of a job's held pairs dead-lettered: repeat the resume or cancel",
                extra={"job_id": message.job_id, "shard": message.held_shard, "receives": receives},
            )
            return Ended(job_found=True, pairs=0, ended=0)
        pairs = [message] if isinstance(message, PairMessage) else message.messages()
        job = self._store.get_job(message.tenant_id, message.job_id)
        if job is None:
            return Ended(job_found=False, pairs=len(pairs), ended=0)
        # A cancelled job's pair ends cancelled, as the consumer would have ended it (its job's
        # cancel, not the dead letter, is why it was never delivered). The job was read
        # consistently: a cancel is never undone, so a pair read here as not cancelled can only be
        # one whose job was cancelled after this read, and then ends failed, as it would have.
        cancelled = job.status == CANCELLED
        error = CANCELLED_ERROR if cancelled else dead_lettered(receives)
        # Read once per message: a subject's records, whose pairs a round boundary may split (a
        # round writes only its own pairs), and the URLs of each webhook and task.
        records: dict[str, list[dict[str, Any]]] = {}
        urls: dict[tuple[str, str, str], list[_Url]] = {}
        ended = 0
        for start in range(0, len(pairs), PAIRS_PER_ROUND):
            outcomes = self._outcomes(pairs[start : start + PAIRS_PER_ROUND], error, records, urls, cancelled)
            retention = clock.expires_at(self._retention_days)
            unwritten = self._store.commit(outcomes, clock.now_text(), retention)
            if unwritten:
                raise NotRecordedError(f"{len(unwritten)} of {len(outcomes)} pairs not written")
            ended += len(outcomes)
        if self._notifier is not None:
            # Also when this run ended nothing: a run that died after its commit comes back here.
            self._notifier.jobs_counted([(message.tenant_id, message.job_id)])
        return Ended(job_found=True, pairs=len(pairs), ended=ended)

    def end_selection(self, message: SelectionMessage, receives: int, message_id: str) -> Ended:
        """End the selection a dead-lettered step belonged to (see the module's docstring). SQS
        keeps a message's id when it dead-letters it, so a step that its message had claimed is
        recognised as such (models.records.Walk.action_for)."""
        found = self._store.get_walk(message.tenant_id, message.job_id)
        if found is None or found[1] is None:
            return Ended(job_found=False, pairs=0, ended=0)
        job, walk = found
        action = walk.action_for(message.step, message_id)
        if action not in (CLAIM, RESUME):
            return Ended(job_found=True, pairs=0, ended=0)  # stopped already, or a duplicate
        pairs = ended = 0
        if action == RESUME:
            kept = self._store.get_step_page(message.tenant_id, message.job_id, message.step)
            if kept is not None and not kept[1]:
                # Counted, maybe not (all) sent: each ends now unless a copy of it got there first.
                page_ended = self.end(kept[0], receives)
                pairs, ended = page_ended.pairs, page_ended.ended
                self._store.mark_step_published(message.tenant_id, message.job_id, message.step)
        if walk.state == SELECTING:
            # Whatever was queued goes on (running, then completed); a job that queued nothing is
            # rejected. Counters move only down from here (ends, take-backs), so this read holds.
            state = SELECTED if job.total_queued > 0 else REJECTED
            reason = interrupted(message.step, receives)
            self._store.end_walk(message.tenant_id, message.job_id, walk.step, state, reason)
            if self._notifier is not None:
                # Its end, announced once, if nothing is pending (no consumer batch will): the
                # pairs of earlier pages all ended, or it queued nothing (rejected).
                self._notifier.jobs_counted([(message.tenant_id, message.job_id)])
        return Ended(job_found=True, pairs=pairs, ended=ended)

    # -- one round --------------------------------------------------------------------------------
    def _outcomes(
        self,
        pairs: Sequence[PairMessage],
        error: str,
        by_subject: dict[str, list[dict[str, Any]]],
        urls: dict[tuple[str, str, str], list[_Url]],
        cancelled: bool,
    ) -> list[PairOutcome]:
        for m in pairs:
            if m.subject_id not in by_subject:
                by_subject[m.subject_id] = self._store.subject_records(m.tenant_id, m.job_id, m.subject_id)
        open_pairs: list[tuple[PairMessage, dict[int, dict[str, Any]]]] = []
        for m in pairs:
            found = {r["url_index"]: r for r in by_subject[m.subject_id] if r["webhook_id"] == m.webhook_id}
            first = found.get(0)
            if first is not None and COUNTED in first:
                continue  # ended and counted already (a copy of its message got there first)
            open_pairs.append((m, found))
        self._load_urls([m for m, _ in open_pairs], urls)
        now = clock.now_text()
        return [self._outcome(m, found, urls[_url_key(m)], error, now, cancelled) for m, found in open_pairs]

    def _outcome(
        self,
        m: PairMessage,
        found: dict[int, dict[str, Any]],
        targets: list[_Url],
        error: str,
        now: str,
        cancelled: bool,
    ) -> PairOutcome:
        # Counting-only items (no status) are not deliveries; the records carry their ids.
        records = {index: Delivery.model_validate(r) for index, r in found.items() if "status" in r}
        for target in targets:
            if target.url_index not in records:
                records[target.url_index] = _new_record(m, target)
        if not records:
            records[0] = _new_record(m, _Url(0, "", "POST"))
        ending = "cancelled" if cancelled else "failed"
        changed = []
        for record in records.values():
            if not record.terminal:
                record.status = ending
                record.last_error = error
                record.last_attempt_on = now  # when it ended: the failed-deliveries index's time
                record.next_attempt_on = record.held_until = record.held_on = None
                changed.append(record)
        terminal = "delivered" if all(r.status == "delivered" for r in records.values()) else ending
        return PairOutcome(
            tenant_id=m.tenant_id,
            job_id=m.job_id,
            subject_id=m.subject_id,
            webhook_id=m.webhook_id,
            records=sorted(changed, key=lambda r: r.url_index),
            terminal=terminal,
        )

    def _load_urls(self, pairs: Sequence[PairMessage], urls: dict[tuple[str, str, str], list[_Url]]) -> None:
        """The URLs of each pair's webhook, or the callbacks of its task, as the deliverer indexes
        them (an empty list when the webhook or task is gone): one BatchGetItem for the tasks,
        one GetItem per webhook."""
        task_ids = {m.subject_id for m in pairs if m.kind == "task" and _url_key(m) not in urls}
        if task_ids:
            tenant_id = pairs[0].tenant_id
            tasks = self._store.get_tasks(tenant_id, sorted(task_ids))
            for task_id in task_ids:
                task = tasks.get(task_id)
                urls[(tenant_id, "task", task_id)] = _task_urls(task_id, task.data) if task else []
        for m in pairs:
            key = _url_key(m)
            if key not in urls:
                found = self._store.get_webhook(m.tenant_id, m.webhook_id)
                urls[key] = [_Url(i, url, "POST") for i, url in enumerate(found[0].urls)] if found else []


def _url_key(m: PairMessage) -> tuple[str, str, str]:
    return (m.tenant_id, "task", m.subject_id) if m.kind == "task" else (m.tenant_id, "webhook", m.webhook_id)


def _task_urls(task_id: str, data: dict[str, Any]) -> list[_Url]:
    """A task's pingback (index 0, GET) and postback (index 1, POST), as the deliverer numbers them."""
    tag = data.get("tag")
    found = []
    if data.get("pingback_url"):
        found.append(_Url(0, callbacks.callback_url(data["pingback_url"], task_id, tag), "GET"))
    if data.get("postback_url"):
        found.append(_Url(1, callbacks.callback_url(data["postback_url"], task_id, tag), "POST"))
    return found


def _new_record(m: PairMessage, target: _Url) -> Delivery:
    return Delivery(
        job_id=m.job_id,
        subject_id=m.subject_id,
        kind=m.kind,
        webhook_id=m.webhook_id,
        url_index=target.url_index,
        url=target.url,
        method=target.method,
        event=m.event,
        status="pending",
    )
