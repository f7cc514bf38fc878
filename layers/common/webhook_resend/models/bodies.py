"""Pydantic models of the bodies the API takes, and of its listings: content items, tasks,
webhooks, and native resends (`POST /resends`, and the `resend` a schedule carries).

Constraints live here; the models do no I/O. Times are kept as canonical strings (see clock).
Only the management and resend functions take these bodies; the records every function reads
are in `webhook_resend.models.records`.
"""

# Not `from __future__ import annotations` here: pydantic would compile and evaluate every field's
# annotation string while creating each class, about a third of what creating the models costs
# at every cold start.
import base64
import binascii
import json
import uuid
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from webhook_resend import clock
from webhook_resend.models.base import EVENTS, SECRET_PREFIX, Event, Model, StrictModel
from webhook_resend.models.records import ContentItem, RateLimit, Webhook
from webhook_resend.urlpolicy import UrlRefusedError, check_syntax

MAX_PAYLOAD_BYTES = 256 * 1024
MAX_IDS = 1000


def _canonical_time(value: Any) -> Any:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("expected an ISO 8601 date-time string")
    try:
        return clock.canonical_text(value)
    except ValueError:
        raise ValueError(f"'{value}' is not an ISO 8601 date-time") from None


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


def _json_size(value: Any) -> Any:
    size = len(json.dumps(value, separators=(",", ":")).encode())
    if size > MAX_PAYLOAD_BYTES:
        raise ValueError(f"is {size} bytes as JSON; at most {MAX_PAYLOAD_BYTES} are allowed")
    return value


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


class ContentItemList(Model):
    items: list[ContentItem]
    total: int


class ErrorDetail(Model):
    field: str
    message: str


class ContentItemBulkOutcome(Model):
    """One element of `PUT /content_items`, by its place in the list."""

    index: int
    id: str | None = Field(description="the canonical id; null when the element has none")
    status: Literal["created", "replaced", "refused", "failed"] = Field(
        description="failed: not stored, the service was busy; sending it again is safe"
    )
    created_on: str | None = None
    changed_on: str | None = None
    errors: list[ErrorDetail] = Field(
        description="why it was refused, as the single PUT's 422 says it (field, message)"
    )


class ContentItemBulkResult(Model):
    created: int
    replaced: int
    refused: int
    failed: int
    results: list[ContentItemBulkOutcome]


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
    rate_limit: RateLimit | None = None

    @field_validator("urls", "events")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("must not repeat a value")
        return value


class WebhookList(Model):
    items: list[Webhook]
    total: int


# ------------------------------------------------------------------------------------------------
# Native resends
# ------------------------------------------------------------------------------------------------
class ResendIn(StrictModel):
    """Body of `POST /resends` (and the `resend` of a schedule)."""

    event: Event | None = None
    item_ids: Annotated[list[UuidText], Field(min_length=1, max_length=MAX_IDS)] | None = None
    task_ids: Annotated[list[UuidText], Field(min_length=1, max_length=MAX_IDS)] | None = None
    filter: dict[str, Any] | None = None
    webhook_ids: Annotated[list[UuidText], Field(min_length=1, max_length=100)] | None = None
    delivery_status: Literal["failed"] | None = None
    since: Time = None
    # With delivery_status: only the failed pairs of this job (the console's "resend failed").
    job_id: UuidText | None = None
    dry_run: bool = False

    @model_validator(mode="after")
    def _one_selection(self) -> Self:
        by_outcome = self.delivery_status is not None
        if by_outcome and (self.item_ids or self.task_ids or self.filter is not None):
            raise ValueError(
                "delivery_status selects by outcome; it cannot be combined with item_ids, task_ids or filter"
            )
        if by_outcome and self.since is None:
            raise ValueError("since is required with delivery_status")
        if self.since is not None and not by_outcome:
            raise ValueError("since only applies with delivery_status")
        if self.job_id is not None and not by_outcome:
            raise ValueError("job_id only applies with delivery_status")
        if self.item_ids and self.filter is not None:
            raise ValueError("give item_ids or filter, not both")
        if not (by_outcome or self.item_ids or self.task_ids or self.filter is not None):
            raise ValueError("select something: item_ids, task_ids, filter, or delivery_status with since")
        if (self.item_ids or self.filter is not None) and self.event is None:
            raise ValueError("event is required to resend content items")
        return self
