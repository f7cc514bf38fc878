"""The messages the functions pass each other: one page of work, or one step of a selection, for
the fan-out queue; one (item or task, webhook) pair for the delivery queue; and the Input a fired
schedule carries.
"""

# Not `from __future__ import annotations` here: pydantic would compile and evaluate every field's
# annotation string while creating each class, about a third of what creating the models costs
# at every cold start (every function imports them).
from typing import Literal

from pydantic import ConfigDict, Field

from webhook_resend.models.base import Event, Model, SubjectKind

CALLBACK = "callback"  # the webhook id of a task's callbacks in messages and delivery records
# The one key of the Input a schedule carries (see `resends.schedules`): the resend function
# tells a fired schedule from an HTTP request by it.
SCHEDULE_INPUT_KEY = "webhook_resend_schedule"


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

    @property
    def job_key(self) -> tuple[str, str]:
        return (self.tenant_id, self.job_id)


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


class SelectionMessage(Model):
    """One step of a job's asynchronous selection (resends/selections.py), on the fan-out queue:
    count, or select and queue, the part of the index that starts at `start` (the previous step's
    LastEvaluatedKey; None at the start of a phase). What is selected is stored on the job."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1
    tenant_id: str = Field(min_length=1)
    job_id: str = Field(min_length=1)
    step: int = Field(ge=0)
    phase: Literal["count", "queue"]
    start: dict[str, dict[str, str]] | None = None


class EventMessage(Model):
    """One operational event to send to a tenant's notify_url (events queue). The event itself is
    its record (`keys.event`): the message only names it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1
    tenant_id: str = Field(min_length=1)
    event_id: str = Field(min_length=1)
    created_on: str = Field(min_length=1)


class HeldMessage(Model):
    """Wake the pairs a paused job held (resends/control.py), on the fan-out queue, after a resume
    or a cancel: `held_shard` None starts the walk (it continues the job's selection if that was
    where the pause stopped it, and sends one message per shard); a shard's message puts one page
    of its held pairs back on the delivery queue, whose consumer sends them (resumed) or ends
    them `cancelled`, and sends the shard's next page, from `start`. `every_parked` (the walk of
    a cancelled job) reads all of the job's parked pairs (`parked_by_job`), those waiting for a
    backoff, a deferral or a rate limit as well as the held ones, so that each ends at once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1
    tenant_id: str = Field(min_length=1)
    job_id: str = Field(min_length=1)
    held_shard: int | None = Field(ge=0)
    start: dict[str, dict[str, str]] | None = None
    every_parked: bool = False
