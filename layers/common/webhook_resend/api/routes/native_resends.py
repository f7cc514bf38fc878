"""`POST /resends`: native resends by ids, filter or past outcome, with dry runs."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from webhook_resend.api import idempotency
from webhook_resend.api.resolver import json_response, require_tenant
from webhook_resend.aws import clients
from webhook_resend.models.records import Job
from webhook_resend.resends import native
from webhook_resend.resends.native import DryRun, ResendIn

router = APIGatewayHttpRouter()


def run_resend(tenant_id: str, body: ResendIn, source: str) -> tuple[int, dict[str, Any]]:
    settings = clients.settings()
    return native.start_resend(
        clients.store(),
        clients.page_publisher(),
        tenant_id,
        body,
        source=source,  # type: ignore[arg-type]
        retention_days=settings.delivery_retention_days,
        max_pairs=settings.max_pairs_per_request,
    )


@router.post("/resends", summary="Start a resend (202 with the job), or count one (dry run: 200)")
def create_resend(body: Annotated[ResendIn, Body()]) -> Response[Job | DryRun]:
    tenant_id = require_tenant(router)
    status, answer = idempotency.once(
        tenant_id,
        "POST /resends",
        router.current_event.headers.get(idempotency.HEADER),
        body.model_dump(mode="json"),
        lambda: run_resend(tenant_id, body, "api"),
    )
    return json_response(status, answer)
