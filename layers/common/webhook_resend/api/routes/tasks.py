"""`/tasks/{id}`: DataForSEO-style tasks whose callbacks can be resent."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Body
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from webhook_resend.api.resolver import json_response, require_tenant
from webhook_resend.aws import clients
from webhook_resend.catalog import tasks
from webhook_resend.models.bodies import TaskIn
from webhook_resend.models.records import Task

router = APIGatewayHttpRouter()


@router.put("/tasks/<id>", summary="Create or replace a task")
def put_task(id: str, body: Annotated[TaskIn, Body()]) -> Response[Task]:
    tenant_id = require_tenant(router)
    task, created = tasks.put_task(
        clients.store(), tenant_id, id, body, allow_private=clients.settings().allow_private_urls
    )
    return json_response(201 if created else 200, task.model_dump())


@router.get("/tasks/<id>", summary="Get a task")
def get_task(id: str) -> Task:
    return tasks.get_task(clients.store(), require_tenant(router), id)


@router.delete("/tasks/<id>", summary="Delete a task")
def delete_task(id: str) -> Response[None]:
    tasks.delete_task(clients.store(), require_tenant(router), id)
    return Response(status_code=204, body="")
