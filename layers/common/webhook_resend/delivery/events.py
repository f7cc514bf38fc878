"""Operational events (SPEC §13): what the service tells a tenant at its `notify_url`.

An event is `{"type", "created_on", "data"}`, posted as JSON with Standard Webhooks headers signed
with the tenant's `callback_secret`. `notify` is the one way to raise one: it writes the event's
delivery record (under the tenant, never in a job, so no job counts it) and queues a message for
it on the events queue, whose consumer (`delivery/event_sender.py`) sends it and retries it like
a delivery. A tenant without a notify_url gets nothing.

Each occurrence is announced once. The end of a job is decided by a conditional write on the job
item (`Store.claim_job_end`): of two batches that finish a job at once, exactly one wins and
sends. A webhook's deactivation is announced by the one call that turned it inactive
(`Store.deactivate_webhook`).

A job's end is one call, `announce_job_end`: `resend.completed` by the consumer batch that counts
its last pending pair (`resend.cancelled` instead when the job was cancelled: its last pending pair
ended, or the cancel found nothing pending, resends/control.py), `resend.rejected` where a
selection is rejected (resends/selections.py). A job still selecting or paused has not ended,
whatever is pending.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from webhook_resend import clock
from webhook_resend.aws.dynamodb import END_NOTIFIED, Store, failure_causes, job_document, status_of
from webhook_resend.aws.publisher import PublishResult
from webhook_resend.models import progress
from webhook_resend.models.messages import EventMessage
from webhook_resend.models.records import (
    CANCELLED,
    PAUSED,
    REJECTED,
    SELECTED,
    SELECTING,
    EventDelivery,
    OperationalEventType,
)
from webhook_resend.observability import logger

DEFAULT_KEEP_DAYS = 30


class EventPublisher(Protocol):
    def publish(self, messages: list[EventMessage]) -> PublishResult[EventMessage]: ...


def new_event_id() -> str:
    return "evt_" + uuid.uuid4().hex


def notify(
    store: Store,
    publisher: EventPublisher,
    tenant_id: str,
    event_type: OperationalEventType,
    data: dict[str, Any],
    *,
    keep_days: int = DEFAULT_KEEP_DAYS,
    tenants: Mapping[str, dict[str, Any] | None] | None = None,
) -> EventDelivery | None:
    """Send `event_type` with `data` to the tenant's notify_url: its record written, its message
    queued. None when the tenant has no notify_url. `tenants`: tenant records the caller read
    already (the consumer's batch read them with its subjects; None: a tenant that does not
    exist); a tenant not among them is read here. AWS errors propagate (nothing was queued, or
    the record says what was not)."""
    tenant = (
        tenants[tenant_id] if tenants is not None and tenant_id in tenants else store.get_tenant(tenant_id)
    )
    url = (tenant or {}).get("notify_url")
    if not url:
        return None
    now = clock.now_text()
    record = EventDelivery(
        id=new_event_id(),
        type=event_type,
        created_on=now,
        url=url,
        status="pending",
        event={"type": event_type, "created_on": now, "data": data},
    )
    expires_at = clock.expires_at(keep_days)
    store.put_event(tenant_id, record, expires_at)
    sent = publisher.publish([EventMessage(tenant_id=tenant_id, event_id=record.id, created_on=now)])
    if sent.failed:
        # SQS answered it did not take it: the record says so, for an operator to see.
        record.status = "failed"
        record.last_error = "not queued: the events queue refused it"
        store.save_event(tenant_id, record, expires_at)
        logger.error("operational event not queued", extra={"event_type": event_type, "event_id": record.id})
    elif sent.unknown:
        # SQS may have it: nothing to undo. A record left pending shows an event that was not.
        logger.warning("operational event may not be queued", extra={"event_id": record.id})
    return record


def job_end_data(record: dict[str, Any]) -> dict[str, Any]:
    """An ended job's event data: the job document, its duration in seconds (creation to its last
    count), and the five most frequent failure causes with their counts."""
    job = job_document(record)
    duration = None
    if job.completed_on:
        seconds = (clock.parse(job.completed_on) - clock.parse(job.created_on)).total_seconds()
        duration = round(max(seconds, 0.0), 3)
    return {
        "job": job.model_dump(),
        "duration_seconds": duration,
        "failure_causes": progress.top_causes(failure_causes(record)),
    }


def announce_job_end(
    store: Store,
    publisher: EventPublisher,
    tenant_id: str,
    job_id: str,
    event_type: OperationalEventType,
    *,
    drained: bool = True,
    keep_days: int = DEFAULT_KEEP_DAYS,
    tenants: Mapping[str, dict[str, Any] | None] | None = None,
) -> EventDelivery | None:
    """Announce that a job ended, once: claim its end (`Store.claim_job_end`; with `drained`, only
    once nothing is pending) and, when this call won, `notify`. None when the job is not ended,
    was announced already, or the tenant has no notify_url. One consistent read decides whether
    the conditional write is worth making, so a batch that leaves pairs pending writes nothing.
    `tenants`: as `notify`'s."""
    record = store.job_record(tenant_id, job_id)
    # A counter update of a job that is gone (its retention ended) leaves a bare item, no job.
    if record is None or END_NOTIFIED in record or "created_on" not in record:
        return None
    if drained and (int(record.get("pending", 0)) > 0 or record.get("state") in (SELECTING, PAUSED)):
        # Pending pairs, or more to select (a selecting job between pages, a paused one).
        return None
    if record.get("state") == CANCELLED:
        event_type = "resend.cancelled"
    elif status_of(record) == REJECTED:
        # Nothing could be queued (every pair refused): whoever saw the job end, it is rejected.
        event_type = "resend.rejected"
    claimed = store.claim_job_end(
        tenant_id, job_id, event_type, clock.now_text(), drained=drained, record=record
    )
    if claimed is None:
        return None  # another batch won: it sends
    data = job_end_data(claimed)
    return notify(store, publisher, tenant_id, event_type, data, keep_days=keep_days, tenants=tenants)


@dataclass(frozen=True)
class Ending:
    """A job a batch's own counts may have ended, by the batch's read of it before its commit:
    its end is claimed at once, without the consistent read `announce_job_end` makes first (the
    claim's condition decides, as always). `windows`: the progress windows commits may have
    written since that read, removed by the claim with the ones the read saw."""

    record: dict[str, Any]
    windows: tuple[int, ...]


def likely_ended(
    read: Mapping[tuple[str, str], tuple[dict[str, Any] | None, float]],
    counted: Mapping[tuple[str, str], int],
    now: float,
) -> dict[tuple[str, str], Ending]:
    """The jobs whose pending pairs, as a batch read them (`read`: the job item, or None, and when
    it was read, epoch s), were all counted by the batch (`counted`: the pairs its commit counted
    per job). Only a running job (not selecting, paused or cancelled) whose end was not announced
    yet: anything else goes through `announce_job_end`'s read."""
    found = {}
    for key, count in counted.items():
        record, read_at = read.get(key, (None, 0.0))
        if record is None or "created_on" not in record or END_NOTIFIED in record:
            continue
        if record.get("state") not in (None, SELECTED) or int(record.get("pending", 0)) > count:
            continue
        # A window of the last minute before the read (an eventually consistent read may miss a
        # count just made) up to the next one after now (a commit's clock may be a little ahead).
        first = progress.window_of(read_at) - progress.WINDOWS
        found[key] = Ending(record, tuple(range(first, progress.window_of(now) + 2)))
    return found


@dataclass
class Notifier:
    """What the consumers hold to raise events: the store, the events queue's publisher and how
    long event records are kept."""

    store: Store
    publisher: EventPublisher
    keep_days: int = DEFAULT_KEEP_DAYS

    def notify(
        self, tenant_id: str, event_type: OperationalEventType, data: dict[str, Any]
    ) -> EventDelivery | None:
        return notify(self.store, self.publisher, tenant_id, event_type, data, keep_days=self.keep_days)

    def jobs_counted(
        self,
        jobs: Iterable[tuple[str, str]],
        tenants: Mapping[str, dict[str, Any] | None] | None = None,
        ending: Mapping[tuple[str, str], Ending] | None = None,
    ) -> int:
        """After a commit moved these jobs' counters: announce each one it completed (`tenants`:
        the tenant records the batch read already, see `notify`; `ending`: the jobs the batch's
        counts likely ended, claimed without a read first, see `likely_ended`). An AWS error is
        logged, never raised: the batch's results are written already. Answers how many
        completions this call announced (or claimed, for a tenant without a notify_url)."""
        announced = 0
        for tenant_id, job_id in sorted(set(jobs)):
            try:
                seen = (ending or {}).get((tenant_id, job_id))
                if seen is not None:
                    claimed = self.store.claim_job_end(
                        tenant_id,
                        job_id,
                        "resend.completed",
                        clock.now_text(),
                        drained=True,
                        record=seen.record,
                        windows=seen.windows,
                        running=True,
                    )
                    if claimed is not None:
                        announced += self.notify_once(tenant_id, claimed, tenants)
                        continue
                    # Refused: announced already, not drained, or paused or cancelled meanwhile.
                if announce_job_end(
                    self.store,
                    self.publisher,
                    tenant_id,
                    job_id,
                    "resend.completed",
                    keep_days=self.keep_days,
                    tenants=tenants,
                ):
                    announced += 1
            except (ClientError, BotoCoreError) as exc:
                logger.warning("job completion not announced", extra={"error": _aws_error(exc)})
        return announced

    def notify_once(
        self, tenant_id: str, claimed: dict[str, Any], tenants: Mapping[str, dict[str, Any] | None] | None
    ) -> int:
        """`resend.completed` of a job whose end this call claimed; 1 if an event was sent."""
        data = job_end_data(claimed)
        sent = notify(
            self.store,
            self.publisher,
            tenant_id,
            "resend.completed",
            data,
            keep_days=self.keep_days,
            tenants=tenants,
        )
        return int(sent is not None)

    def webhook_deactivated(self, tenant_id: str, data: dict[str, Any]) -> None:
        try:
            self.notify(tenant_id, "webhook.deactivated", data)
        except (ClientError, BotoCoreError) as exc:
            logger.warning("webhook deactivation not announced", extra={"error": _aws_error(exc)})


def _aws_error(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__
