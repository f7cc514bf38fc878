"""A tenant's webhooks: create or replace (URLs checked, the secret kept or generated), read,
delete, list.

Knows nothing of HTTP or boto3: it takes a `Store` and raises domain errors.
"""

from __future__ import annotations

from collections.abc import Callable

from webhook_resend import clock
from webhook_resend.aws.dynamodb import Store
from webhook_resend.catalog.validation import check_urls
from webhook_resend.errors import not_found
from webhook_resend.models.base import canonical_id, new_id, new_webhook_secret
from webhook_resend.models.bodies import WebhookIn, WebhookList
from webhook_resend.models.records import Webhook
from webhook_resend.urlpolicy import system_resolver


def _check_webhook_urls(body: WebhookIn, allow_private: bool, resolver: Callable) -> None:
    check_urls([(f"urls.{i}", url) for i, url in enumerate(body.urls)], allow_private, resolver)


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
        rate_limit=body.rate_limit,
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
