"""`/content_items/bulk/webhooks`: Prepr's bulk resend (GET with a JSON body or a query string,
and POST for clients that cannot send a body with GET)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from webhook_resend import deps, idempotency, querystring, resend
from webhook_resend.http import query_or_body, require_tenant

router = APIGatewayHttpRouter()


def _bulk() -> dict[str, Any]:
    tenant_id = require_tenant(router)
    params = query_or_body(router, querystring.decode)

    def run() -> tuple[int, Any]:
        return 200, resend.bulk_resend(
            deps.store(),
            deps.publisher(),
            tenant_id,
            params,
            retention_days=deps.settings().delivery_retention_days,
            max_pairs=deps.settings().max_pairs_per_request,
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
