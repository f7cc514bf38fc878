"""Pydantic models of the records the store keeps and the API answers: content items, tasks,
webhooks, resend jobs and delivery records.

A job counts (item or task, webhook) pairs: `total_queued` pairs were queued, and each pair ends
`delivered` (every URL of the webhook answered 2xx), `failed` (some URL failed for good) or
`cancelled` (its job was cancelled before it ended). The per-URL detail is in the delivery
records. `delivered + failed + cancelled + pending == total_queued` holds at every moment because
a pair's terminal state moves `pending` and one of the other three in the same write.

The bodies the API takes are in `webhook_resend.models.bodies` (a tenant's in
`webhook_resend.catalog.tenants`): the status, delivery, fan-out, authorizer and admin functions
never take them, so their cold starts need not create those classes.
"""

# Not `from __future__ import annotations` here: pydantic would compile and evaluate every field's
# annotation string while creating each class, about a third of what creating the models costs
# at every cold start (every function imports them).
from typing import Annotated, Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer, model_validator

from webhook_resend.models.base import Model, Source, StrictModel, SubjectKind

# selecting: pages still being selected (SPEC §11); running: everything selected, pairs pending;
# completed: nothing pending; rejected: nothing queued (over the cap, or nothing could be); paused
# and cancelled: the job controls of SPEC §11 (resends/control.py).
JobStatus = Literal["selecting", "running", "completed", "rejected", "paused", "cancelled"]
DeliveryStatus = Literal["pending", "retrying", "delivered", "failed", "cancelled"]
# A delivery record in one of these is never rewritten (aws/dynamodb.py's commit protocol).
TERMINAL_DELIVERY_STATUSES = ("delivered", "failed", "cancelled")


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
    cancelled: int = Field(default=0, description="pairs ended without delivery by a cancel")
    pending: int
    paused_on: str | None = Field(default=None, description="when the job was last paused")
    cancelled_on: str | None = Field(default=None, description="when the job was cancelled")
    reason: str | None = Field(
        default=None, description="why the job was rejected, or why its selection ended early"
    )
    # -- progress (issue 15): from counters the commit moves, never from delivery records ----------
    rate: float | None = Field(
        default=None, description="pairs ended per second over the last minute; null unless running"
    )
    eta: int | None = Field(
        default=None,
        description="seconds until nothing is pending at `rate`; null unless running with a rate above 0",
    )

    @model_validator(mode="after")
    def _running_has_a_rate(self) -> "Job":
        # A job just created has ended nothing yet: it runs at 0 a second, as its reads will say.
        if self.rate is None and self.status in RUNNING_STATUSES:
            self.rate = 0.0
        return self


# The statuses in which pairs are still being delivered: a job shows `rate` and `eta` only then.
RUNNING_STATUSES = ("running",)


# What a job's stored `state` may say (SPEC §11); absent on jobs selected at once. `selecting`,
# `rejected`, `paused` and `cancelled` are statuses of their own; a job whose selection ended is
# running or completed as its counters say.
SELECTING = "selecting"
SELECTED = "selected"
REJECTED = "rejected"
PAUSED = "paused"
CANCELLED = "cancelled"
# The last error of a pair's records that its job's cancel ended before it was delivered (the
# deliverer's and the dead-letter consumer's alike).
CANCELLED_ERROR = "the resend was cancelled before this was delivered"


def job_status(pending: int, state: str | None = None, total_queued: int = 0, taken_back: int = 0) -> str:
    """The status of a job: its stored state, else what the counters say. A job whose every pair
    SQS refused (all taken back, by its selection or its start) queued nothing: rejected (SPEC
    §11); one that selected nothing is completed."""
    if state not in (None, SELECTED):
        return state
    if total_queued <= 0 and taken_back > 0:
        return REJECTED
    return "completed" if pending <= 0 else "running"


class JobPage(Model):
    """`GET /resends`: the tenant's jobs, newest first."""

    data: list[Job]
    next_cursor: str | None = None


# ------------------------------------------------------------------------------------------------
# A job's asynchronous selection (resends/selections.py): what it selects, and where it stands
# ------------------------------------------------------------------------------------------------
class Selection(Model):
    """What an asynchronous selection walks (stored beside its job as JSON): the items index under
    a filter, crossed with `webhook_ids`; or the failed-deliveries index from `since` up to `until`
    (the job's creation), narrowed to `webhook_ids` (all when empty), `event` and `of_job`."""

    kind: Literal["filter", "failed"]
    event: str | None = None
    item_filter: dict[str, Any] = {}
    webhook_ids: list[str] = []
    since: str | None = None
    until: str | None = None
    of_job: str | None = None  # a resend by outcome of one job's failed pairs only
    max_pairs: int


# What a step message does, given where the walk stands (Walk.action_for).
CLAIM = "claim"  # the walk waits for this step: do it
RESUME = "resume"  # this very message did the step, then stopped short: finish what it began
STOPPED = "stopped"  # the walk waits for this step, but the job is not selecting any more
DUPLICATE = "duplicate"  # a step done already, or a second copy of the next step: nothing to do


class Walk(Model):
    """Where a job's selection stands (attributes of the job record): the next step to claim,
    the SQS message that claimed the last one, the index key the next step starts from."""

    state: str | None = None
    step: int = 0
    phase: Literal["count", "queue"] = "count"
    owner: str | None = None
    cursor: dict[str, Any] | None = None
    counted: int = 0  # what the count phase has counted so far
    selection: Selection

    def action_for(self, step: int, message_id: str) -> str:
        """The per-step protocol. A step is claimed by one conditional write that moves `step`
        on and records the claiming message: a redelivered message finds itself the owner and
        finishes its step (nothing is counted twice); any other copy of the step (a fork: its
        predecessor was redelivered after sending it) finds another owner and stops, so the walk
        never forks."""
        if self.step == step:
            return CLAIM if self.state == SELECTING else STOPPED
        if self.step == step + 1 and self.owner == message_id:
            return RESUME
        return DUPLICATE


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
        default=None,
        description=(
            "while retrying: when the next attempt is due (it may come earlier); null while its job"
            " is paused (the pair is held until the resume)"
        ),
    )
    # Pacing (SPEC §12): answers 429/503 that deferred the pair without using up an attempt (they
    # are among `attempts`), the seconds they deferred it (at most a day), and while the webhook's
    # rate limit holds the URL, the send time reserved for it.
    deferrals: int = Field(default=0, description="429/503 answers that deferred it without using an attempt")
    deferred_seconds: int = Field(default=0, description="seconds those deferrals waited (at most 86400)")
    held_until: str | None = Field(
        default=None,
        description=(
            "held by the webhook's rate limit: the send time reserved for it (null while its job is paused)"
        ),
    )
    held_on: str | None = Field(default=None, description="when that send time was reserved")

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_DELIVERY_STATUSES


class DeliveryPage(Model):
    data: list[Delivery]
    next_cursor: str | None = None


# ------------------------------------------------------------------------------------------------
# Operational events (SPEC §13): what was sent to a tenant's notify_url
# ------------------------------------------------------------------------------------------------
OperationalEventType = Literal[
    "resend.completed", "resend.cancelled", "resend.rejected", "webhook.deactivated"
]


class EventDelivery(Model):
    """One operational event and its delivery to the tenant's `notify_url`: its own record,
    never counted in a job."""

    id: str = Field(description="the event's id, its `webhook-id` header")
    type: OperationalEventType
    created_on: str
    url: str
    status: DeliveryStatus
    attempts: int = 0
    last_status_code: int | None = None
    last_error: str | None = None
    last_attempt_on: str | None = None
    delivered_on: str | None = None
    next_attempt_on: str | None = None
    event: dict[str, Any] = Field(description="what was posted: {type, created_on, data}")

    @property
    def terminal(self) -> bool:
        return self.status in ("delivered", "failed")


class EventDeliveryPage(Model):
    data: list[EventDelivery]
    next_cursor: str | None = None
