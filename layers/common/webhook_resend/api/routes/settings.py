"""`/settings`: a tenant's settings (its notify_url), and `/settings/events`: the operational
events sent to it, newest first, each with its delivery's status."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from webhook_resend.api.params import parse_paging
from webhook_resend.api.resolver import require_tenant
from webhook_resend.aws import clients, dynamodb, keys
from webhook_resend.catalog import tenant_settings
from webhook_resend.catalog.tenant_settings import SettingsIn, TenantSettings
from webhook_resend.errors import FieldProblem, InvalidInputError, collect
from webhook_resend.models.records import EventDeliveryPage

router = APIGatewayHttpRouter()
EVENTS_PAGE_MAX = 100


@router.get("/settings", summary="The tenant's settings")
def get_settings() -> TenantSettings:
    return tenant_settings.get_settings(clients.store(), require_tenant(router))


@router.put("/settings", summary="Replace the tenant's settings (notify_url: null clears it)")
def put_settings(body: Annotated[SettingsIn, Body()]) -> TenantSettings:
    tenant_id = require_tenant(router)
    return tenant_settings.put_settings(
        clients.store(), tenant_id, body, allow_private=clients.settings().allow_private_urls
    )


def _cursor(params: dict[str, Any], tenant_id: str) -> dict[str, Any] | None:
    raw = params.get("cursor")
    if not raw:
        return None
    cursor = dynamodb.decode_cursor(raw, {"pk", "sk"}, {"pk": keys.events_pk(tenant_id)})
    if cursor is None:
        raise InvalidInputError(FieldProblem("cursor", "is not a cursor this listing gave out"))
    return cursor


@router.get("/settings/events", summary="Operational events sent to the notify_url, newest first")
def list_events() -> EventDeliveryPage:
    tenant_id = require_tenant(router)
    params = dict(router.current_event.query_string_parameters or {})
    unknown = sorted(set(params) - {"limit", "cursor"})
    if unknown:
        raise InvalidInputError([FieldProblem(name, "is not a known parameter") for name in unknown])
    (_, limit), cursor = collect(
        lambda: parse_paging({"limit": params.get("limit", 25)}, max_limit=EVENTS_PAGE_MAX),
        lambda: _cursor(params, tenant_id),
    )
    records, last_key = clients.store().list_events(tenant_id, limit, cursor)
    return EventDeliveryPage(data=records, next_cursor=dynamodb.encode_cursor(last_key) if last_key else None)
