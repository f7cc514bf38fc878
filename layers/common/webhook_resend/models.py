"""Pydantic models of what the API takes and answers: content items, tasks, webhooks, tenants.

Constraints live here; the models do no I/O. Times are kept as canonical strings (see clock).
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import uuid
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)

from webhook_resend import clock
from webhook_resend.urlpolicy import UrlRefusedError, check_syntax

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

MAX_PAYLOAD_BYTES = 256 * 1024
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret


def _canonical_time(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 date-time string")
    try:
        return clock.canonical_text(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an ISO 8601 date-time") from None


def _json_size(value: Any) -> Any:
    size = len(json.dumps(value, separators=(",", ":")).encode())
    if size > MAX_PAYLOAD_BYTES:
        raise ValueError(f"is {size} bytes as JSON; at most {MAX_PAYLOAD_BYTES} are allowed")
    return value


def _http_url(value: str) -> str:
    try:
        check_syntax(value)
    except UrlRefusedError as exc:
        raise ValueError(str(exc)) from None
    return value


def _uuid_text(value: Any) -> Any:
    if not isinstance(value, str):
        raise ValueError("expected a UUID string")
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueError(f"'{value}' is not a UUID") from None


Time = Annotated[str | None, BeforeValidator(_canonical_time)]
Text = Annotated[str, Field(min_length=1, max_length=256)]
HttpUrl = Annotated[str, Field(min_length=1, max_length=2048), AfterValidator(_http_url)]
UuidText = Annotated[str, BeforeValidator(_uuid_text)]


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
class ContentItemIn(StrictModel):
    """Body of `PUT /content_items/{id}`."""

    id: UuidText | None = Field(default=None, description="optional; must equal the id in the path")
    model: Text
    tags: Annotated[list[Text], Field(max_length=100)] = []
    workflow_stage: Text | None = None
    locales: Annotated[list[Text], Field(max_length=100)] = []
    created_on: Time = None
    changed_on: Time = None
    publish_on: Time = None
    payload: Annotated[dict[str, Any], AfterValidator(_json_size)] = {}


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


class ContentItemList(Model):
    items: list[ContentItem]
    total: int


# ------------------------------------------------------------------------------------------------
# Tasks (DataForSEO-style)
# ------------------------------------------------------------------------------------------------
class TaskData(Model):
    """The original task parameters; any field is kept, the callback ones are checked."""

    model_config = ConfigDict(extra="allow")

    pingback_url: HttpUrl | None = None
    postback_url: HttpUrl | None = None
    postback_data: Text | None = None
    tag: Annotated[str, Field(max_length=256)] | None = None


class TaskIn(StrictModel):
    """Body of `PUT /tasks/{id}`."""

    id: UuidText | None = Field(default=None, description="optional; must equal the id in the path")
    data: TaskData
    result: Annotated[Any, AfterValidator(_json_size)] = None


class Task(Model):
    id: str
    data: dict[str, Any]
    result: Any = None
    created_on: str
    changed_on: str


# ------------------------------------------------------------------------------------------------
# Webhooks
# ------------------------------------------------------------------------------------------------
def _secret(value: str | None) -> str | None:
    if value is None:
        return None
    if not value.startswith(SECRET_PREFIX):
        raise ValueError(f"must start with '{SECRET_PREFIX}'")
    try:
        raw = base64.b64decode(value[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"must be '{SECRET_PREFIX}' followed by base64") from None
    if not 24 <= len(raw) <= 64:
        raise ValueError("must encode 24 to 64 random bytes")
    return value


class WebhookIn(StrictModel):
    """Body of `POST /webhooks` and `PUT /webhooks/{id}`."""

    urls: Annotated[list[HttpUrl], Field(min_length=1, max_length=10)]
    events: Annotated[list[Event], Field(min_length=1, max_length=len(EVENTS))]
    models: Annotated[list[Text], Field(max_length=100)] | None = None
    secret: Annotated[str | None, AfterValidator(_secret)] = Field(default=None, repr=False)
    active: bool = True
    description: Annotated[str, Field(max_length=1000)] = ""

    @field_validator("urls", "events")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("must not repeat a value")
        return value


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


class WebhookList(Model):
    items: list[Webhook]
    total: int


# ------------------------------------------------------------------------------------------------
# Tenants
# ------------------------------------------------------------------------------------------------
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
