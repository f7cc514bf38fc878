"""Content items, tasks, webhooks, schedules and settings of a tenant; also the `$default` route
(JSON 404/405)."""

from __future__ import annotations

from typing import Any

from webhook_resend import coldstart
from webhook_resend.api.resolver import build_resolver
from webhook_resend.api.routes import content_items, schedules, settings, tasks, webhooks
from webhook_resend.observability import logger

app = build_resolver()
app.include_router(content_items.router)
app.include_router(tasks.router)
app.include_router(webhooks.router)
app.include_router(schedules.router)
app.include_router(settings.router)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)


coldstart.done()  # last: see webhook_resend.coldstart
