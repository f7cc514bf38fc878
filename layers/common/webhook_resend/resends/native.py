"""Native resends (`POST /resends`, and scheduled ones): by ids, by filter or by past outcome,
with dry runs.

By ids (at most 1,000 items and 1,000 tasks), the API call selects and counts every pair, writes
the job and queues pages of work, which the fan-out function turns into pair messages. By filter
or by past outcome, however many pairs that selects, it validates the request, writes the job
`selecting` and answers at once: the fan-out function selects it, a page at a time
(`resends.selections`). A dry run counts, synchronously, and queues nothing.
"""

from __future__ import annotations

import time
from typing import Any

from webhook_resend.aws.dynamodb import DeadlinePassed, Store
from webhook_resend.aws.publisher import SqsPublisher
from webhook_resend.errors import FieldProblem, InvalidInputError, QueueingError
from webhook_resend.models.base import Model, Source
from webhook_resend.models.bodies import ResendIn
from webhook_resend.models.messages import CALLBACK, PageMessage
from webhook_resend.models.records import Job, Selection
from webhook_resend.resends import selections
from webhook_resend.resends.filters import parse_item_filter
from webhook_resend.resends.jobs import settle_start, start_job
from webhook_resend.resends.selection import count_items, select_webhooks, until_deadline

PAGE_SUBJECTS = 1000  # subjects per fan-out page: ≤ 37 KB of ids in one SQS message
PAGE_PAIRS = 1000  # explicit pairs per page (resend by outcome)
# What a dry run (and a resend by ids) may spend reading what it selects: the API answers within
# its 29 s whatever a dry run selects (SPEC §10), a clear 422 past this.
DRY_RUN_SECONDS = 15.0


class DryRun(Model):
    """What a dry run answers: what the resend would queue."""

    dry_run: bool = True
    event: str | None
    total_items: int
    total_queued: int
    webhooks: dict[str, list[str]]


class Plan:
    """What a resend will queue, before anything is written."""

    def __init__(self) -> None:
        self.item_ids: list[str] = []
        self.task_ids: list[str] = []
        self.webhooks: dict[str, list[str]] = {}
        self.pairs: list[tuple[str, str, str, str | None]] = []  # by outcome
        self.counted_items = 0  # items a dry run's filter matches, counted without reading them

    @property
    def total_items(self) -> int:
        items = len(self.item_ids) + self.counted_items
        return items + len(self.task_ids) + len({(k, s) for k, s, _, _ in self.pairs})

    @property
    def total_queued(self) -> int:
        items = len(self.item_ids) + self.counted_items
        return items * len(self.webhooks) + len(self.task_ids) + len(self.pairs)


def _missing(kind: str, field: str, wanted: list[str], found: set[str]) -> None:
    unknown = [i for i in wanted if i not in found]
    if unknown:
        shown = ", ".join(unknown[:10]) + (f" and {len(unknown) - 10} more" if len(unknown) > 10 else "")
        raise InvalidInputError(FieldProblem(field, f"no {kind} with id {shown}"))


def _valid_tasks(store: Store, tenant_id: str, task_ids: list[str]) -> list[str]:
    """The tasks, once each; InvalidInputError naming those that do not exist or have no callback."""
    wanted = list(dict.fromkeys(task_ids))
    tasks = store.get_tasks(tenant_id, wanted)
    _missing("task", "task_ids", wanted, set(tasks))
    silent = [
        i for i in wanted if not (tasks[i].data.get("pingback_url") or tasks[i].data.get("postback_url"))
    ]
    if silent:
        raise InvalidInputError(
            FieldProblem(
                "task_ids", f"task {', '.join(silent[:10])} has neither pingback_url nor postback_url"
            )
        )
    return wanted


def plan(store: Store, tenant_id: str, body: ResendIn) -> Plan:
    """Select every pair the body asks for; InvalidInputError for anything that does not exist,
    and for a dry run that could not read what it selects within DRY_RUN_SECONDS."""
    try:
        return _plan(store, tenant_id, body, time.monotonic() + DRY_RUN_SECONDS)
    except DeadlinePassed as passed:
        raise InvalidInputError(
            FieldProblem(
                "body",
                f"selects more than a dry run reads in {DRY_RUN_SECONDS:g} s ({passed.read} records or "
                "entries read): narrow it (since, webhook_ids, event, job_id, the filter), or start the "
                "resend, which selects asynchronously however much it selects",
            )
        ) from None


def _plan(store: Store, tenant_id: str, body: ResendIn, deadline: float) -> Plan:
    result = Plan()
    if body.delivery_status == "failed":
        # One pair per (subject, webhook), as a job counts them; if it failed for several
        # events, the latest failure's event is the one resent (records come oldest first).
        # DynamoDB narrows the records to the webhooks and the event asked for.
        latest: dict[tuple[str, str, str], str | None] = {}
        failed = store.failed_since(
            tenant_id,
            body.since or "",
            webhook_ids=sorted(set(body.webhook_ids or [])),
            event=body.event,
            of_job=body.job_id,
        )
        for record in until_deadline(failed, deadline):
            key = (record.get("kind", "item"), record["subject_id"], record["webhook_id"])
            latest.pop(key, None)
            latest[key] = record.get("event")
        result.pairs = [(kind, subject, webhook, event) for (kind, subject, webhook), event in latest.items()]
        return result
    if body.filter is not None:
        # Only a dry run comes here (a resend by filter selects asynchronously, start_selection):
        # DynamoDB counts the matches, no entry is transferred.
        result.counted_items = count_items(
            store, tenant_id, parse_item_filter(body.filter), deadline=deadline
        )
    elif body.item_ids:
        wanted = list(dict.fromkeys(body.item_ids))
        found = set(store.get_items(tenant_id, wanted))
        _missing("content item", "item_ids", wanted, found)
        result.item_ids = wanted
    if body.task_ids:
        result.task_ids = _valid_tasks(store, tenant_id, body.task_ids)
    if result.item_ids or body.filter is not None:
        selected = frozenset(body.webhook_ids) if body.webhook_ids else None
        webhooks = select_webhooks(store, tenant_id, body.event or "", selected, field="webhook_ids")
        result.webhooks = {w.id: w.urls for w in webhooks}
    return result


def pages(job_id: str, tenant_id: str, created_on: str, body: ResendIn, selection: Plan) -> list[PageMessage]:
    common = {"tenant_id": tenant_id, "job_id": job_id, "created_on": created_on}
    found: list[PageMessage] = []
    if selection.webhooks:
        for start in range(0, len(selection.item_ids), PAGE_SUBJECTS):
            found.append(
                PageMessage(
                    **common,
                    kind="item",
                    event=body.event,
                    subject_ids=selection.item_ids[start : start + PAGE_SUBJECTS],
                    webhook_ids=list(selection.webhooks),
                )
            )
    for start in range(0, len(selection.task_ids), PAGE_SUBJECTS):
        found.append(
            PageMessage(
                **common,
                kind="task",
                subject_ids=selection.task_ids[start : start + PAGE_SUBJECTS],
                webhook_ids=[CALLBACK],
            )
        )
    for start in range(0, len(selection.pairs), PAGE_PAIRS):
        found.append(PageMessage(**common, pairs=selection.pairs[start : start + PAGE_PAIRS]))
    return found


def start_resend(
    store: Store,
    pages_out: SqsPublisher,
    tenant_id: str,
    body: ResendIn,
    *,
    source: Source,
    retention_days: int,
    max_pairs: int,
    job_id: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """(HTTP status, answer): 200 with the counts of a dry run, or 202 with the new job.

    `job_id` names the job (see `start_job`): DuplicateJobError when it was started already.
    """
    if body.job_id is not None and store.get_job(tenant_id, body.job_id) is None:
        raise InvalidInputError(FieldProblem("job_id", f"no resend job with id {body.job_id}"))
    if not body.dry_run and (body.filter is not None or body.delivery_status == "failed"):
        job = start_selection(
            store,
            pages_out,
            tenant_id,
            body,
            source=source,
            retention_days=retention_days,
            max_pairs=max_pairs,
            job_id=job_id,
        )
        return 202, job.model_dump()
    selection = plan(store, tenant_id, body)
    if selection.total_queued > max_pairs:
        raise InvalidInputError(
            FieldProblem(
                "body",
                f"selects {selection.total_queued} pairs; a resend may queue at most {max_pairs} "
                "(narrow the selection or split it)",
            )
        )
    if body.dry_run:
        return 200, DryRun(
            event=body.event,
            total_items=selection.total_items,
            total_queued=selection.total_queued,
            webhooks=selection.webhooks,
        ).model_dump()
    total = selection.total_queued

    def work(job: Job) -> list[PageMessage]:
        return pages(job.id, tenant_id, job.created_on, body, selection)

    job = start_job(
        store,
        tenant_id,
        source,
        body.event,
        selection.total_items,
        total,
        retention_days,
        job_id,
        work=work,
    )
    result = pages_out.publish(work(job))
    refused = sum(page.size for page in result.failed)
    unknown = [pair for page in result.unknown for pair in page.messages()]
    settle_start(store, tenant_id, job, refused, unknown, retention_days)
    if result.not_sent:
        raise QueueingError(
            job_id=job.id,
            queued=total - refused - len(unknown),
            refused=refused + len(unknown),
            ended=len(unknown),
        )
    return 202, job.model_dump()


def start_selection(
    store: Store,
    pages_out: SqsPublisher,
    tenant_id: str,
    body: ResendIn,
    *,
    source: Source,
    retention_days: int,
    max_pairs: int,
    job_id: str | None = None,
) -> Job:
    """A resend by filter or by outcome: validate what can be at once (the filter, the webhooks,
    the tasks: a 422 names the problem, and nothing is written), then write the job `selecting`
    and leave the selection to the fan-out function. Its size is not known yet: a selection over
    `max_pairs` ends the job `rejected` (see `resends.selections`)."""
    if body.delivery_status == "failed":
        selection = Selection(
            kind="failed",
            event=body.event,
            webhook_ids=sorted(set(body.webhook_ids or [])),
            since=body.since,
            of_job=body.job_id,
            max_pairs=max_pairs,
        )
        return selections.start(
            store,
            pages_out,
            tenant_id,
            selection,
            source=source,
            retention_days=retention_days,
            job_id=job_id,
        )
    item_filter = parse_item_filter(body.filter or {})
    task_ids = _valid_tasks(store, tenant_id, body.task_ids) if body.task_ids else []
    selected = frozenset(body.webhook_ids) if body.webhook_ids else None
    webhooks = select_webhooks(store, tenant_id, body.event or "", selected, field="webhook_ids")
    if len(task_ids) > max_pairs:
        raise InvalidInputError(
            FieldProblem(
                "body",
                f"selects at least {len(task_ids)} pairs; a resend may queue at most {max_pairs} "
                "(narrow the selection or split it)",
            )
        )
    selection = Selection(
        kind="filter",
        event=body.event,
        item_filter=item_filter.as_dict(),
        webhook_ids=[w.id for w in webhooks],
        max_pairs=max_pairs - len(task_ids),
    )
    return selections.start(
        store,
        pages_out,
        tenant_id,
        selection,
        source=source,
        retention_days=retention_days,
        job_id=job_id,
        task_ids=task_ids,
    )
