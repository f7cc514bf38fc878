"""Pydantic models of the records the store keeps and the API answers (content items, tasks,
webhooks), and what every model of the service shares: the base models, the events, ids and
secrets.

The bodies the API takes are in `webhook_resend.bodies` (a tenant's in `webhook_resend.tenants`):
the status, delivery, fan-out, authorizer and admin functions never take them, so their cold
starts need not create those classes. Times are kept as canonical strings (see clock).
"""

# Not `from __future__ import annotations` here: pydantic would compile and evaluate every field's
# annotation string while creating each class, about a third of what creating the models costs
# at every cold start (every function imports them).
import base64
import secrets
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, model_serializer

EVENTS = (
    "content_item.created",
    "content_item.changed",
    "content_item.published",
    "content_item.unpublished",
    "content_item.deleted",
)
Event = Literal[
    "content_item.created",
    "content_item.changed",
    "content_item.published",
    "content_item.unpublished",
    "content_item.deleted",
]

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def new_id() -> str:
    return str(uuid.uuid4())


def new_webhook_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


class Model(BaseModel):
    """Every model of the service: schemas are built on first use, not at import (cold starts)."""

    model_config = ConfigDict(defer_build=True)


class StrictModel(Model):
    """Unknown fields are errors, never ignored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


# ------------------------------------------------------------------------------------------------
# Content items
# ------------------------------------------------------------------------------------------------
class ContentItem(Model):
    """A stored content item, as the API answers it."""

    id: str
    model: str
    tags: list[str] = []
    workflow_stage: str | None = None
    locales: list[str] = []
    created_on: str
    changed_on: str
    publish_on: str | None = None
    payload: dict[str, Any] = {}


# ------------------------------------------------------------------------------------------------
# Tasks (DataForSEO-style)
# ------------------------------------------------------------------------------------------------
class Task(Model):
    id: str
    data: dict[str, Any]
    result: Any = None
    created_on: str
    changed_on: str


# ------------------------------------------------------------------------------------------------
# Webhooks
# ------------------------------------------------------------------------------------------------
class Webhook(Model):
    """A stored webhook as the API answers it; `secret` only in the answer that set it."""

    id: str
    urls: list[str]
    events: list[str]
    models: list[str] | None = None
    active: bool
    description: str
    created_on: str
    changed_on: str
    secret: str | None = Field(default=None, description="present only when this request set it")

    @model_serializer(mode="wrap")
    def _hide_absent_secret(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        if data.get("secret") is None:
            data.pop("secret", None)
        return data
