"""`/webhooks` and `/webhooks/{id}`."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from webhook_resend.api.resolver import json_response, require_tenant
from webhook_resend.aws import clients
from webhook_resend.catalog import webhooks
from webhook_resend.models.bodies import WebhookIn, WebhookList
from webhook_resend.models.records import Webhook

router = APIGatewayHttpRouter()


@router.post("/webhooks", summary="Create a webhook (its secret is generated when not given)")
def create_webhook(body: Annotated[WebhookIn, Body()]) -> Response[Webhook]:
    tenant_id = require_tenant(router)
    webhook, _ = webhooks.put_webhook(
        clients.store(), tenant_id, None, body, allow_private=clients.settings().allow_private_urls
    )
    return json_response(201, webhook.model_dump())


@router.get("/webhooks", summary="List webhooks")
def list_webhooks() -> WebhookList:
    return webhooks.list_webhooks(clients.store(), require_tenant(router))


@router.put("/webhooks/<id>", summary="Create or replace a webhook")
def put_webhook(id: str, body: Annotated[WebhookIn, Body()]) -> Response[Webhook]:
    tenant_id = require_tenant(router)
    webhook, created = webhooks.put_webhook(
        clients.store(), tenant_id, id, body, allow_private=clients.settings().allow_private_urls
    )
    return json_response(201 if created else 200, webhook.model_dump())


@router.get("/webhooks/<id>", summary="Get a webhook (without its secret)")
def get_webhook(id: str) -> Response[Webhook]:
    webhook = webhooks.get_webhook(clients.store(), require_tenant(router), id)
    return json_response(200, webhook.model_dump())


@router.delete("/webhooks/<id>", summary="Delete a webhook")
def delete_webhook(id: str) -> Response[None]:
    webhooks.delete_webhook(clients.store(), require_tenant(router), id)
    return Response(status_code=204, body="")
