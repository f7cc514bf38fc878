"""`/schedules` and `/schedules/{name}`: a tenant's scheduled resends."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from webhook_resend.api.resolver import json_response, require_tenant
from webhook_resend.aws import clients
from webhook_resend.resends import schedules
from webhook_resend.resends.schedules import Schedule, ScheduleIn, ScheduleList

router = APIGatewayHttpRouter()


@router.post("/schedules", summary="Create a scheduled resend (EventBridge Scheduler)")
def create_schedule(body: Annotated[ScheduleIn, Body()]) -> Response[Schedule]:
    tenant_id = require_tenant(router)
    created = schedules.create(clients.store(), clients.scheduler(), tenant_id, body)
    return json_response(201, created.model_dump())


@router.get("/schedules", summary="List the tenant's scheduled resends")
def list_schedules() -> ScheduleList:
    return schedules.list_schedules(clients.store(), require_tenant(router))


@router.delete("/schedules/<name>", summary="Delete a scheduled resend")
def delete_schedule(name: str) -> Response[None]:
    schedules.delete(clients.store(), clients.scheduler(), require_tenant(router), name)
    return Response(status_code=204, body="")
