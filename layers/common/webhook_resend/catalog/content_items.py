"""A tenant's content items: create or replace, read, delete, and list by filter.

Knows nothing of HTTP or boto3: it takes a `Store` and raises domain errors.
"""

from __future__ import annotations

from webhook_resend import clock
from webhook_resend.aws.dynamodb import Store
from webhook_resend.catalog.validation import check_body_id
from webhook_resend.errors import not_found
from webhook_resend.models.base import canonical_id
from webhook_resend.models.bodies import ContentItemIn, ContentItemList
from webhook_resend.models.records import ContentItem
from webhook_resend.resends.filters import ItemFilter
from webhook_resend.resends.selection import count_items, page_item_ids


def put_content_item(
    store: Store, tenant_id: str, item_id: str, body: ContentItemIn
) -> tuple[ContentItem, bool]:
    item_id = canonical_id(item_id, "content item", for_write=True)
    check_body_id(body.id, item_id)
    existing = store.get_item(tenant_id, item_id)
    now = clock.now_text()
    created_on = body.created_on or (existing.created_on if existing else now)
    item = ContentItem(
        id=item_id,
        model=body.model,
        tags=body.tags,
        workflow_stage=body.workflow_stage,
        locales=body.locales,
        created_on=created_on,
        changed_on=body.changed_on or now,
        publish_on=body.publish_on,
        payload=body.payload,
    )
    created = store.put_item(tenant_id, item)
    return item, created


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
