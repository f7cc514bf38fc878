"""A schedule fired: run the resend it carries for its tenant, as the API would."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from webhook_resend.aws import clients
from webhook_resend.errors import InvalidInputError
from webhook_resend.models.bodies import ResendIn
from webhook_resend.observability import logger
from webhook_resend.resends import native


def run_scheduled(payload: dict[str, Any]) -> dict[str, Any]:
    """Start the schedule's resend; an invalid one is logged and reported, not retried forever."""
    tenant_id = str(payload.get("tenant_id") or "")
    name = str(payload.get("name") or "")
    settings = clients.settings()
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
        )
    except (ValidationError, InvalidInputError) as exc:
        # Retrying cannot make the selection valid; the schedule's next run may be.
        logger.error(
            "scheduled resend refused", extra={"schedule": name, "tenant_id": tenant_id, "error": str(exc)}
        )
        return {"status": 422, "schedule": name}
    logger.info("scheduled resend started", extra={"schedule": name, "resend_id": answer.get("id")})
    return {"status": status, "schedule": name, "resend_id": answer.get("id")}
