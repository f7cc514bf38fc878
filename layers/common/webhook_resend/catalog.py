"""The management domain: content items, tasks and webhooks of one tenant.

Knows nothing of HTTP or boto3: it takes a `Store` and raises domain errors.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice

from webhook_resend import clock
from webhook_resend.bodies import ContentItemIn, ContentItemList, TaskIn, WebhookIn, WebhookList
from webhook_resend.dynamo import Store
from webhook_resend.errors import FieldProblem, InvalidInputError
from webhook_resend.filters import ItemFilter
from webhook_resend.models import ContentItem, Task, Webhook, new_id, new_webhook_secret
from webhook_resend.params import canonical_id, not_found
from webhook_resend.urlpolicy import UrlRefusedError, check_url, system_resolver


def _path_id(body_id: str | None, path_id: str) -> None:
    if body_id is not None and body_id != path_id:
        raise InvalidInputError(FieldProblem("id", "must equal the id in the path"))


# ------------------------------------------------------------------------------------------------
# Content items
# ------------------------------------------------------------------------------------------------
def put_content_item(
    store: Store, tenant_id: str, item_id: str, body: ContentItemIn
) -> tuple[ContentItem, bool]:
    item_id = canonical_id(item_id, "content item", for_write=True)
    _path_id(body.id, item_id)
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


def select_item_ids(store: Store, tenant_id: str, item_filter: ItemFilter) -> list[str]:
    """Ids of every item matching the filter, in (created_on, id) order, read from the index."""
    lo, hi = item_filter.sort_key_range()
    return [entry["id"] for entry in store.query_item_index(tenant_id, lo, hi) if item_filter.matches(entry)]


def page_of(ids: list[str], skip: int, limit: int) -> list[str]:
    return list(islice(ids, skip, skip + limit))


def list_content_items(
    store: Store, tenant_id: str, item_filter: ItemFilter, skip: int, limit: int
) -> ContentItemList:
    ids = select_item_ids(store, tenant_id, item_filter)
    page = page_of(ids, skip, limit)
    found = store.get_items(tenant_id, page)
    # An item deleted between the index read and the batch read is left out of the page.
    return ContentItemList(items=[found[i] for i in page if i in found], total=len(ids))


# ------------------------------------------------------------------------------------------------
# Tasks
# ------------------------------------------------------------------------------------------------
def _check_urls(named: list[tuple[str, str]], allow_private: bool, resolver: Callable) -> None:
    """InvalidInputError naming every (field, url) the URL policy refuses."""
    problems = []
    for field, url in named:
        try:
            check_url(url, allow_private=allow_private, resolver=resolver)
        except UrlRefusedError as exc:
            problems.append(FieldProblem(field, str(exc)))
    if problems:
        raise InvalidInputError(problems)


def _check_callback_urls(body: TaskIn, allow_private: bool, resolver: Callable) -> None:
    # $id and $tag are replaced at delivery; check the URLs with harmless stand-ins.
    named = [
        (f"data.{field}", url.replace("$id", "id").replace("$tag", "tag"))
        for field in ("pingback_url", "postback_url")
        if (url := getattr(body.data, field)) is not None
    ]
    _check_urls(named, allow_private, resolver)


def put_task(
    store: Store,
    tenant_id: str,
    task_id: str,
    body: TaskIn,
    *,
    allow_private: bool,
    resolver: Callable = system_resolver,
) -> tuple[Task, bool]:
    task_id = canonical_id(task_id, "task", for_write=True)
    _path_id(body.id, task_id)
    _check_callback_urls(body, allow_private, resolver)
    existing = store.get_task(tenant_id, task_id)
    now = clock.now_text()
    task = Task(
        id=task_id,
        data=body.data.model_dump(exclude_none=True),
        result=body.result,
        created_on=existing.created_on if existing else now,
        changed_on=now,
    )
    return task, store.put_task(tenant_id, task)


def get_task(store: Store, tenant_id: str, task_id: str) -> Task:
    task = store.get_task(tenant_id, canonical_id(task_id, "task", for_write=False))
    if task is None:
        raise not_found("task")
    return task


def delete_task(store: Store, tenant_id: str, task_id: str) -> None:
    if not store.delete_task(tenant_id, canonical_id(task_id, "task", for_write=False)):
        raise not_found("task")


# ------------------------------------------------------------------------------------------------
# Webhooks
# ------------------------------------------------------------------------------------------------
def _check_webhook_urls(body: WebhookIn, allow_private: bool, resolver: Callable) -> None:
    _check_urls([(f"urls.{i}", url) for i, url in enumerate(body.urls)], allow_private, resolver)


def put_webhook(
    store: Store,
    tenant_id: str,
    webhook_id: str | None,
    body: WebhookIn,
    *,
    allow_private: bool,
    resolver: Callable = system_resolver,
) -> tuple[Webhook, bool]:
    """Create (no id, or an unknown one) or replace a webhook.

    A replacement without a secret keeps the current one, so receivers keep verifying; the
    answer shows the secret only when this request generated or set it.
    """
    _check_webhook_urls(body, allow_private, resolver)
    existing = None
    if webhook_id is None:
        webhook_id = new_id()
    else:
        webhook_id = canonical_id(webhook_id, "webhook", for_write=True)
        existing = store.get_webhook(tenant_id, webhook_id)
    now = clock.now_text()
    if body.secret is not None:
        secret, shown = body.secret, body.secret
    elif existing is not None:
        secret, shown = existing[1], None
    else:
        secret = new_webhook_secret()
        shown = secret
    webhook = Webhook(
        id=webhook_id,
        urls=body.urls,
        events=body.events,
        models=body.models,
        active=body.active,
        description=body.description,
        created_on=existing[0].created_on if existing else now,
        changed_on=now,
    )
    created = store.put_webhook(tenant_id, webhook, secret)
    return webhook.model_copy(update={"secret": shown}), created


def get_webhook(store: Store, tenant_id: str, webhook_id: str) -> Webhook:
    found = store.get_webhook(tenant_id, canonical_id(webhook_id, "webhook", for_write=False))
    if found is None:
        raise not_found("webhook")
    return found[0]


def delete_webhook(store: Store, tenant_id: str, webhook_id: str) -> None:
    if not store.delete_webhook(tenant_id, canonical_id(webhook_id, "webhook", for_write=False)):
        raise not_found("webhook")


def list_webhooks(store: Store, tenant_id: str) -> WebhookList:
    webhooks = sorted((w for w, _ in store.list_webhooks(tenant_id)), key=lambda w: (w.created_on, w.id))
    return WebhookList(items=webhooks, total=len(webhooks))
