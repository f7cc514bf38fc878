"""`/admin/tenants`: operators create tenants with the admin token."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import BaseRouter
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from webhook_resend import credentials, deps, tenants
from webhook_resend.errors import FieldProblem, UnauthorizedError
from webhook_resend.http import json_response
from webhook_resend.models import TenantCredentials, TenantIn

router = APIGatewayHttpRouter()


def require_admin(app: BaseRouter) -> None:
    if not credentials.bearer_matches(app.current_event.headers.get("authorization"), deps.admin_token()):
        raise UnauthorizedError(FieldProblem("authorization", "missing or invalid admin token"))


@router.post("/admin/tenants", summary="Create a tenant; answers its credentials once")
def create_tenant(body: Annotated[TenantIn, Body()]) -> Response[TenantCredentials]:
    require_admin(router)
    created = tenants.create_tenant(deps.store(), body)
    return json_response(201, created.model_dump())


@router.get("/openapi.json", summary="The OpenAPI document of the whole API", include_in_schema=False)
def openapi_document() -> dict:
    from webhook_resend import openapi

    return openapi.document()
