"""The resend API: Prepr-style bulk resends and DataForSEO-style task callback resends."""

from __future__ import annotations

from typing import Any

from webhook_resend.http import build_resolver
from webhook_resend.observability import logger
from webhook_resend.routes import bulk, dataforseo

app = build_resolver()
app.include_router(bulk.router)
app.include_router(dataforseo.router)


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return app.resolve(event, context)
