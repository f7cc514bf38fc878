"""A tenant's settings: `notify_url`, where the service posts its operational events
(SPEC §13, delivery/events.py). Checked like a webhook's URLs; `null` clears it. Kept on the
tenant's own item, so a tenant reads and writes only its own.

The body and answer are defined here: only the management function uses them.
"""

from __future__ import annotations

from collections.abc import Callable

from pydantic import Field

from webhook_resend.aws.dynamodb import Store
from webhook_resend.catalog.validation import check_urls
from webhook_resend.errors import not_found
from webhook_resend.models.base import Model, StrictModel
from webhook_resend.models.bodies import HttpUrl
from webhook_resend.urlpolicy import system_resolver


class SettingsIn(StrictModel):
    """Body of `PUT /settings`: every setting, as it is to be (`null` clears one)."""

    notify_url: HttpUrl | None = Field(
        description="where operational events are posted (resend.completed, webhook.deactivated); null: none"
    )


class TenantSettings(Model):
    notify_url: str | None = None


def get_settings(store: Store, tenant_id: str) -> TenantSettings:
    tenant = store.get_tenant(tenant_id)
    if tenant is None:
        raise not_found("tenant")
    return TenantSettings(notify_url=tenant.get("notify_url"))


def put_settings(
    store: Store,
    tenant_id: str,
    body: SettingsIn,
    *,
    allow_private: bool,
    resolver: Callable = system_resolver,
) -> TenantSettings:
    """Replace the tenant's settings; the notify_url is checked against the URL policy first."""
    if body.notify_url is not None:
        check_urls([("notify_url", body.notify_url)], allow_private, resolver)
    if not store.set_notify_url(tenant_id, body.notify_url):
        raise not_found("tenant")
    return TenantSettings(notify_url=body.notify_url)
