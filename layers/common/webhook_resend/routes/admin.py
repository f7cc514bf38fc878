"""`/admin/tenants`: operators create tenants with the admin token."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from webhook_resend import credentials, deps, tenants
from webhook_resend.errors import FieldProblem, UnauthorizedError
from webhook_resend.http import json_response, proxy_error
from webhook_resend.tenants import TenantCredentials, TenantIn

router = APIGatewayHttpRouter()


def admin_guard(event: dict[str, Any]) -> dict[str, Any] | None:
    """401 unless the request carries the admin token (the OpenAPI document is public)."""
    if (event.get("rawPath") or "") == "/openapi.json":
        return None
    headers = event.get("headers") or {}
    if credentials.bearer_matches(headers.get("authorization"), deps.admin_token()):
        return None
    return proxy_error(UnauthorizedError(FieldProblem("authorization", "missing or invalid admin token")))


@router.post("/admin/tenants", summary="Create a tenant; answers its credentials once")
def create_tenant(body: Annotated[TenantIn, Body()]) -> Response[TenantCredentials]:
    created = tenants.create_tenant(deps.store(), body)
    return json_response(201, created.model_dump())


@router.get("/openapi.json", summary="The OpenAPI document of the whole API", include_in_schema=False)
def openapi_document() -> dict:
    from webhook_resend import openapi

    return openapi.document()
