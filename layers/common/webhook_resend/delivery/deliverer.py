"""The consumer's domain: deliver a batch of pair messages, record every attempt, count each
pair's end exactly once, and say which messages must come back and when.

Reads are batched (one BatchGetItem round for items, webhooks, tenants and the pairs' jobs, one
for the delivery records), attempts run concurrently, and writes go out as one transaction per
job chunk (see `Store.commit`), so a duplicate message or a crash mid-batch changes nothing twice.

A pair's job is read with its subject (SPEC §11, resends/control.py): a pair of a paused job is
parked under its job without an attempt (held until the job is resumed or cancelled); a pair of a
cancelled job ends `cancelled` without an attempt, in the same commit as every other outcome.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from webhook_resend import clock
from webhook_resend.aws import keys
from webhook_resend.aws.dynamodb import COUNTED, PairOutcome, ParkedPair, Store, StoreBusyError, delivery_from
from webhook_resend.delivery import backoff, callbacks, events, pacing, parking, signing
from webhook_resend.delivery.events import Notifier
from webhook_resend.delivery.sender import Attempt, HttpSender, failed_attempt
from webhook_resend.models import progress
from webhook_resend.models.messages import PairMessage
from webhook_resend.models.records import CANCELLED, CANCELLED_ERROR, PAUSED, Delivery
from webhook_resend.observability import logger
from webhook_resend.settings import Settings

# Seconds before a message comes back when its writes failed or its attempt was not started.
SOON = 5
# Receives of a message kept for what parking cannot help: from maxReceiveCount - RECEIVES_KEPT on,
# a pair that waits is parked rather than handed back to SQS (Deliverer._last_receives).
RECEIVES_KEPT = 2
# Room left in the invocation after the last attempt, to write the results.
COMMIT_MARGIN_SECONDS = 3.0
# An attempt that waited for its rate slot (up to pacing.INLINE_SECONDS) is sent only if its job,
# read at most this long ago, is not paused or cancelled: a pause stops what a batch had not sent.
JOB_RECHECK_SECONDS = 1.0

Verdict = Literal["delivered", "retry", "failed", "gone"]


@dataclass(frozen=True)
class Incoming:
    """One SQS record, as much of it as the consumer needs."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int = 1  # SQS's ApproximateReceiveCount: this receive included


@dataclass
class BatchResult:
    failed_message_ids: list[str] = field(default_factory=list)
    # receipt handle → seconds until the message is visible again (the retry's backoff)
    visibility: dict[str, int] = field(default_factory=dict)
    attempts: int = 0
    parked: int = 0  # pairs whose wait was too long for SQS: parked, their messages done
    paused: int = 0  # of those, pairs held by their paused job (parked under the job)
    cancelled: int = 0  # pairs ended `cancelled` by their job's cancel, without an attempt
    held: int = 0  # URLs a rate limit held without an attempt (SPEC §12)
    deferrals: int = 0  # 429/503 answers that deferred their pair without using up an attempt


@dataclass
class Target:
    """One URL of a pair, with the request to send it (signed afresh at each attempt)."""

    url_index: int
    url: str
    method: str
    body: bytes | None
    secret: str
    message_id: str  # the Standard Webhooks `webhook-id`
    extra_headers: dict[str, str]
    # What the signature covers when it is not the body as sent: a gzip postback signs its JSON,
    # since Standard Webhooks verifiers take the payload as text (receivers decompress first).
    signed: bytes | None = None

    def headers(self, now: int) -> dict[str, str]:
        payload = self.signed if self.signed is not None else (self.body or b"")
        return {**self.extra_headers, **signing.headers(self.secret, self.message_id, now, payload)}


@dataclass
class Work:
    incoming: Incoming
    message: PairMessage
    targets: list[Target] = field(default_factory=list)
    problem: str | None = None  # the pair cannot be delivered at all (item or webhook gone)
    records: dict[int, Delivery] = field(default_factory=dict)
    already_done: bool = False
    deferred: bool = False
    gone_webhook: bool = False
    # The URL and the answer that deactivated the webhook (a 410): its webhook.deactivated event.
    gone_answer: dict[str, Any] | None = None
    webhook: dict[str, Any] | None = None  # the webhook's record as read (item pairs)
    rate: float | None = None  # the webhook's effective rate limit (None: unpaced)
    stopped: str | None = None  # its job is paused or cancelled: no attempt (SPEC §11)


@dataclass
class Hold:
    """A URL the webhook's rate limit holds without an attempt: until a little before the slot
    reserved for it (`slot_us`), or, with no slot free within the budget's horizon, until `due_us`
    (parked). `remembered`: its record says so already."""

    work: Work
    target: Target
    due_us: int
    slot_us: int | None = None
    remembered: bool = False
    full: bool = False  # no slot: the budget is taken for its whole horizon


# Why a message waits: (seconds, the reason it is parked with, whether it must be parked).
Waiting = tuple[int, parking.Reason, bool]


def classify(attempt: Attempt) -> Verdict:
    """2xx delivered; 408, 429, 5xx, timeouts and connection errors retried; 410 gone; else failed."""
    if attempt.permanent:
        return "failed"
    code = attempt.status_code
    if code is None:
        return "retry"
    if 200 <= code < 300:
        return "delivered"
    if code in (408, 429) or code >= 500:
        return "retry"
    if code == 410:
        return "gone"
    return "failed"


def describe(attempt: Attempt) -> str | None:
    if attempt.error:
        return attempt.error
    code = attempt.status_code or 0
    if 200 <= code < 300:
        return None
    if 300 <= code < 400:
        return f"HTTP {code}: redirects are not followed"
    return f"HTTP {code}"


def soon(rng: random.Random) -> int:
    """When a message that was not done comes back: SOON seconds, spread by jitter so that the
    messages of a throttled batch do not all return at once."""
    return SOON + rng.randint(0, SOON)


class Deliverer:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        sender_factory: Callable[[], AbstractAsyncContextManager[HttpSender]],
        *,
        time_left: Callable[[], float] = lambda: float("inf"),
        rng: random.Random | None = None,
        notifier: Notifier | None = None,
    ) -> None:
        self._store = store
        self._settings = settings
        self._sender_factory = sender_factory
        self._time_left = time_left
        self._rng = rng or random.Random()
        # Operational events (resend.completed, webhook.deactivated); none without one.
        self._notifier = notifier
        self._started: dict[int, float] = {}  # id of a target → when its attempt started (epoch s)
        # (tenant id, job id) → (when its state was read, monotonic s; the state): see _job_state
        self._job_states: dict[tuple[str, str], tuple[float, str | None]] = {}
        self._job_locks: dict[tuple[str, str], asyncio.Lock] = {}
        # id of a Work → the state (paused, cancelled) that kept one of its attempts from starting
        self._stopped_late: dict[int, str] = {}
        # tenant id → its record as the batch read it (None: no such tenant), for the batch's
        # operational events: a batch that completes a job reads no tenant again to announce it
        self._tenants: dict[str, dict[str, Any] | None] = {}
        # (tenant id, job id) → the job item as the batch read it (None: none) and when (epoch s)
        self._jobs_read: dict[tuple[str, str], tuple[dict[str, Any] | None, float]] = {}

    def _soon(self) -> int:
        return soon(self._rng)

    # -- reading ----------------------------------------------------------------------------------
    def _parse(self, batch: list[Incoming], result: BatchResult) -> list[Work]:
        work = []
        for incoming in batch:
            try:
                message = PairMessage.model_validate_json(incoming.body)
            except ValidationError as exc:
                # Retried until maxReceiveCount moves it to the dead-letter queue for a human.
                logger.error(
                    "unreadable message", extra={"message_id": incoming.message_id, "errors": exc.errors()}
                )
                result.failed_message_ids.append(incoming.message_id)
                continue
            work.append(Work(incoming, message))
        return work

    def _load_subjects(self, work: list[Work]) -> dict[tuple[str, str], dict[str, Any]]:
        """Read every pair's subject, and in the same round the delivery records it most likely
        has (a webhook's first URL, which also says whether the pair was counted; a task's
        pingback and postback), so that a batch of single-URL webhooks is read in one BatchGetItem
        round. Answer what was read, for `_load_records`."""
        wanted = []
        for w in work:
            m = w.message
            # Its tenant: a task's callback secret; the notify_url of a job the batch completes.
            wanted.append(keys.tenant(m.tenant_id))
            if m.kind == "task":
                wanted.append(keys.task(m.tenant_id, m.subject_id))
            else:
                wanted += [keys.item(m.tenant_id, m.subject_id), keys.webhook(m.tenant_id, m.webhook_id)]
            wanted += _record_keys(m, _likely_indexes(m))
            # Its job, in the same round: is it paused or cancelled (SPEC §11)?
            wanted.append(keys.job(m.tenant_id, m.job_id))
        found = self._store.get_records(_unique(wanted))
        self._tenants = {w.message.tenant_id: None for w in work}
        self._jobs_read = {}
        read_at = clock.now().timestamp()
        for w in work:
            m = w.message
            self._tenants[m.tenant_id] = found.get(_key(keys.tenant(m.tenant_id)))
            job = found.get(_key(keys.job(m.tenant_id, m.job_id))) or {}
            self._jobs_read[m.job_key] = (job or None, read_at)
            self._job_states[(m.tenant_id, m.job_id)] = (time.monotonic(), job.get("state"))
            if job.get("state") in (PAUSED, CANCELLED):
                w.stopped = job["state"]
            if m.kind == "task":
                task = found.get(_key(keys.task(m.tenant_id, m.subject_id)))
                tenant = found.get(_key(keys.tenant(m.tenant_id)))
                if task is None or tenant is None:
                    w.problem = "task no longer exists"
                else:
                    w.targets = self._task_targets(m, task, tenant["callback_secret"])
                    if not w.targets:
                        w.problem = "task has neither pingback_url nor postback_url"
                continue
            item = found.get(_key(keys.item(m.tenant_id, m.subject_id)))
            webhook = found.get(_key(keys.webhook(m.tenant_id, m.webhook_id)))
            if item is None:
                w.problem = "content item no longer exists"
            elif webhook is None:
                w.problem = "webhook no longer exists"
            elif not webhook.get("active", True):
                w.problem = "webhook is inactive"
            else:
                w.targets = self._item_targets(m, item, webhook)
                w.webhook = webhook
                w.rate = pacing.rate_of(webhook, self._settings.default_rate_limit, int(time.time() * 1000))
        return found

    def _item_targets(
        self, message: PairMessage, item: dict[str, Any], webhook: dict[str, Any]
    ) -> list[Target]:
        event_id = signing.event_id(message.job_id, message.subject_id, message.webhook_id)
        # The stored payload is already compact JSON (Store.put_item): spliced in as it is, the
        # body is what json.dumps of the whole envelope would give, without parsing it per webhook.
        envelope = json.dumps(
            {"id": event_id, "created_on": message.created_on, "event": message.event, "payload": None},
            separators=(",", ":"),
        )
        payload = with_item_fields(item.get("payload") or "{}", message.subject_id, item.get("model"))
        body = (envelope.removesuffix("null}") + payload + "}").encode()
        extra = {"content-type": "application/json", "x-webhook-resend-id": message.job_id}
        return [
            Target(index, url, "POST", body, webhook["secret"], event_id, extra)
            for index, url in enumerate(webhook["urls"])
        ]

    def _task_targets(self, message: PairMessage, task: dict[str, Any], secret: str) -> list[Target]:
        """The pingback (GET, index 0) and postback (POST, gzip, index 1) of a task."""
        data = json.loads(task["data"])
        tag = data.get("tag")
        extra = {"x-webhook-resend-id": message.job_id}
        targets = []
        if data.get("pingback_url"):
            url = callbacks.callback_url(data["pingback_url"], message.subject_id, tag)
            event_id = signing.event_id(message.job_id, message.subject_id, "pingback")
            targets.append(Target(0, url, "GET", None, secret, event_id, extra))
        if data.get("postback_url"):
            url = callbacks.callback_url(data["postback_url"], message.subject_id, tag)
            event_id = signing.event_id(message.job_id, message.subject_id, "postback")
            document = callbacks.postback_document(message, data, json.loads(task.get("result") or "null"))
            headers = {**extra, "content-type": "application/json", "content-encoding": "gzip"}
            body = gzip.compress(document, mtime=0)
            targets.append(Target(1, url, "POST", body, secret, event_id, headers, signed=document))
        return targets

    def _load_records(self, work: list[Work], read: dict[tuple[str, str], dict[str, Any]]) -> None:
        """Each pair's delivery records, from what `_load_subjects` read, with a second round only
        for the records of webhooks' further URLs. A pair whose first record carries its count
        has ended: nothing of it is done again."""
        further = [
            key
            for w in work
            for key in _record_keys(
                w.message, [t.url_index for t in w.targets if t.url_index not in _likely_indexes(w.message)]
            )
        ]
        found = read | self._store.get_records(further) if further else read
        for w in work:
            m = w.message
            first = found.get(_key(keys.delivery(m.tenant_id, m.job_id, m.subject_id, m.webhook_id, 0)))
            if first is not None and COUNTED in first:
                w.already_done = True
                continue
            for target in w.targets or [None]:
                index = target.url_index if target else 0
                record = found.get(
                    _key(keys.delivery(m.tenant_id, m.job_id, m.subject_id, m.webhook_id, index))
                )
                w.records[index] = (
                    delivery_from(record)
                    if record
                    # A new record, of values already validated (the message's, the target's).
                    else Delivery.model_construct(
                        job_id=m.job_id,
                        subject_id=m.subject_id,
                        kind=m.kind,
                        webhook_id=m.webhook_id,
                        url_index=index,
                        url=target.url if target else "",
                        method=target.method if target else "POST",
                        event=m.event,
                        status="pending",
                    )
                )

    # -- sending ----------------------------------------------------------------------------------
    async def _job_state(self, tenant_id: str, job_id: str) -> str | None:
        """The job's state, read again when the batch's read of it is older than
        JOB_RECHECK_SECONDS (one read at a time per job: the attempts waiting share it). A read
        that fails keeps the last state known."""
        key = (tenant_id, job_id)
        async with self._job_locks.setdefault(key, asyncio.Lock()):
            read_at, state = self._job_states.get(key, (0.0, None))
            if time.monotonic() - read_at >= JOB_RECHECK_SECONDS:
                try:
                    record = await asyncio.to_thread(self._store.job_record, tenant_id, job_id)
                    state = (record or {}).get("state")
                except (ClientError, BotoCoreError) as exc:
                    logger.warning("job not read again", extra={"error": _aws_error(exc)})
                self._job_states[key] = (time.monotonic(), state)
            return state

    async def _attempt(
        self, sender: HttpSender, target: Target, slot_us: int | None = None, work: Work | None = None
    ) -> Attempt | None:
        """The attempt, or None if it was not started (the message comes back soon, no attempt
        counted): it starts only while its whole timeout and the commit still fit in the time
        left, asked when it holds a sender slot, after any wait for one. A paced attempt first
        waits for its rate slot, and starts only within LATE_SECONDS of it (see pacing)."""
        needed = self._settings.delivery_timeout_seconds + COMMIT_MARGIN_SECONDS
        late_us = int(pacing.LATE_SECONDS * 1_000_000)

        def may_start() -> bool:
            if self._time_left() < needed:
                return False
            if slot_us is not None and pacing.now_us() > slot_us + late_us:
                return False  # missed: used late, the slot could crowd the next ones
            self._started[id(target)] = time.time()
            return True

        if slot_us is not None:
            # asyncio may wake a timer a clock tick early: sleep until the slot has come.
            while (wait := slot_us - pacing.now_us()) > 0:
                await asyncio.sleep(wait / 1_000_000)
            # Its job may have been paused or cancelled while it waited: then it is not started
            # (its message comes back soon, and is held or ended then).
            if work is not None and (state := await self._job_state(*work.message.job_key)) in (
                PAUSED,
                CANCELLED,
            ):
                self._stopped_late[id(work)] = str(state)
                return None
        elif self._time_left() < needed:
            return None
        now = int(time.time())
        return await sender.send(
            target.method, target.url, target.headers(now), target.body, may_start=may_start
        )

    def _apply(self, w: Work, target: Target, attempt: Attempt) -> tuple[int, parking.Reason] | None:
        """Update the URL's record with the attempt; the retry delay (and why) if it must be tried
        again. A 429 or 503 defers the pair without using up an attempt, up to a day of such waits
        (`backoff.deferral_delay`); the retry schedule counts the other attempts only."""
        record = w.records[target.url_index]
        verdict = classify(attempt)
        now = clock.now_text()
        record.attempts += 1
        record.next_attempt_on = None
        record.held_until = None
        record.held_on = None
        record.url = target.url
        record.last_attempt_on = now
        record.latency_ms = attempt.latency_ms
        record.last_status_code = attempt.status_code
        record.last_error = describe(attempt)
        record.last_response = attempt.body[:1024] or None
        if verdict == "delivered":
            record.status = "delivered"
            record.delivered_on = now
            return None
        if verdict == "gone":
            w.gone_webhook = True
            w.gone_answer = {
                "url": target.url,
                "answer": {"status_code": attempt.status_code, "body": attempt.body[:1024]},
            }
            record.status = "failed"
            record.last_error = "HTTP 410: the receiver is gone; the webhook was deactivated"
            return None
        if verdict == "failed":
            record.status = "failed"
            return None
        retry_after = backoff.retry_after_seconds(attempt.retry_after)
        if attempt.status_code in pacing.SLOWING_CODES:
            schedule = self._settings.retry_schedule
            wait = backoff.deferral_delay(
                record.deferrals, record.deferred_seconds, schedule, retry_after, self._rng
            )
            if wait is not None:
                record.deferrals += 1
                record.deferred_seconds += wait
                record.status = "retrying"
                record.last_error = f"{record.last_error}: deferred {wait} s, not counted as an attempt"
                return wait, "deferred"
        used = record.attempts - record.deferrals
        delay = backoff.delay_before_retry(used, self._settings.retry_schedule, retry_after, self._rng)
        if delay is None:
            record.status = "failed"
            deferred = f" and {record.deferrals} deferrals" if record.deferrals else ""
            record.last_error = f"{record.last_error} (gave up after {used} attempts{deferred})"
            return None
        record.status = "retrying"
        return delay, "retry"

    # -- pacing (SPEC §12; see pacing.py) ---------------------------------------------------------
    def _pace(
        self, todo: list[tuple[Work, Target]], now_us: int
    ) -> tuple[list[tuple[Work, Target, int | None]], list[Hold]]:
        """Give each URL of a paced webhook a slot: the one its record holds still (reserved
        earlier, not missed, not from before a halving), or a new one from the shared budget, one
        reservation per URL for the whole batch. Attempts whose slot is within INLINE_SECONDS are
        sent at it; the rest are held without an attempt."""
        inline_us = int(pacing.INLINE_SECONDS * 1_000_000)
        late_us = int(pacing.LATE_SECONDS * 1_000_000)
        lead_us = pacing.LEAD_SECONDS * 1_000_000
        # A held slot waits in SQS, so no further than a message may stay in flight, plus the lead.
        horizon_us = max(inline_us, (self._settings.park_after_seconds + pacing.LEAD_SECONDS) * 1_000_000)
        sending: list[tuple[Work, Target, int | None]] = []
        holds: list[Hold] = []
        wanted: dict[tuple[str, str, str], list[tuple[Work, Target]]] = {}
        for w, t in todo:
            if w.rate is None or w.webhook is None:
                sending.append((w, t, None))
                continue
            record = w.records[t.url_index]
            slot = _remembered_slot(record, t, w.webhook)
            if slot is not None and slot >= now_us - late_us:
                if slot <= now_us + inline_us:
                    sending.append((w, t, slot))
                else:
                    holds.append(Hold(w, t, slot - lead_us, slot, remembered=True))
                continue
            record.held_until = record.held_on = None
            wanted.setdefault((w.message.tenant_id, w.message.webhook_id, t.url), []).append((w, t))
        # A budget's item outlives its last slot by a day, then expires (an idle budget is empty).
        expires_at = clock.expires_at(1, start=clock.now() + timedelta(microseconds=horizon_us))
        for (tenant_id, webhook_id, url), group in wanted.items():
            rate = group[0][0].rate or pacing.MIN_RATE
            key = keys.rate_budget(tenant_id, webhook_id, url)
            spacing = pacing.spacing_us(rate)
            try:
                slots = pacing.take_slots(
                    self._store,
                    key,
                    len(group),
                    spacing,
                    now_us + int(pacing.SETUP_SECONDS * 1_000_000),
                    horizon_us - int(pacing.SETUP_SECONDS * 1_000_000),
                    expires_at,
                    pacing.guess(key),
                )
            except (ClientError, BotoCoreError) as exc:
                # Nothing is sent unpaced: the URL's pairs come back soon and take slots then.
                logger.warning("rate budget not taken", extra={"error": _aws_error(exc)})
                slots = pacing.Slots(now_us, spacing, 0, None)
            if slots.next_free_us is not None:
                pacing.remember(key, slots.next_free_us)
            for index, (w, t) in enumerate(group):
                if index < slots.count:
                    slot = slots.at(index)
                    if slot <= now_us + inline_us:
                        sending.append((w, t, slot))
                    else:
                        holds.append(Hold(w, t, slot - lead_us, slot))
                elif slots.next_free_us is None:
                    holds.append(Hold(w, t, now_us + self._soon() * 1_000_000))
                else:
                    # The budget is taken for the whole horizon: parked until half of it is used.
                    due = max(now_us + 1_000_000, slots.next_free_us - horizon_us // 2)
                    holds.append(Hold(w, t, due, full=True))
        return sending, holds

    def _hold(
        self,
        holds: list[Hold],
        now_us: int,
        delays: dict[str, list[Waiting]],
        changed: dict[str, set[int]],
        result: BatchResult,
    ) -> None:
        """Hold each URL without an attempt: one with a slot until LEAD_SECONDS before it (a
        visibility timeout, its record naming the slot, so the pair comes back to it), one without
        (no slot free within the horizon, or the budget could not be written) parked, or soon."""
        reserved_on = clock.canonical(datetime.fromtimestamp(now_us / 1_000_000, UTC))
        for hold in holds:
            message_id = hold.work.incoming.message_id
            wait = max(0, (hold.due_us - now_us) // 1_000_000)  # rounded down: back early, not late
            # A budget taken for its whole horizon is parked for, whatever the wait: waiting for it
            # again and again in SQS would use up the message's receives.
            delays.setdefault(message_id, []).append((wait, "rate_limit", hold.full))
            result.held += 1
            if hold.slot_us is None or hold.remembered:
                continue
            record = hold.work.records[hold.target.url_index]
            record.url = hold.target.url
            record.held_until = record.next_attempt_on = pacing.slot_text(hold.slot_us)
            record.held_on = reserved_on
            changed.setdefault(message_id, set()).add(hold.target.url_index)

    def _slow_down(
        self, slowed: list[tuple[Work, int]], paced: list[tuple[Work, Target, int | None]], now_us: int
    ) -> None:
        """Halve the pace of each webhook that answered 429/503 (once per reservation: not again
        for answers to requests whose slots were taken before its last halving), and bring its
        budgets back so that the slots reserved at the old pace are taken again at the new one.
        A webhook without a rate limit gets half the rate this batch sent its URLs."""
        by_webhook: dict[tuple[str, str], list[tuple[Work, int]]] = {}
        for w, taken_ms in slowed:
            by_webhook.setdefault((w.message.tenant_id, w.message.webhook_id), []).append((w, taken_ms))
        for (tenant_id, webhook_id), answers in by_webhook.items():
            w = answers[0][0]
            urls = list((w.webhook or {}).get("urls") or [])
            sent: dict[str, list[float]] = {}
            for v, t, _ in paced:
                same = (v.message.tenant_id, v.message.webhook_id) == (tenant_id, webhook_id)
                if same and id(t) in self._started:
                    sent.setdefault(t.url, []).append(self._started[id(t)])
            observed = max((pacing.observed_rate(times) for times in sent.values()), default=pacing.MIN_RATE)
            rate = pacing.halved(w.rate, observed)
            try:
                if not self._store.slow_webhook(
                    tenant_id, webhook_id, rate, now_us // 1000, max(taken for _, taken in answers)
                ):
                    continue
                for url in urls:
                    key = keys.rate_budget(tenant_id, webhook_id, url)
                    self._store.pull_budget(key, pacing.reset_point(now_us))
                    pacing.forget(key)
            except (ClientError, BotoCoreError) as exc:
                # The pairs are deferred either way; the webhook's next 429/503 slows it.
                logger.warning("webhook not slowed", extra={"error": _aws_error(exc)})
            else:
                logger.info("webhook slowed", extra={"webhook_id": webhook_id, "per_second": round(rate, 3)})

    # -- the batch --------------------------------------------------------------------------------
    async def run(self, batch: list[Incoming]) -> BatchResult:
        result = BatchResult()
        work = self._parse(batch, result)
        # SQS may hand the same pair twice in one batch: work it once (one transaction may not
        # touch an item twice); the copies succeed with it, as its records will say.
        work = list({w.message.pair_key: w for w in reversed(work)}.values())[::-1]
        if not work:
            return result
        try:
            self._load_records(work, self._load_subjects(work))
        except (ClientError, BotoCoreError, StoreBusyError) as exc:
            # Nothing was sent: every message comes back (soon, spread out) and is read again.
            logger.warning("batch not read", extra={"error": _aws_error(exc), "messages": len(work)})
            for w in work:
                result.failed_message_ids.append(w.incoming.message_id)
                result.visibility[w.incoming.receipt_handle] = self._soon()
            return result

        todo = [
            (w, t)
            for w in work
            if not w.already_done and not w.problem and not w.stopped
            for t in w.targets
            if not w.records[t.url_index].terminal
        ]
        self._started = {}
        self._stopped_late = {}
        started_us = pacing.now_us()
        paced: list[tuple[Work, Target, int | None]] = []
        holds: list[Hold] = []
        attempts: list[Attempt | BaseException | None] = []
        if todo:
            async with self._sender_factory() as sender:
                # Slots are taken once the sender is set up (its first use imports aiohttp), so
                # that the first ones are not missed.
                started_us = pacing.now_us()
                paced, holds = self._pace(todo, started_us)
                # One attempt's exception must not lose the others' results (the sender already
                # turns every error of an attempt into its Attempt; this is the second guard).
                attempts = await asyncio.gather(
                    *(self._attempt(sender, t, slot, w) for w, t, slot in paced), return_exceptions=True
                )

        delays: dict[str, list[Waiting]] = {}
        changed: dict[str, set[int]] = {}
        slowed: list[tuple[Work, int]] = []  # 429/503 answers: the pair, when its slot was taken (ms)
        attempted: set[int] = set()
        for (w, target, slot), sent in zip(paced, attempts, strict=True):
            attempt = _attempt_of(sent)
            if attempt is None:
                w.deferred = True
                continue
            attempted.add(id(w))
            result.attempts += 1
            changed.setdefault(w.incoming.message_id, set()).add(target.url_index)
            if attempt.status_code in pacing.SLOWING_CODES and w.webhook is not None:
                slowed.append((w, _taken_ms(w.records[target.url_index], slot, started_us)))
            waits = self._apply(w, target, attempt)
            if waits is not None:
                delays.setdefault(w.incoming.message_id, []).append((waits[0], waits[1], False))
                result.deferrals += waits[1] == "deferred"
        # A pair none of whose attempts started because its job was paused or cancelled meanwhile
        # is held or ended in this batch, as if the batch had read the job so (one that sent a
        # URL already comes back soon instead, and is held or ended then).
        for w in work:
            if id(w) in self._stopped_late and id(w) not in attempted:
                w.stopped, w.deferred = self._stopped_late[id(w)], False
        self._hold(holds, started_us, delays, changed, result)
        self._slow_down(slowed, paced, started_us)

        # When each retried pair's message comes back: its records show it (`next_attempt_on`).
        now = clock.now()
        for w in work:
            message_id = w.incoming.message_id
            if message_id not in delays:
                continue
            wait = SOON if w.deferred else min(delays[message_id])[0]
            due = clock.canonical(now + timedelta(seconds=wait))
            for index in changed.get(message_id, ()):
                # A held URL's record names its own slot (`held_until`).
                if w.records[index].status == "retrying" and w.records[index].held_until is None:
                    w.records[index].next_attempt_on = due

        outcomes: list[tuple[Work, PairOutcome]] = []
        for w in work:
            if w.already_done or w.stopped == PAUSED:
                continue
            if w.stopped == CANCELLED:
                outcomes.append((w, self._cancelled(w)))
                result.cancelled += 1
                continue
            if w.problem:
                record = w.records[0]
                if not record.terminal:  # a terminal record is never rewritten
                    record.status = "failed"
                    record.last_error = w.problem
                    record.last_attempt_on = clock.now_text()
                    changed.setdefault(w.incoming.message_id, set()).add(0)
            records = list(w.records.values())
            ended = all(r.terminal for r in records) and not w.deferred
            terminal = None
            if ended:
                terminal = "delivered" if all(r.status == "delivered" for r in records) else "failed"
            touched = changed.get(w.incoming.message_id, set())
            outcome = PairOutcome(
                tenant_id=w.message.tenant_id,
                job_id=w.message.job_id,
                subject_id=w.message.subject_id,
                webhook_id=w.message.webhook_id,
                records=[r for r in records if r.url_index in touched],
                terminal=terminal,
                # Why it failed, from all its records (the batch may rewrite only some of them).
                cause=progress.pair_cause(records) if terminal == "failed" else None,
            )
            if outcome.records or outcome.terminal:
                outcomes.append((w, outcome))

        gone = {(w.message.tenant_id, w.message.webhook_id): w.gone_answer for w in work if w.gone_webhook}
        for (tenant_id, webhook_id), answer in gone.items():
            try:
                webhook = self._store.deactivate_webhook(tenant_id, webhook_id)
            except (ClientError, BotoCoreError) as exc:
                # The 410 is recorded either way; the webhook's next 410 deactivates it.
                logger.warning("webhook not deactivated", extra={"error": _aws_error(exc)})
                continue
            # -- operational event (issue 15): only the call that turned it inactive announces it
            if webhook is not None and self._notifier is not None:
                self._notifier.webhook_deactivated(
                    tenant_id, {"webhook": webhook.model_dump(), **(answer or {})}
                )

        retention = clock.expires_at(self._settings.delivery_retention_days)
        unwritten = self._store.commit([o for _, o in outcomes], clock.now_text(), retention)
        unwritten_ids = {id(o) for o in unwritten}

        # -- operational event (issue 15): a job this batch counted pairs of may be complete. A
        # message whose pair was counted already comes back when a run died after its commit:
        # its job is looked at again, so a completion is never missed (the claim decides once).
        if self._notifier is not None:
            counted = {
                (o.tenant_id, o.job_id) for _, o in outcomes if o.terminal and id(o) not in unwritten_ids
            }
            counted |= {(w.message.tenant_id, w.message.job_id) for w in work if w.already_done}
            counts = Counter(
                (o.tenant_id, o.job_id) for _, o in outcomes if o.terminal and id(o) not in unwritten_ids
            )
            ending = events.likely_ended(self._jobs_read, counts, clock.now().timestamp())
            self._notifier.jobs_counted(counted, self._tenants, ending)

        for w, outcome in outcomes:
            message_id = w.incoming.message_id
            if id(outcome) in unwritten_ids:
                result.failed_message_ids.append(message_id)
                result.visibility[w.incoming.receipt_handle] = self._soon()
        waiting: list[tuple[Work, parking.Wait]] = []
        for w in work:
            message_id = w.incoming.message_id
            if message_id in result.failed_message_ids or w.already_done:
                continue
            if w.stopped == PAUSED:
                # Held without an attempt until its job is resumed or cancelled: due now, so that
                # its parked item sorts by when it was held.
                waiting.append((w, parking.Wait(w.message, now), "paused"))
            elif w.deferred or message_id in delays:
                if w.deferred:  # its attempt never started: back soon, no attempt used up
                    delay, reason, must_park, used_attempt = self._soon(), "retry", False, False
                else:
                    delay, reason, must_park = min(delays[message_id])
                    used_attempt = reason == "retry"
                if (
                    must_park
                    or parking.should_park(delay, self._settings.park_after_seconds)
                    or (not used_attempt and self._last_receives(w))
                ):
                    waiting.append((w, parking.Wait(w.message, now + timedelta(seconds=delay)), reason))
                else:
                    result.failed_message_ids.append(message_id)
                    result.visibility[w.incoming.receipt_handle] = delay
        parked = self._park(waiting, result)
        if parked:
            self._release_if_moved(parked, result)
        return result

    def _last_receives(self, w: Work) -> bool:
        """Whether the pair's message is on its last receives before SQS dead-letters it. A wait
        that uses up no attempt (a 429/503's deferral, a rate limit's, a batch out of time) is
        then parked rather than handed back, and the waker sends it back as a new message: such
        waits may last a day (SPEC §12) and must never dead-letter a pair. A retry's backoff is
        not: attempts end a pair `failed` before its receives run out (DeliveryMaxReceiveCount
        above the retry schedule's length), and a queue configured otherwise dead-letters it, as
        its dead-letter function expects. RECEIVES_KEPT receives stay for what parking cannot
        help (a batch that dies, a commit that fails)."""
        return w.incoming.receive_count >= self._settings.delivery_max_receive_count - RECEIVES_KEPT

    def _cancelled(self, w: Work) -> PairOutcome:
        """A pair of a cancelled job ends `cancelled` without an attempt: each of its records not
        ended yet says so. Its first record carries the count as any pair's end (Store.commit)."""
        now = clock.now_text()
        touched = []
        for record in w.records.values():
            if record.terminal:
                continue
            record.status = "cancelled"
            record.last_error = CANCELLED_ERROR
            record.next_attempt_on = record.held_until = record.held_on = None
            if record.last_attempt_on is None:
                record.last_attempt_on = now
            touched.append(record)
        m = w.message
        return PairOutcome(
            tenant_id=m.tenant_id,
            job_id=m.job_id,
            subject_id=m.subject_id,
            webhook_id=m.webhook_id,
            records=touched,
            terminal="cancelled",
        )

    def _release_if_moved(
        self, parked: list[tuple[Work, parking.Wait, parking.Reason]], result: BatchResult
    ) -> None:
        """A job resumed or cancelled between this batch's read of it and its parking of the
        job's pairs: that move's walk may have read the job's parked pairs before these were
        parked. So the job is read again (once per job, only when the batch parked pairs of it);
        pairs held because it was paused are released if it is not paused any more, and pairs
        parked for a backoff, a deferral or a rate limit if it was cancelled meanwhile (an attempt
        on the wire at the cancel). Released pairs are taken out of the parked items and their
        messages come back at once, to be sent (or ended `cancelled`) like any other."""
        jobs = {(w.message.tenant_id, w.message.job_id) for w, _, _ in parked}
        states: dict[tuple[str, str], str | None] = {}
        for tenant_id, job_id in jobs:
            try:
                record = self._store.job_record(tenant_id, job_id) or {}
            except (ClientError, BotoCoreError) as exc:
                logger.warning("parked job not read again", extra={"error": _aws_error(exc)})
                continue
            states[(tenant_id, job_id)] = record.get("state")

        def released(w: Work, reason: str) -> bool:
            key = (w.message.tenant_id, w.message.job_id)
            if key not in states:
                return False
            state = states[key]
            return state != PAUSED if reason == "paused" else state == CANCELLED

        back = [(w, wait, reason) for w, wait, reason in parked if released(w, reason)]
        if not back:
            return
        pairs = [ParkedPair(wait.message, clock.canonical(wait.due), reason) for _, wait, reason in back]
        self._store.unpark(pairs)
        for w, _, reason in back:
            # Whether its item was deleted or not, the message is the pair's: a duplicate of it
            # (a walk that woke the item) is absorbed by the commit.
            result.failed_message_ids.append(w.incoming.message_id)
            result.visibility[w.incoming.receipt_handle] = 0
            result.parked -= 1
            if reason == "paused":
                result.paused -= 1

    def _park(
        self, waiting: list[tuple[Work, parking.Wait, parking.Reason]], result: BatchResult
    ) -> list[tuple[Work, parking.Wait, parking.Reason]]:
        """Park the pairs whose wait is longer than a message may stay in flight: a parked pair's
        message is done. One whose park could not be written stays on the queue, back after the
        longest wait SQS may hold it, and is tried then (its records are written already).
        Answers the pairs parked."""
        if not waiting:
            return []
        left: set[int] = set()
        for reason in dict.fromkeys(reason for _, _, reason in waiting):
            not_parked = parking.park(
                self._store,
                [wait for _, wait, why in waiting if why == reason],
                reason,
                keep_days=self._settings.delivery_retention_days,
            )
            left |= {id(wait) for wait in not_parked}
        held = []
        for w, wait, reason in waiting:
            if id(wait) in left:
                result.failed_message_ids.append(w.incoming.message_id)
                result.visibility[w.incoming.receipt_handle] = max(SOON, self._settings.park_after_seconds)
            else:
                result.parked += 1
                if reason == "paused":
                    result.paused += 1
                held.append((w, wait, reason))
        return held


def with_item_fields(payload: str, item_id: str, model: str | None) -> str:
    """The stored payload (compact JSON of an object) with the content item's `id` and `model`
    first when it lacks them (SPEC §15: Prepr receivers read `payload.id`); what the payload has
    is kept as it is."""
    present = json.loads(payload)
    added = {"id": item_id, "model": model}
    fields = ",".join(
        f"{json.dumps(name)}:{json.dumps(value)}"
        for name, value in added.items()
        if name not in present and value is not None
    )
    if not fields:
        return payload
    return "{" + fields + ("," if payload != "{}" else "") + payload[1:]


def _aws_error(exc: Exception) -> str:
    """An AWS error's code or kind, for a log line (never its message, which may quote a key)."""
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def _attempt_of(outcome: Attempt | BaseException | None) -> Attempt | None:
    """An attempt's result, an exception it raised made a retryable failure of that attempt."""
    if not isinstance(outcome, BaseException):
        return outcome
    if not isinstance(outcome, Exception):
        raise outcome  # a cancellation or an exit is not one attempt's failure
    attempt = failed_attempt(outcome)
    logger.error("an attempt raised", extra={"error": attempt.error})
    return attempt


def _remembered_slot(record: Delivery, target: Target, webhook: dict[str, Any]) -> int | None:
    """The slot a held URL's record reserved, if it may still be used: for this very URL, and
    reserved after the webhook's last halving (slots of the old pace are given up)."""
    if record.held_until is None or record.held_on is None or record.url != target.url:
        return None
    if "paced_on" in webhook and pacing.slot_of(record.held_on) // 1000 < int(webhook["paced_on"]):
        return None
    return pacing.slot_of(record.held_until)


def _taken_ms(record: Delivery, slot_us: int | None, started_us: int) -> int:
    """When the slot of an attempt was taken (ms): a remembered slot when its record says, else now."""
    if slot_us is not None and record.held_on is not None:
        return pacing.slot_of(record.held_on) // 1000
    return started_us // 1000


def _likely_indexes(message: PairMessage) -> list[int]:
    """The URL indexes read with the subjects: a task's pingback and postback, a webhook's first
    URL. The first (index 0) is always among them: it says whether the pair was counted."""
    return [0, 1] if message.kind == "task" else [0]


def _record_keys(m: PairMessage, indexes: list[int]) -> list[dict[str, str]]:
    return [keys.delivery(m.tenant_id, m.job_id, m.subject_id, m.webhook_id, index) for index in indexes]


def _key(key: dict[str, str]) -> tuple[str, str]:
    return (key["pk"], key["sk"])


def _unique(key_list: list[dict[str, str]]) -> list[dict[str, str]]:
    return list({_key(k): k for k in key_list}.values())
