"""A tenant's content items: create or replace, read, delete, and list by filter.

Knows nothing of HTTP or boto3: it takes a `Store` and raises domain errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from webhook_resend import clock
from webhook_resend.aws.dynamodb import Store
from webhook_resend.catalog.validation import check_body_id
from webhook_resend.errors import FieldProblem, InvalidInputError, not_found
from webhook_resend.models.base import canonical_id
from webhook_resend.models.bodies import ContentItemIn, ContentItemList
from webhook_resend.models.records import ContentItem
from webhook_resend.resends.filters import ItemFilter
from webhook_resend.resends.selection import count_items, page_item_ids

MAX_BULK_ITEMS = 100


def _stored_item(item_id: str, body: ContentItemIn, existing: ContentItem | None, now: str) -> ContentItem:
    """The item a write of `body` stores: `created_on` from the body, else kept from the item it
    replaces, else now; `changed_on` from the body, else now."""
    return ContentItem(
        id=item_id,
        model=body.model,
        tags=body.tags,
        workflow_stage=body.workflow_stage,
        locales=body.locales,
        created_on=body.created_on or (existing.created_on if existing else now),
        changed_on=body.changed_on or now,
        publish_on=body.publish_on,
        payload=body.payload,
    )


def put_content_item(
    store: Store, tenant_id: str, item_id: str, body: ContentItemIn
) -> tuple[ContentItem, bool]:
    item_id = canonical_id(item_id, "content item", for_write=True)
    check_body_id(body.id, item_id)
    existing = store.get_item(tenant_id, item_id)
    item = _stored_item(item_id, body, existing, clock.now_text())
    created = store.put_item(tenant_id, item)
    return item, created


@dataclass
class BulkOutcome:
    """What a bulk write did with one element of its list: `created`, `replaced`, `refused` (its
    problems say why) or `failed` (DynamoDB did not take it: sending it again is safe)."""

    index: int
    status: str
    id: str | None = None
    item: ContentItem | None = None
    problems: list[FieldProblem] = field(default_factory=list)


BUSY = FieldProblem("service", "the service is busy; send this item again shortly")


def put_content_items(
    store: Store, tenant_id: str, bodies: Sequence[ContentItemIn | list[FieldProblem]]
) -> list[BulkOutcome]:
    """Create or replace many items at once, each exactly as `put_content_item` would; one
    element refused (its validation problems, a missing or malformed id, an id repeated in the
    list) refuses only itself. Every key is built from `tenant_id`, never from a body.

    One BatchGetItem finds the items replaced (their `created_on` is kept, and the answer says
    created or replaced), then BatchWriteItem stores the rest.
    """
    outcomes = [BulkOutcome(index=i, status="refused") for i in range(len(bodies))]
    accepted: dict[str, tuple[int, ContentItemIn]] = {}
    for index, body in enumerate(bodies):
        outcome = outcomes[index]
        if not isinstance(body, ContentItemIn):
            outcome.problems = body
            continue
        if body.id is None:
            outcome.problems = [FieldProblem("id", "is required: each item of a bulk write names its id")]
            continue
        try:
            item_id = canonical_id(body.id, "content item", for_write=True)
        except InvalidInputError as error:
            outcome.problems = list(error.problems)
            continue
        outcome.id = item_id
        if item_id in accepted:
            outcome.problems = [
                FieldProblem("id", f"repeats the id of item {accepted[item_id][0]} of this request")
            ]
            continue
        accepted[item_id] = (index, body)
    if not accepted:
        return outcomes
    existing = store.get_items(tenant_id, list(accepted))
    now = clock.now_text()
    items = [_stored_item(i, body, existing.get(i), now) for i, (_, body) in accepted.items()]
    unwritten = store.put_items(tenant_id, items)
    for item in items:
        outcome = outcomes[accepted[item.id][0]]
        if item.id in unwritten:
            outcome.status, outcome.problems = "failed", [BUSY]
        else:
            outcome.status = "replaced" if item.id in existing else "created"
            outcome.item = item
    return outcomes


def get_content_item(store: Store, tenant_id: str, item_id: str) -> ContentItem:
    item = store.get_item(tenant_id, canonical_id(item_id, "content item", for_write=False))
    if item is None:
        raise not_found("content item")
    return item


def delete_content_item(store: Store, tenant_id: str, item_id: str) -> None:
    if not store.delete_item(tenant_id, canonical_id(item_id, "content item", for_write=False)):
        raise not_found("content item")


def list_content_items(
    store: Store, tenant_id: str, item_filter: ItemFilter, skip: int, limit: int
) -> ContentItemList:
    total = count_items(store, tenant_id, item_filter)
    page = page_item_ids(store, tenant_id, item_filter, skip, limit)
    found = store.get_items(tenant_id, page)
    # An item deleted between the index read and the batch read is left out of the page.
    return ContentItemList(items=[found[i] for i in page if i in found], total=total)
