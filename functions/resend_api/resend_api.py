"""The resend API: native, Prepr-style and DataForSEO-style resends over HTTP, and scheduled
resends from EventBridge Scheduler (whose event is the schedule's Input)."""

from __future__ import annotations

from typing import Any

from webhook_resend import coldstart
from webhook_resend.api import idempotency
from webhook_resend.api.resolver import build_resolver
from webhook_resend.api.routes import bulk, dataforseo, native_resends
from webhook_resend.models.messages import SCHEDULE_INPUT_KEY
from webhook_resend.observability import logger
from webhook_resend.resends.schedule_runs import run_scheduled

app = build_resolver(guard=dataforseo.envelope_guard)
app.include_router(bulk.router)
app.include_router(dataforseo.router)
app.include_router(native_resends.router)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if SCHEDULE_INPUT_KEY in event:
        return run_scheduled(event[SCHEDULE_INPUT_KEY])
    idempotency.register_lambda_context(context)
    return app.resolve(event, context)


coldstart.done()  # last: see webhook_resend.coldstart
