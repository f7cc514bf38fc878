"""`POST /v3/appendix/webhook_resend`: DataForSEO-compatible resend of task callbacks."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from webhook_resend import dataforseo, deps, idempotency
from webhook_resend.http import DATAFORSEO_PATH, json_response, proxy_response, require_tenant, tenant_guard

router = APIGatewayHttpRouter()
PATH = DATAFORSEO_PATH


def envelope_guard(event: dict[str, Any]) -> dict[str, Any] | None:
    """The tenant guard, answering DataForSEO clients in their envelope (HTTP 401, 40100)."""
    refused = tenant_guard(event)
    if refused is None or (event.get("rawPath") or "") != PATH:
        return refused
    return proxy_response(401, dataforseo.envelope(dataforseo.UNAUTHORIZED, time.perf_counter()))


@router.post(PATH, summary="Resend the pingbacks and postbacks of up to 100 tasks")
def webhook_resend() -> Response[Any]:
    tenant_id = require_tenant(router)
    raw = router.current_event.decoded_body or ""

    def run() -> tuple[int, Any]:
        answer = dataforseo.webhook_resend(
            deps.store(),
            deps.publisher(),
            tenant_id,
            raw,
            retention_days=deps.settings().delivery_retention_days,
        )
        if answer["status_code"] != dataforseo.OK[0]:
            # A request-level error queued nothing: the key stays free for a corrected body.
            raise idempotency.NotRemembered(200, answer)
        return 200, answer

    key = router.current_event.headers.get(idempotency.HEADER)
    status, answer = idempotency.once(tenant_id, "dataforseo_webhook_resend", key, raw, run)
    return json_response(status, answer)
