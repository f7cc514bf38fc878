"""Prepr's `GET /content_items/bulk/webhooks`: one page of matching items × webhooks, queued as
one job."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from webhook_resend.aws.dynamodb import Store
from webhook_resend.aws.publisher import SqsPublisher
from webhook_resend.errors import FieldProblem, InvalidInputError, QueueingError
from webhook_resend.resends.filters import ItemFilter
from webhook_resend.resends.jobs import Pair, fan_out
from webhook_resend.resends.selection import count_items, page_item_ids, select_webhooks


@dataclass(frozen=True)
class BulkRequest:
    """The parameters of one call, parsed: `webhook_ids` None means every subscribed webhook."""

    event: str
    webhook_ids: frozenset[str] | None
    item_filter: ItemFilter
    skip: int
    limit: int


def bulk_resend(
    store: Store,
    publisher: SqsPublisher,
    tenant_id: str,
    request: BulkRequest,
    *,
    retention_days: int,
    max_pairs: int | None = None,
) -> dict[str, Any]:
    """Queue one page of matching items × webhooks; the answer is Prepr's."""
    event = request.event
    webhooks = select_webhooks(store, tenant_id, event, request.webhook_ids)
    # Counted by DynamoDB, and read only as far as this page: a walk through N matches a page at
    # a time transfers each entry about once per page before it, never every match per page.
    total_items = count_items(store, tenant_id, request.item_filter)
    page = page_item_ids(store, tenant_id, request.item_filter, request.skip, request.limit)
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
        raise QueueingError(
            job_id=result.job.id, queued=len(result.queued), refused=len(result.unqueued), ended=result.ended
        )
    return {
        "queued": [{"content_item_id": p.subject_id, "webhook_id": p.webhook_id} for p in result.queued],
        "total_items": total_items,
        "total_queued": len(result.queued),
        "webhooks": {webhook.id: webhook.urls for webhook in webhooks},
        "resend_id": result.job.id,
    }
