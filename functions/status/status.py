"""Status of resend jobs: counters (a constant number of reads) and delivery records."""

from __future__ import annotations

from typing import Any

from webhook_resend import coldstart
from webhook_resend.api.resolver import build_resolver
from webhook_resend.api.routes import resend_status
from webhook_resend.observability import logger

app = build_resolver()
app.include_router(resend_status.router)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)


coldstart.done()  # last: see webhook_resend.coldstart
