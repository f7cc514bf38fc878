"""Pydantic models of the records the store keeps and the API answers: content items, tasks,
webhooks, resend jobs and delivery records.

A job counts (item or task, webhook) pairs: `total_queued` pairs were queued, and each pair ends
`delivered` (every URL of the webhook answered 2xx) or `failed` (some URL failed for good). The
per-URL detail is in the delivery records. `delivered + failed + pending == total_queued` holds
at every moment because a pair's terminal state moves `pending` and one of the other two in the
same write.

The bodies the API takes are in `webhook_resend.models.bodies` (a tenant's in
`webhook_resend.catalog.tenants`): the status, delivery, fan-out, authorizer and admin functions
never take them, so their cold starts need not create those classes.
"""

# Not `from __future__ import annotations` here: pydantic would compile and evaluate every field's
# annotation string while creating each class, about a third of what creating the models costs
# at every cold start (every function imports them).
from typing import Annotated, Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from webhook_resend.models.base import Model, Source, StrictModel, SubjectKind

JobStatus = Literal["queued", "in_progress", "completed", "cancelled"]
DeliveryStatus = Literal["pending", "retrying", "delivered", "failed"]


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
class RateLimit(StrictModel):
    """A webhook's pace (SPEC §12): each of its URLs gets at most `per_second` requests in any
    second, + 10 % (see delivery/pacing.py for what is guaranteed)."""

    per_second: Annotated[int, Field(ge=1, le=1000, strict=True)]


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
    rate_limit: RateLimit | None = None

    @model_serializer(mode="wrap")
    def _hide_absent_secret(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data = handler(self)
        if data.get("secret") is None:
            data.pop("secret", None)
        return data


# ------------------------------------------------------------------------------------------------
# Resend jobs and their delivery records
# ------------------------------------------------------------------------------------------------
class Job(Model):
    """The job document of `GET /resends/{id}` (SPEC §5.4)."""

    id: str
    source: Source
    event: str | None = None
    status: JobStatus
    created_on: str
    completed_on: str | None = None
    total_items: int
    total_queued: int
    delivered: int
    failed: int
    pending: int


def job_status(total_queued: int, delivered: int, failed: int, pending: int, cancelled: bool = False) -> str:
    """What the counters say: nothing queued or nothing pending is completed."""
    if cancelled:
        return "cancelled"
    if pending <= 0:
        return "completed"
    if delivered or failed:
        return "in_progress"
    return "queued"


class Delivery(Model):
    """One delivery record: one job × item × webhook URL (SPEC §4)."""

    job_id: str
    subject_id: str
    kind: SubjectKind = "item"
    webhook_id: str
    url_index: int
    url: str
    method: str = "POST"
    event: str | None = None
    status: DeliveryStatus
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    last_response: str | None = Field(default=None, description="first 1 KB of the last response body")
    last_attempt_on: str | None = None
    delivered_on: str | None = None
    latency_ms: int | None = None
    next_attempt_on: str | None = Field(
        default=None, description="while retrying: when the next attempt is due (it may come earlier)"
    )
    # Pacing (SPEC §12): answers 429/503 that deferred the pair without using up an attempt (they
    # are among `attempts`), the seconds they deferred it (at most a day), and while the webhook's
    # rate limit holds the URL, the send time reserved for it.
    deferrals: int = Field(default=0, description="429/503 answers that deferred it without using an attempt")
    deferred_seconds: int = Field(default=0, description="seconds those deferrals waited (at most 86400)")
    held_until: str | None = Field(
        default=None, description="held by the webhook's rate limit: the send time reserved for it"
    )
    held_on: str | None = Field(default=None, description="when that send time was reserved")

    @property
    def terminal(self) -> bool:
        return self.status in ("delivered", "failed")


class DeliveryPage(Model):
    data: list[Delivery]
    next_cursor: str | None = None
