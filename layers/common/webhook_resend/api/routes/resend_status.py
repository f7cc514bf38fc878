"""`/resends` (GET), `/resends/{id}` and `/resends/{id}/deliveries`: the tenant's jobs, newest
first; a job's counters; its delivery records. `/resends/{id}/pause`, `/resume` and `/cancel`
(POST): a job's controls (resends/control.py), each answering the job document as
`GET /resends/{id}` does."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, get_args

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.router import APIGatewayHttpRouter

from webhook_resend.api.params import parse_paging
from webhook_resend.api.resolver import json_response, require_tenant
from webhook_resend.aws import clients, dynamodb, keys
from webhook_resend.errors import FieldProblem, InvalidInputError, collect, not_found
from webhook_resend.models.base import canonical_id
from webhook_resend.models.records import (
    PAUSED,
    Delivery,
    DeliveryPage,
    DeliveryStatus,
    Job,
    JobPage,
    JobStatus,
)
from webhook_resend.resends import control

router = APIGatewayHttpRouter()
STATUSES = get_args(DeliveryStatus)
JOB_STATUSES = get_args(JobStatus)
DELIVERY_PAGE_MAX = 1000
JOB_PAGE_MAX = 1000
JOB_CURSOR_KEYS = {"pk", "sk", "gsi5pk", "gsi5sk"}


def _job_status(params: dict[str, Any]) -> str | None:
    status = params.get("status") or None
    if status is not None and status not in JOB_STATUSES:
        raise InvalidInputError(
            FieldProblem("status", f"must be one of {', '.join(JOB_STATUSES)}, got {status!r}")
        )
    return status


def _job_cursor(params: dict[str, Any], tenant_id: str) -> dict[str, Any] | None:
    raw = params.get("cursor")
    if not raw:
        return None
    cursor = dynamodb.decode_cursor(raw, JOB_CURSOR_KEYS, {"gsi5pk": keys.jobs_index_pk(tenant_id)})
    if cursor is None:
        raise InvalidInputError(FieldProblem("cursor", "is not a cursor this listing gave out"))
    return cursor


@router.get("/resends", summary="The tenant's resend jobs, newest first")
def list_resends() -> JobPage:
    tenant_id = require_tenant(router)
    params = dict(router.current_event.query_string_parameters or {})
    unknown = sorted(set(params) - {"status", "limit", "cursor"})
    if unknown:
        raise InvalidInputError([FieldProblem(name, "is not a known parameter") for name in unknown])
    status, (_, limit), cursor = collect(
        lambda: _job_status(params),
        lambda: parse_paging({"limit": params.get("limit", 25)}, max_limit=JOB_PAGE_MAX),
        lambda: _job_cursor(params, tenant_id),
    )
    jobs, last_key = clients.store().list_jobs(tenant_id, status, limit, cursor)
    return JobPage(data=jobs, next_cursor=dynamodb.encode_cursor(last_key) if last_key else None)


def _job(tenant_id: str, job_id: str) -> Job:
    job = clients.store().get_job(tenant_id, canonical_id(job_id, "resend", for_write=False))
    if job is None:
        raise not_found("resend")
    return job


@router.get("/resends/<id>", summary="A resend job: its status and counters")
def get_resend(id: str) -> Job:
    return _job(require_tenant(router), id)


def _status(params: dict[str, Any]) -> str | None:
    status = params.get("status") or None
    if status is not None and status not in STATUSES:
        raise InvalidInputError(FieldProblem("status", f"must be one of {', '.join(STATUSES)}"))
    return status


def _cursor(params: dict[str, Any], tenant_id: str, job_id: str) -> dict[str, Any] | None:
    raw = params.get("cursor")
    if not raw:
        return None
    fixed = {"gsi2pk": keys.deliveries_index_pk(tenant_id, job_id)}
    cursor = dynamodb.decode_cursor(raw, {"pk", "sk", "gsi2pk", "gsi2sk"}, fixed)
    if cursor is None:
        raise InvalidInputError(FieldProblem("cursor", "is not a cursor this listing gave out"))
    return cursor


@router.get("/resends/<id>/deliveries", summary="Delivery records of a resend job")
def list_deliveries(id: str) -> DeliveryPage:
    tenant_id = require_tenant(router)
    params = dict(router.current_event.query_string_parameters or {})
    unknown = sorted(set(params) - {"status", "limit", "cursor"})
    if unknown:
        raise InvalidInputError([FieldProblem(name, "is not a known parameter") for name in unknown])
    job = _job(tenant_id, id)
    status, (_, limit), cursor = collect(
        lambda: _status(params),
        lambda: parse_paging({"limit": params.get("limit", 100)}, max_limit=DELIVERY_PAGE_MAX),
        lambda: _cursor(params, tenant_id, job.id),
    )
    records, last_key = clients.store().list_deliveries(tenant_id, job.id, status, limit, cursor)
    if job.status == PAUSED:
        records = [_held(r) for r in records]
    return DeliveryPage(data=records, next_cursor=dynamodb.encode_cursor(last_key) if last_key else None)


def _held(record: Delivery) -> Delivery:
    """A record of a paused job, rendered at read time (a pause rewrites no record): one not ended
    has no next attempt while the job is paused, whatever time it was given before the pause,
    nor a rate-limit slot; the pair waits for the resume."""
    if record.terminal:
        return record
    return record.model_copy(update={"next_attempt_on": None, "held_until": None, "held_on": None})


_DONE = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}


def _control(id: str, move: control.Move) -> Job | Response[Any]:
    tenant_id = require_tenant(router)
    job_id = canonical_id(id, "resend", for_write=False)
    try:
        return control.control(
            clients.store(),
            clients.page_publisher(),
            clients.event_publisher(),
            tenant_id,
            job_id,
            move,
            keep_days=clients.settings().delivery_retention_days,
        )
    except control.ControlNotSentError:
        problem = {
            "field": None,
            "message": f"the resend was {_DONE[move]} but SQS did not take the message that carries it "
            "out; send the same request again (it is idempotent)",
        }
        return json_response(HTTPStatus.SERVICE_UNAVAILABLE, {"errors": [problem]}, {"Retry-After": "5"})


@router.post(
    "/resends/<id>/pause",
    summary="Pause a resend job: stop its selection, hold its pending pairs",
)
def pause_resend(id: str) -> Job:
    return _control(id, "pause")  # type: ignore[return-value]


@router.post(
    "/resends/<id>/resume",
    summary="Resume a paused resend job",
)
def resume_resend(id: str) -> Job:
    return _control(id, "resume")  # type: ignore[return-value]


@router.post(
    "/resends/<id>/cancel",
    summary="Cancel a resend job: every pair not yet delivered ends cancelled",
)
def cancel_resend(id: str) -> Job:
    return _control(id, "cancel")  # type: ignore[return-value]
