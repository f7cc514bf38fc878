"""`/content_items/bulk/webhooks`: Prepr's bulk resend (GET with a JSON body or a query string,
and POST for clients that cannot send a body with GET)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from webhook_resend.api import idempotency, querystring
from webhook_resend.api.params import parse_event, parse_paging, parse_webhook_selector
from webhook_resend.api.resolver import query_or_body, require_tenant
from webhook_resend.aws import clients
from webhook_resend.errors import collect
from webhook_resend.resends import prepr
from webhook_resend.resends.filters import parse_item_filter

router = APIGatewayHttpRouter()

PARAMETERS = ("event", "webhook_id", "skip", "limit")  # beside the item filters


def parse_request(params: dict[str, Any]) -> prepr.BulkRequest:
    """Every parameter checked at once: one 422 names every problem."""
    event, selected, item_filter, (skip, limit) = collect(
        lambda: parse_event(params),
        lambda: parse_webhook_selector(params),
        lambda: parse_item_filter(params, allowed_extra=PARAMETERS),
        lambda: parse_paging(params),
    )
    return prepr.BulkRequest(event, selected, item_filter, skip, limit)


def _bulk() -> dict[str, Any]:
    tenant_id = require_tenant(router)
    params = query_or_body(router, querystring.decode)

    def run() -> tuple[int, Any]:
        return 200, prepr.bulk_resend(
            clients.store(),
            clients.publisher(),
            tenant_id,
            parse_request(params),
            retention_days=clients.settings().delivery_retention_days,
            max_pairs=clients.settings().max_pairs_per_request,
        )

    key = router.current_event.headers.get(idempotency.HEADER)
    # GET and POST are one operation: the same key answers the same whichever was used.
    return idempotency.once(tenant_id, "bulk_webhooks", key, params, run)[1]


@router.get("/content_items/bulk/webhooks", summary="Resend an event for a page of matching items")
def bulk_get() -> dict[str, Any]:
    return _bulk()


@router.post("/content_items/bulk/webhooks", summary="Resend an event for a page of matching items")
def bulk_post() -> dict[str, Any]:
    return _bulk()
