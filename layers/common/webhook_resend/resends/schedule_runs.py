"""A schedule fired: run the resend it carries for its tenant, as the API would.

Scheduler may deliver one fire more than once (its retries after a throttle or an error): the
job's id is derived from the schedule and its scheduled time, so a second delivery of the same
fire finds its job and starts nothing.
"""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import ValidationError

from webhook_resend.aws import clients
from webhook_resend.errors import InvalidInputError
from webhook_resend.models.bodies import ResendIn
from webhook_resend.observability import logger
from webhook_resend.resends import native
from webhook_resend.resends.jobs import DuplicateJobError

# The namespace of the job ids of schedule fires (uuid5 of tenant, schedule name, scheduled time).
FIRES = uuid.UUID("6c1f3b8e-2a47-5d0e-9b61-4f2c8d7e5a93")


def fire_job_id(tenant_id: str, name: str, scheduled_time: Any) -> str | None:
    """The job id of one fire of a schedule; None when the fire does not say its time (a
    schedule created before fires carried it, or an Input whose placeholder was not filled in)."""
    if not isinstance(scheduled_time, str) or not scheduled_time or scheduled_time.startswith("<"):
        return None
    return str(uuid.uuid5(FIRES, f"{tenant_id}\n{name}\n{scheduled_time}"))


def run_scheduled(payload: dict[str, Any]) -> dict[str, Any]:
    """Start the schedule's resend; an invalid one is logged and reported, not retried forever."""
    tenant_id = str(payload.get("tenant_id") or "")
    name = str(payload.get("name") or "")
    settings = clients.settings()
    job_id = fire_job_id(tenant_id, name, payload.get("scheduled_time"))
    try:
        body = ResendIn.model_validate(payload.get("resend") or {})
        if not tenant_id or clients.store().get_tenant(tenant_id) is None:
            raise InvalidInputError([])
        status, answer = native.start_resend(
            clients.store(),
            clients.page_publisher(),
            tenant_id,
            body,
            source="schedule",
            retention_days=settings.delivery_retention_days,
            max_pairs=settings.max_pairs_per_request,
            job_id=job_id,
        )
    except DuplicateJobError as exc:
        logger.info("scheduled resend already started", extra={"schedule": name, "resend_id": exc.job_id})
        return {"status": 200, "schedule": name, "resend_id": exc.job_id, "duplicate": True}
    except (ValidationError, InvalidInputError) as exc:
        # Retrying cannot make the selection valid; the schedule's next run may be.
        logger.error(
            "scheduled resend refused", extra={"schedule": name, "tenant_id": tenant_id, "error": str(exc)}
        )
        return {"status": 422, "schedule": name}
    logger.info("scheduled resend started", extra={"schedule": name, "resend_id": answer.get("id")})
    return {"status": status, "schedule": name, "resend_id": answer.get("id")}
