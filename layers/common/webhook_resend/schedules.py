"""Scheduled resends: EventBridge Scheduler schedules whose target is the resend function.

Each schedule is named `<tenant id>--<name>` in the stack's schedule group, and recorded in the
table under the tenant (so listing is a Query on the tenant's key, not a ListSchedules over
everyone's). When it fires, the resend function receives the schedule's Input verbatim:
`{"webhook_resend_schedule": {"tenant_id", "name", "resend": {...}}}`.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from webhook_resend import clock
from webhook_resend.bodies import ResendIn
from webhook_resend.dynamo import Store
from webhook_resend.errors import ConflictError, FieldProblem, NotFoundError
from webhook_resend.models import Model, StrictModel
from webhook_resend.observability import logger
from webhook_resend.scheduled import INPUT_KEY
from webhook_resend.settings import Settings

SEPARATOR = "--"
# Scheduler retries a schedule it could not invoke the resend function for (throttling, AWS
# errors) for up to an hour, then sends the schedule's Input to the dead-letter queue, whose
# alarm tells the operator. template.yaml gives its example schedule the same.
RETRY_POLICY = {"MaximumEventAgeInSeconds": 3600, "MaximumRetryAttempts": 10}


def _recurring(expression: str) -> str:
    if not expression.startswith(("rate(", "cron(")):
        raise ValueError("must be rate(...) or cron(...)")
    # Only creating a schedule parses an expression; the management function's other routes
    # need not compile the cron grammar and build its field tables at every cold start.
    from webhook_resend import schedule_expr

    schedule_expr.parse(expression)
    return expression


class ScheduleIn(StrictModel):
    """Body of `POST /schedules`."""

    name: Annotated[str, Field(pattern=r"^[0-9A-Za-z_.-]{1,36}$", description="unique per tenant")]
    schedule_expression: Annotated[str, Field(max_length=256), AfterValidator(_recurring)]
    resend: ResendIn
    description: Annotated[str, Field(max_length=512)] = ""
    enabled: bool = True


class Schedule(Model):
    name: str
    schedule_expression: str
    state: str
    description: str
    resend: dict[str, Any]
    created_on: str


class ScheduleList(Model):
    items: list[Schedule]
    total: int


def create(store: Store, scheduler: Any, settings: Settings, tenant_id: str, body: ScheduleIn) -> Schedule:
    resend = body.resend.model_dump(mode="json", exclude_none=True)
    schedule = Schedule(
        name=body.name,
        schedule_expression=body.schedule_expression,
        state="ENABLED" if body.enabled else "DISABLED",
        description=body.description,
        resend=resend,
        created_on=clock.now_text(),
    )
    if not store.put_schedule(tenant_id, {**schedule.model_dump(), "resend": json.dumps(resend)}):
        raise ConflictError(FieldProblem("name", f"a schedule named {body.name!r} exists already"))
    dead_letter = settings.schedule_dead_letter_queue_arn
    try:
        scheduler.create_schedule(
            Name=f"{tenant_id}{SEPARATOR}{body.name}",
            GroupName=settings.schedule_group_name,
            ScheduleExpression=body.schedule_expression,
            ScheduleExpressionTimezone="UTC",
            FlexibleTimeWindow={"Mode": "OFF"},
            State=schedule.state,
            Description=body.description or f"webhook-resend schedule {body.name}",
            Target={
                "Arn": settings.resend_function_arn,
                "RoleArn": settings.scheduler_role_arn,
                "RetryPolicy": RETRY_POLICY,
                **({"DeadLetterConfig": {"Arn": dead_letter}} if dead_letter else {}),
                "Input": json.dumps(
                    {INPUT_KEY: {"tenant_id": tenant_id, "name": body.name, "resend": resend}}
                ),
            },
        )
    except Exception:
        # No record without its schedule.
        store.delete_schedule(tenant_id, body.name)
        raise
    return schedule


def _from_record(record: dict[str, Any]) -> Schedule:
    return Schedule.model_validate({**record, "resend": json.loads(record["resend"])})


def list_schedules(store: Store, tenant_id: str) -> ScheduleList:
    items = [_from_record(record) for record in store.list_schedules(tenant_id)]
    return ScheduleList(items=items, total=len(items))


def delete(store: Store, scheduler: Any, settings: Settings, tenant_id: str, name: str) -> None:
    if not store.delete_schedule(tenant_id, name):
        raise NotFoundError(FieldProblem("name", "no schedule with this name"))
    try:
        scheduler.delete_schedule(
            Name=f"{tenant_id}{SEPARATOR}{name}", GroupName=settings.schedule_group_name
        )
    except scheduler.exceptions.ResourceNotFoundException:
        logger.info("schedule was already gone", extra={"schedule": name})
