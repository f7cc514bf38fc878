"""Tenants: creation by an operator, and resolving presented credentials to a tenant id.

The body and answer of tenant creation are defined here rather than in `webhook_resend.models.bodies`:
only the admin function uses them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from webhook_resend import clock
from webhook_resend.aws.dynamodb import Store
from webhook_resend.catalog import credentials
from webhook_resend.models.base import Model, StrictModel


class TenantIn(StrictModel):
    name: Annotated[str, Field(min_length=1, max_length=200)]


class TenantCredentials(Model):
    """The one answer that shows a tenant's credentials; only digests are stored."""

    tenant_id: str
    name: str
    login: str
    password: str
    token: str
    callback_secret: str


def create_tenant(store: Store, body: TenantIn) -> TenantCredentials:
    """Issue credentials for a new tenant; only their digests are stored."""
    issued = credentials.issue()
    store.put_tenant(
        {
            "tenant_id": issued.tenant_id,
            "name": body.name,
            "created_on": clock.now_text(),
            "password_sha256": credentials.digest(issued.password),
            "token_sha256": credentials.digest(issued.token),
            # Kept in clear text: the service signs the tenant's callbacks with it.
            "callback_secret": issued.callback_secret,
        }
    )
    return TenantCredentials(
        tenant_id=issued.tenant_id,
        name=body.name,
        login=issued.login,
        password=issued.password,
        token=issued.token,
        callback_secret=issued.callback_secret,
    )


def authenticate(store: Store, authorization: str | None) -> str | None:
    """The tenant id the Authorization header proves, or None."""
    presented = credentials.parse_authorization(authorization)
    if presented is None:
        return None
    record = store.get_tenant(presented.tenant_id)
    digests = {"password": record["password_sha256"], "token": record["token_sha256"]} if record else None
    return presented.tenant_id if credentials.verify(presented, digests) else None
