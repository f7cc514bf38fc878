"""Resend jobs and the queue messages they fan out into.

A job counts (item or task, webhook) pairs: `total_queued` pairs were queued, and each pair ends
`delivered` (every URL of the webhook answered 2xx) or `failed` (some URL failed for good). The
per-URL detail is in the delivery records. `delivered + failed + pending == total_queued` holds
at every moment because a pair's terminal state moves `pending` and one of the other two in the
same write.
"""

# Not `from __future__ import annotations` here: pydantic would compile and evaluate every field's
# annotation string while creating each class, about a third of what creating the models costs
# at every cold start (every function imports them).
from typing import Literal

from pydantic import ConfigDict, Field

from webhook_resend.models import Event, Model

Source = Literal["dataforseo", "prepr", "api", "schedule"]
JobStatus = Literal["queued", "in_progress", "completed", "cancelled"]
SubjectKind = Literal["item", "task"]
DeliveryStatus = Literal["pending", "retrying", "delivered", "failed"]


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


class PairMessage(Model):
    """One SQS message: deliver `event` for one item (or task) to one webhook (or callback)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1
    tenant_id: str = Field(min_length=1)
    job_id: str = Field(min_length=1)
    kind: SubjectKind = "item"
    subject_id: str = Field(min_length=1, description="content item id or task id")
    webhook_id: str = Field(min_length=1, description="webhook id, or 'callback' for a task's callbacks")
    event: Event | None = None
    created_on: str = Field(description="the job's creation time: the event's created_on")

    @property
    def pair_key(self) -> tuple[str, str, str]:
        return (self.job_id, self.subject_id, self.webhook_id)


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

    @property
    def terminal(self) -> bool:
        return self.status in ("delivered", "failed")


class DeliveryPage(Model):
    data: list[Delivery]
    next_cursor: str | None = None


class PageMessage(Model):
    """One page of an asynchronous fan-out: every subject of the page × every webhook, or an
    explicit list of pairs (a resend by outcome, whose pairs differ in webhook and event)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1
    tenant_id: str
    job_id: str
    created_on: str
    kind: SubjectKind = "item"
    event: Event | None = None
    subject_ids: list[str] = []
    webhook_ids: list[str] = []
    pairs: list[tuple[SubjectKind, str, str, Event | None]] = []

    def messages(self) -> list[PairMessage]:
        common = {"tenant_id": self.tenant_id, "job_id": self.job_id, "created_on": self.created_on}
        crossed = [
            PairMessage(**common, kind=self.kind, subject_id=s, webhook_id=w, event=self.event)
            for s in self.subject_ids
            for w in self.webhook_ids
        ]
        listed = [
            PairMessage(**common, kind=kind, subject_id=s, webhook_id=w, event=event)
            for kind, s, w, event in self.pairs
        ]
        return crossed + listed

    @property
    def size(self) -> int:
        return len(self.subject_ids) * len(self.webhook_ids) + len(self.pairs)
