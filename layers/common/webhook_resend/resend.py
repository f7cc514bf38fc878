"""Resend jobs: select (item, webhook) pairs, write the job, fan out one message per pair.

The job record is written first with every pair counted pending; if some pairs cannot be
queued, the job is corrected to exactly what was queued, and the caller is told.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from webhook_resend import catalog, clock
from webhook_resend.dynamo import Store
from webhook_resend.errors import FieldProblem, InvalidInputError, QueueingError
from webhook_resend.filters import parse_item_filter
from webhook_resend.jobs import Job, PairMessage, Source, job_status
from webhook_resend.models import Webhook, new_id
from webhook_resend.params import collect, parse_event, parse_paging, parse_webhook_selector
from webhook_resend.publisher import SqsPublisher

BULK_PARAMETERS = ("event", "webhook_id", "skip", "limit")


@dataclass(frozen=True)
class Pair:
    subject_id: str
    webhook_id: str


@dataclass
class FanOut:
    job: Job
    queued: list[Pair]
    unqueued: list[Pair]


def select_webhooks(
    store: Store, tenant_id: str, event: str, selected: frozenset[str] | None, *, field: str = "webhook_id"
) -> list[Webhook]:
    """The webhooks a resend goes to.

    Named webhooks must all exist and be active (a name that matches nothing is an error, never
    a silent skip); they get the event whatever they subscribe to, as the caller asked for them.
    Absent a selection: every active webhook subscribed to the event. The webhooks' own model
    filters are not applied to bulk resends.
    """
    webhooks = [w for w, _ in store.list_webhooks(tenant_id)]
    if selected is None:
        chosen = [w for w in webhooks if w.active and event in w.events]
    else:
        by_id = {w.id: w for w in webhooks}
        unknown = sorted(i for i in selected if i not in by_id)
        inactive = sorted(i for i in selected if i in by_id and not by_id[i].active)
        problems = []
        if unknown:
            problems.append(FieldProblem(field, f"no webhook with id {', '.join(unknown)}"))
        if inactive:
            problems.append(FieldProblem(field, f"webhook {', '.join(inactive)} is inactive"))
        if problems:
            raise InvalidInputError(problems)
        chosen = [by_id[i] for i in selected]
    return sorted(chosen, key=lambda w: (w.created_on, w.id))


def start_job(
    store: Store,
    tenant_id: str,
    source: Source,
    event: str | None,
    total_items: int,
    total_queued: int,
    retention_days: int,
) -> Job:
    """Write a new job with every pair pending (a job of no pair is completed at once)."""
    now = clock.now()
    created_on = clock.canonical(now)
    job = Job(
        id=new_id(),
        source=source,
        event=event,
        status=job_status(total_queued, 0, 0, total_queued),  # type: ignore[arg-type]
        created_on=created_on,
        completed_on=None if total_queued else created_on,
        total_items=total_items,
        total_queued=total_queued,
        delivered=0,
        failed=0,
        pending=total_queued,
    )
    store.put_job(tenant_id, job, clock.expires_at(retention_days, now))
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

    Pairs SQS would not take are in `unqueued`; the caller says so in its answer.
    """
    job = start_job(store, tenant_id, source, event, total_items, len(pairs), retention_days)
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
    if not result.failed:
        return FanOut(job=job, queued=list(pairs), unqueued=[])
    store.unqueue(tenant_id, job.id, len(result.failed))
    failed = {(m.subject_id, m.webhook_id) for m in result.failed}
    return FanOut(
        job=job,
        queued=[p for p in pairs if (p.subject_id, p.webhook_id) not in failed],
        unqueued=[p for p in pairs if (p.subject_id, p.webhook_id) in failed],
    )


def bulk_resend(
    store: Store,
    publisher: SqsPublisher,
    tenant_id: str,
    params: Mapping[str, Any],
    *,
    retention_days: int,
    max_pairs: int | None = None,
) -> dict[str, Any]:
    """Prepr's `GET /content_items/bulk/webhooks`: one page of matching items × webhooks."""
    event, selected, item_filter, (skip, limit) = collect(
        lambda: parse_event(params),
        lambda: parse_webhook_selector(params),
        lambda: parse_item_filter(params, allowed_extra=BULK_PARAMETERS),
        lambda: parse_paging(params),
    )
    webhooks = select_webhooks(store, tenant_id, event, selected)
    item_ids = catalog.select_item_ids(store, tenant_id, item_filter)
    page = catalog.page_of(item_ids, skip, limit)
    pairs = [Pair(item_id, webhook.id) for item_id in page for webhook in webhooks]
    if max_pairs is not None and len(pairs) > max_pairs:
        raise InvalidInputError(
            FieldProblem("limit", f"selects {len(pairs)} pairs; a resend may queue at most {max_pairs}")
        )
    result = fan_out(
        store,
        publisher,
        tenant_id,
        source="prepr",
        event=event,
        kind="item",
        pairs=pairs,
        total_items=len(page),
        retention_days=retention_days,
    )
    if result.unqueued:
        raise QueueingError(job_id=result.job.id, queued=len(result.queued), refused=len(result.unqueued))
    return {
        "queued": [{"content_item_id": p.subject_id, "webhook_id": p.webhook_id} for p in result.queued],
        "total_items": len(item_ids),
        "total_queued": len(result.queued),
        "webhooks": {webhook.id: webhook.urls for webhook in webhooks},
        "resend_id": result.job.id,
    }
