"""`POST /v3/appendix/webhook_resend`: DataForSEO-compatible resend of task callbacks."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from webhook_resend.api import idempotency
from webhook_resend.api.resolver import (
    DATAFORSEO_PATH,
    json_response,
    proxy_response,
    require_tenant,
    tenant_guard,
)
from webhook_resend.aws import clients
from webhook_resend.models.dataforseo import OK, UNAUTHORIZED, envelope
from webhook_resend.resends import dataforseo

router = APIGatewayHttpRouter()
PATH = DATAFORSEO_PATH


def envelope_guard(event: dict[str, Any]) -> dict[str, Any] | None:
    """The tenant guard, answering DataForSEO clients in their envelope (HTTP 401, 40100)."""
    refused = tenant_guard(event)
    if refused is None or (event.get("rawPath") or "") != PATH:
        return refused
    return proxy_response(401, envelope(UNAUTHORIZED, time.perf_counter()))


@router.post(PATH, summary="Resend the pingbacks and postbacks of up to 100 tasks")
def webhook_resend() -> Response[Any]:
    tenant_id = require_tenant(router)
    raw = router.current_event.decoded_body or ""

    def run() -> tuple[int, Any]:
        answer = dataforseo.webhook_resend(
            clients.store(),
            clients.publisher(),
            tenant_id,
            raw,
            retention_days=clients.settings().delivery_retention_days,
        )
        if answer["status_code"] != OK[0]:
            # A request-level error queued nothing: the key stays free for a corrected body.
            raise idempotency.NotRemembered(200, answer)
        return 200, answer

    key = router.current_event.headers.get(idempotency.HEADER)
    status, answer = idempotency.once(tenant_id, "dataforseo_webhook_resend", key, raw, run)
    return json_response(status, answer)
