"""`/webhooks` and `/webhooks/{id}`."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from webhook_resend import catalog, deps
from webhook_resend.bodies import WebhookIn, WebhookList
from webhook_resend.http import json_response, require_tenant
from webhook_resend.models import Webhook

router = APIGatewayHttpRouter()


@router.post("/webhooks", summary="Create a webhook (its secret is generated when not given)")
def create_webhook(body: Annotated[WebhookIn, Body()]) -> Response[Webhook]:
    tenant_id = require_tenant(router)
    webhook, _ = catalog.put_webhook(
        deps.store(), tenant_id, None, body, allow_private=deps.settings().allow_private_urls
    )
    return json_response(201, webhook.model_dump())


@router.get("/webhooks", summary="List webhooks")
def list_webhooks() -> WebhookList:
    return catalog.list_webhooks(deps.store(), require_tenant(router))


@router.put("/webhooks/<id>", summary="Create or replace a webhook")
def put_webhook(id: str, body: Annotated[WebhookIn, Body()]) -> Response[Webhook]:
    tenant_id = require_tenant(router)
    webhook, created = catalog.put_webhook(
        deps.store(), tenant_id, id, body, allow_private=deps.settings().allow_private_urls
    )
    return json_response(201 if created else 200, webhook.model_dump())


@router.get("/webhooks/<id>", summary="Get a webhook (without its secret)")
def get_webhook(id: str) -> Response[Webhook]:
    webhook = catalog.get_webhook(deps.store(), require_tenant(router), id)
    return json_response(200, webhook.model_dump())


@router.delete("/webhooks/<id>", summary="Delete a webhook")
def delete_webhook(id: str) -> Response[None]:
    catalog.delete_webhook(deps.store(), require_tenant(router), id)
    return Response(status_code=204, body="")
