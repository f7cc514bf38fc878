"""A schedule fired: run the resend it carries for its tenant, as the API would."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from webhook_resend import deps
from webhook_resend.bodies import ResendIn
from webhook_resend.errors import InvalidInputError
from webhook_resend.observability import logger

# The one key of the Input a schedule carries (see `webhook_resend.schedules`): the resend
# function tells a fired schedule from an HTTP request by it.
INPUT_KEY = "webhook_resend_schedule"


def run_scheduled(payload: dict[str, Any]) -> dict[str, Any]:
    """Start the schedule's resend; an invalid one is logged and reported, not retried forever."""
    # Here, not at the top: the management function imports this module for INPUT_KEY alone
    # (it creates schedules, it never runs one). The resend function has loaded native already.
    from webhook_resend import native

    tenant_id = str(payload.get("tenant_id") or "")
    name = str(payload.get("name") or "")
    settings = deps.settings()
    try:
        body = ResendIn.model_validate(payload.get("resend") or {})
        if not tenant_id or deps.store().get_tenant(tenant_id) is None:
            raise InvalidInputError([])
        status, answer = native.start_resend(
            deps.store(),
            deps.page_publisher(),
            tenant_id,
            body,
            source="schedule",
            retention_days=settings.delivery_retention_days,
            max_pairs=settings.max_pairs_per_request,
        )
    except (ValidationError, InvalidInputError) as exc:
        # Retrying cannot make the selection valid; the schedule's next run may be.
        logger.error(
            "scheduled resend refused", extra={"schedule": name, "tenant_id": tenant_id, "error": str(exc)}
        )
        return {"status": 422, "schedule": name}
    logger.info("scheduled resend started", extra={"schedule": name, "resend_id": answer.get("id")})
    return {"status": status, "schedule": name, "resend_id": answer.get("id")}
