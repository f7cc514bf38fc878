"""The resend API: native, Prepr-style and DataForSEO-style resends over HTTP, and scheduled
resends from EventBridge Scheduler (whose event is the schedule's Input)."""

from __future__ import annotations

from typing import Any

from webhook_resend import coldstart, idempotency
from webhook_resend.http import build_resolver
from webhook_resend.observability import logger
from webhook_resend.routes import bulk, dataforseo, native
from webhook_resend.scheduled import INPUT_KEY, run_scheduled

app = build_resolver(guard=dataforseo.envelope_guard)
app.include_router(bulk.router)
app.include_router(dataforseo.router)
app.include_router(native.router)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    if INPUT_KEY in event:
        return run_scheduled(event[INPUT_KEY])
    idempotency.register_lambda_context(context)
    return app.resolve(event, context)


coldstart.done()  # last: see webhook_resend.coldstart
