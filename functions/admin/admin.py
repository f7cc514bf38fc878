"""Operator routes: `POST /admin/tenants`, authenticated by the admin token (no tenant authorizer)."""

from __future__ import annotations

from typing import Any

from webhook_resend import coldstart
from webhook_resend.api.resolver import build_resolver
from webhook_resend.api.routes import admin
from webhook_resend.observability import logger

app = build_resolver(guard=admin.admin_guard)
app.include_router(admin.router)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)


coldstart.done()  # last: see webhook_resend.coldstart
