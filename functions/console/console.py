"""The console's page and files: `GET /console` and `GET /console/{asset}`, with no authorizer.

The page signs in with the tenant's token in the browser and calls the API itself; this function
only serves files (functions/console/static/), so it holds no permission to any data.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from webhook_resend import coldstart
from webhook_resend.api.console import Assets, request_line
from webhook_resend.observability import logger

ASSETS = Assets(Path(__file__).resolve().parent / "static")


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return ASSETS.answer(*request_line(event))


coldstart.done()  # last: see webhook_resend.coldstart
