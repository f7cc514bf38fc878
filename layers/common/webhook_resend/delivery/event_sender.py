"""The events queue's consumer: send each operational event (delivery/events.py) to its tenant's
notify_url, record the attempt on the event's own record, and say which messages come back when.

Retried like a delivery: 2xx delivered; 408, 429, 5xx, timeouts and connection errors retried on
`RETRY_SCHEDULE` (a `Retry-After` honoured); other answers fail at once. A wait of up to
15 minutes is the message's visibility timeout; a longer one (the schedule's hours, a
12-hour Retry-After) is a copy of the message sent with SQS's longest delay (15 minutes) while
the message itself is done, and sent on again, as long as the record's next attempt is still
ahead: no event is in flight for more than 15 minutes, nor uses up receives while it waits
(SPEC §10). A record that ended is never rewritten nor sent again. The URL and the
secret are read at each attempt: a notify_url changed meanwhile gets the event, a cleared one ends
it failed. Nothing here touches a job.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Callable
from datetime import timedelta

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from webhook_resend import clock
from webhook_resend.aws.dynamodb import Store
from webhook_resend.aws.publisher import SqsPublisher
from webhook_resend.delivery import backoff, signing
from webhook_resend.delivery.deliverer import (
    COMMIT_MARGIN_SECONDS,
    BatchResult,
    Incoming,
    classify,
    describe,
    soon,
)
from webhook_resend.delivery.sender import Attempt, HttpSender
from webhook_resend.models.messages import EventMessage
from webhook_resend.models.records import EventDelivery
from webhook_resend.observability import logger
from webhook_resend.settings import Settings

# SQS's longest message delay and the longest wait an event's message spends in flight.
DELAY_MAX = 900
# A record's next attempt this close is due: a delayed copy may come back a moment early.
DUE_SLACK_SECONDS = 2


def _seconds_ahead(record: EventDelivery) -> int:
    """Seconds until the record's next attempt, when it waits for one (0: due now)."""
    if record.status != "retrying" or not record.next_attempt_on:
        return 0
    ahead = (clock.parse(record.next_attempt_on) - clock.now()).total_seconds()
    return int(ahead) + 1 if ahead > DUE_SLACK_SECONDS else 0


class EventSender:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        sender_factory: Callable[[], HttpSender],
        *,
        time_left: Callable[[], float] = lambda: float("inf"),
        rng: random.Random | None = None,
        events_out: SqsPublisher | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._sender_factory = sender_factory
        self._time_left = time_left
        self._rng = rng or random.Random()
        self._events_out = events_out

    def _wait(self, incoming: Incoming, message: EventMessage, seconds: int, result: BatchResult) -> None:
        """The event is next tried in `seconds`: a wait the message's visibility covers, or else
        a copy delayed by SQS (at most DELAY_MAX) while this message is done; should the copy
        not go, this message comes back after DELAY_MAX and waits on from there."""
        if seconds > DELAY_MAX and self._events_out is not None:
            sent = self._events_out.publish([message], delay_seconds=min(seconds, DELAY_MAX))
            if not sent.not_sent:
                return
        result.failed_message_ids.append(incoming.message_id)
        result.visibility[incoming.receipt_handle] = min(seconds, DELAY_MAX)

    def _back_soon(self, incoming: Incoming, result: BatchResult) -> None:
        result.failed_message_ids.append(incoming.message_id)
        result.visibility[incoming.receipt_handle] = soon(self._rng)

    async def run(self, batch: list[Incoming]) -> BatchResult:
        result = BatchResult()
        todo: list[tuple[Incoming, EventMessage, EventDelivery, str, str]] = []
        for incoming in batch:
            try:
                message = EventMessage.model_validate_json(incoming.body)
            except ValidationError:
                # Comes back until the queue dead-letters it (its alarm shows it).
                logger.error("unreadable event message", extra={"message_id": incoming.message_id})
                result.failed_message_ids.append(incoming.message_id)
                continue
            try:
                prepared = self._prepare(message)
            except (ClientError, BotoCoreError) as exc:
                logger.warning("event not read", extra={"error": type(exc).__name__})
                self._back_soon(incoming, result)
                continue
            if prepared is None:
                continue
            ahead = _seconds_ahead(prepared[0])
            if ahead > 0:
                # A copy sent on with a delay, or a message back early: still waiting.
                self._wait(incoming, message, ahead, result)
                continue
            todo.append((incoming, message, *prepared))
        if not todo:
            return result
        async with self._sender_factory() as sender:
            attempts = await asyncio.gather(
                *(self._attempt(sender, record, url, secret) for _, _, record, url, secret in todo),
                return_exceptions=True,
            )
        for (incoming, message, record, url, _), attempt in zip(todo, attempts, strict=True):
            if isinstance(attempt, BaseException) and not isinstance(attempt, Exception):
                raise attempt
            if attempt is None or isinstance(attempt, Exception):
                if isinstance(attempt, Exception):
                    logger.error("an event attempt raised", extra={"error": type(attempt).__name__})
                self._back_soon(incoming, result)  # not started (or broken): no attempt used up
                continue
            result.attempts += 1
            delay = self._apply(record, url, attempt)
            try:
                saved = self._store.save_event(message.tenant_id, record, self._expires_at())
            except (ClientError, BotoCoreError) as exc:
                logger.warning("event attempt not recorded", extra={"error": type(exc).__name__})
                self._back_soon(incoming, result)
                continue
            if saved and delay is not None:
                self._wait(incoming, message, delay, result)
        return result

    def _expires_at(self) -> int:
        return clock.expires_at(self._settings.delivery_retention_days)

    def _prepare(self, message: EventMessage) -> tuple[EventDelivery, str, str] | None:
        """The event's record, URL and secret; None when there is nothing to send (the record
        ended, expired, or the tenant has no notify_url any more: then it is ended failed)."""
        record = self._store.get_event(message.tenant_id, message.created_on, message.event_id)
        if record is None or record.terminal:
            return None
        tenant = self._store.get_tenant(message.tenant_id) or {}
        url, secret = tenant.get("notify_url"), tenant.get("callback_secret")
        if not url or not secret:
            record.status = "failed"
            record.last_error = "the tenant has no notify_url any more"
            record.last_attempt_on = clock.now_text()
            self._store.save_event(message.tenant_id, record, self._expires_at())
            return None
        return record, url, secret

    async def _attempt(
        self, sender: HttpSender, record: EventDelivery, url: str, secret: str
    ) -> Attempt | None:
        needed = self._settings.delivery_timeout_seconds + COMMIT_MARGIN_SECONDS

        def may_start() -> bool:
            return self._time_left() >= needed

        if not may_start():
            return None
        body = json.dumps(record.event, separators=(",", ":")).encode()
        headers = {
            "content-type": "application/json",
            **signing.headers(secret, record.id, int(time.time()), body),
        }
        return await sender.send("POST", url, headers, body, may_start=may_start)

    def _apply(self, record: EventDelivery, url: str, attempt: Attempt) -> int | None:
        """The attempt on the record; the seconds before the next one when it is retried."""
        now = clock.now_text()
        verdict = classify(attempt)
        record.url = url
        record.attempts += 1
        record.last_attempt_on = now
        record.last_status_code = attempt.status_code
        record.last_error = describe(attempt)
        record.next_attempt_on = None
        if verdict == "delivered":
            record.status = "delivered"
            record.delivered_on = now
            return None
        if verdict in ("failed", "gone"):
            record.status = "failed"
            return None
        delay = backoff.delay_before_retry(
            record.attempts,
            self._settings.retry_schedule,
            backoff.retry_after_seconds(attempt.retry_after),
            self._rng,
        )
        if delay is None:
            record.status = "failed"
            record.last_error = f"{record.last_error} (gave up after {record.attempts} attempts)"
            return None
        record.status = "retrying"
        record.next_attempt_on = clock.canonical(clock.now() + timedelta(seconds=delay))
        return delay
