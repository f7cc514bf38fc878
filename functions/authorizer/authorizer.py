"""Lambda authorizer of the HTTP API: resolves Basic or Bearer credentials to a tenant id.

It always lets the request through (simple response `isAuthorized: true`) and passes the tenant
id, or none, in the context: an HTTP API authorizer can only deny with 403, and the routes must
answer 401 in their own formats (JSON errors, or the DataForSEO envelope).
"""

from __future__ import annotations

from typing import Any

from webhook_resend import coldstart
from webhook_resend.aws import clients
from webhook_resend.catalog import tenants
from webhook_resend.observability import logger


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    headers = event.get("headers") or {}
    tenant_id = tenants.authenticate(clients.store(), headers.get("authorization"))
    logger.debug("authorizer decided", extra={"authenticated": tenant_id is not None})
    return {"isAuthorized": True, "context": {"tenant_id": tenant_id or ""}}


coldstart.done()  # last: see webhook_resend.coldstart
