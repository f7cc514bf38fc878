"""Part 2, delivery at the deployed shape: DeliverFunction's handler (functions/deliver/deliver.py,
warm, ALLOW_PRIVATE_URLS=true) with SQS batches of exactly the template's `BatchSize` pair
messages, next to a raw baseline that does the same job with the plain libraries, interleaved in
the same run.

Two variants: every webhook with one URL (the headline figures), and every webhook with ten URLs
(`delivery_10url_*`, ten POSTs per message). Each message is a (content item, webhook) pair, the
batch the first `BatchSize` pairs of a Prepr-style fan-out (items x 10 webhooks, item by item).
Every POST goes to the local receiver (bench/receiver.py: a child process answering after 50 ms).

The baseline sends the same requests (same URLs, bodies, Standard Webhooks signatures, at most as
many in flight as the sender allows) with raw aiohttp, one session per batch, then writes the
same delivery records (the items the consumer's transaction put, taken from a capture run) with
raw boto3 `batch_write_item`, 25 a call, to the same moto process. It neither reads DynamoDB
nor counts the job: what the consumer does beyond it (reading items, webhooks and records,
conditions, the transaction and the job's counters) is the consumer's overhead.

CPU is each side's process CPU (time.process_time): the DynamoDB client's work (serialising,
signing, the HTTP exchange, parsing) is counted, as a deployed function pays it; moto and the
receiver run in processes of their own, and moto's CPU is reported apart. Wall is each side's,
with moto's answer time (botocore's `before-send` to `before-parse`) taken out of both: moto's
TransactWriteItems deep-copies its table once per item, which is not DynamoDB's latency.
SQS is a real botocore client sent to bench/sqs_endpoint.py (a successful batch makes no call).

Cost figures per pair come from a capture run of each side: DynamoDB capacity units computed
from the items written and read (bench/capacity.py), SQS requests counted by the endpoint, and
Lambda GB-seconds from the function's MemorySize and the measured wall per batch.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

from capacity import Table, Units, read_units, write_units
from harness import (
    READ_OPS,
    ROOT,
    WRITE_OPS,
    CallMeter,
    PartResult,
    Row,
    Spans,
    moto_stack,
    new_tenant_id,
    paired_ratio,
    received,
    settle,
)
from receiver import start_receiver
from sqs_endpoint import SqsEndpoint

FUNCTION = "DeliverFunction"
QUEUE = "DeliveryQueue"
WEBHOOKS = 10
LATENCY_MS = 50.0
EVENT = "content_item.published"
PAYLOAD_TEXT = 900  # a delivery body of about 1 KB, as in bench/transports.py
BATCH_WRITE_MAX = 25
VARIANTS = {"": 1, "10url_": 10}  # figure prefix -> URLs per webhook


def template_batch_size() -> int:
    """The DeliverFunction's SQS event source BatchSize, as template.yaml says it."""
    from devstack.cfn import load_template

    events = load_template(ROOT / "template.yaml")["Resources"][FUNCTION]["Properties"]["Events"]
    sizes = [
        int(e["Properties"]["BatchSize"])
        for e in events.values()
        if e.get("Type") == "SQS" and QUEUE in json.dumps(e["Properties"].get("Queue"))
    ]
    if len(sizes) != 1:
        raise RuntimeError(f"{FUNCTION} should have one SQS event on {QUEUE}, found {len(sizes)}")
    return sizes[0]


def seed(store: Any, tenant_id: str, url: str, items: int, urls: int) -> list[tuple[str, str]]:
    """Items and webhooks (each with `urls` URLs); the pairs, item by item, as a fan-out queues them."""
    from webhook_resend.models.records import ContentItem, Webhook

    start = datetime(2024, 1, 1, tzinfo=UTC)
    stamp = start.isoformat().replace("+00:00", ".000Z")
    item_ids, webhook_ids = [], []
    for n in range(items):
        created = (start + timedelta(seconds=n)).isoformat().replace("+00:00", ".000Z")
        item_id = str(uuid.UUID(int=n + 1))
        store.put_item(
            tenant_id,
            ContentItem(
                id=item_id,
                model="Post",
                created_on=created,
                changed_on=created,
                payload={"n": n, "text": "x" * PAYLOAD_TEXT},
            ),
        )
        item_ids.append(item_id)
    for n in range(WEBHOOKS):
        webhook_id = str(uuid.UUID(int=10**6 + n))
        secret = "whsec_" + base64.b64encode(bytes([n + 1]) * 32).decode()
        webhook = Webhook(
            id=webhook_id,
            urls=[f"{url}hook/{n}/{u}" for u in range(urls)],
            events=[EVENT],
            active=True,
            description="",
            created_on=stamp,
            changed_on=stamp,
        )
        store.put_webhook(tenant_id, webhook, secret)
        webhook_ids.append(webhook_id)
    return [(i, w) for i in item_ids for w in webhook_ids]


def new_batch(
    local: Any, tenant_id: str, pairs: list[tuple[str, str]], more: list[tuple[str, str]] = ()
) -> tuple[dict[str, Any], str]:
    """A new job of these pairs (written by resends.jobs.fan_out) and the SQS event of their
    messages; with `more`, the job also holds those pairs, whose messages the batch leaves out (a
    batch from the middle of a job, which does not complete it)."""
    from devstack.sqs import sqs_event
    from webhook_resend.aws.publisher import SqsPublisher
    from webhook_resend.resends import jobs

    stub = local.sqs_stub  # setup only: it keeps the message bodies
    stub.reset()
    stub.keep_bodies = True
    result = jobs.fan_out(
        local.store(),
        SqsPublisher(stub, local.stack.ref(QUEUE)),
        tenant_id,
        source="api",
        event=EVENT,
        kind="item",
        pairs=[jobs.Pair(i, w) for i, w in [*pairs, *more]],
        total_items=len({i for i, _ in [*pairs, *more]}),
        retention_days=30,
    )
    stub.keep_bodies = False
    now_ms = str(int(time.time() * 1000))
    wanted = set(pairs)
    messages = []
    for body in stub.bodies:
        message = json.loads(body)
        if (message["subject_id"], message["webhook_id"]) in wanted:
            messages.append(received(body, now_ms))
    if len(messages) != len(pairs):
        raise RuntimeError(f"{len(messages)} messages for {len(pairs)} pairs")
    stub.reset()
    return sqs_event(messages, local.stack.get_att(QUEUE, "Arn")), result.job.id


def delete_keys(client: Any, table: str, doomed: list[dict[str, Any]]) -> None:
    """Delete items by key (AttributeValue form): moto's TransactWriteItems deep-copies the whole
    table once per item, so a table that keeps growing would slow every later run."""
    for start in range(0, len(doomed), BATCH_WRITE_MAX):
        pending = [{"DeleteRequest": {"Key": key}} for key in doomed[start : start + BATCH_WRITE_MAX]]
        while pending:
            answer = client.batch_write_item(RequestItems={table: pending})
            pending = answer.get("UnprocessedItems", {}).get(table, [])


def job_keys(tenant_id: str, job_id: str, pairs: list[tuple[str, str]], urls: int) -> list[dict[str, Any]]:
    from webhook_resend.aws import keys

    doomed = [keys.job(tenant_id, job_id)]
    for item_id, webhook_id in pairs:
        doomed += [keys.delivery(tenant_id, job_id, item_id, webhook_id, u) for u in range(urls)]
    return [{k: {"S": v} for k, v in key.items()} for key in doomed]


def consumer_client() -> Any:
    """The DynamoDB client of the consumer's store (clients.delivery_store: no client-side
    parameter validation), which the meter must watch."""
    from webhook_resend.aws import clients

    return clients.boto_client("dynamodb", validate=False)


# -- the raw baseline -----------------------------------------------------------------------------
def baseline_requests(
    store: Any, tenant_id: str, pairs: list[tuple[str, str]]
) -> list[tuple[str, bytes, str, str]]:
    """(url, body, secret, message id) of every POST, bodies shaped as the deliverer's."""
    from webhook_resend.delivery import signing

    found = []
    job_id = str(uuid.uuid4())
    for item_id, webhook_id in pairs:
        item = store.get_item(tenant_id, item_id)
        webhook, secret = store.get_webhook(tenant_id, webhook_id)
        event_id = signing.event_id(job_id, item_id, webhook_id)
        body = json.dumps(
            {"id": event_id, "created_on": item.created_on, "event": EVENT, "payload": item.payload},
            separators=(",", ":"),
        ).encode()
        found += [(url, body, secret, event_id) for url in webhook.urls]
    return found


class RawPoster:
    """The baseline's POSTs with raw aiohttp, at most `limit` in flight (the sender's own bound),
    each signed at sending time as the deliverer does. With `kept`, one event loop and one session
    (so its connections) serve every batch, as the consumer keeps its loop and sender (same
    keep-alive bound); without, each batch runs in `asyncio.run` with a session of its own."""

    def __init__(self, limit: int, *, kept: bool = True) -> None:
        self.limit, self.kept = limit, kept
        self._runner = asyncio.Runner(loop_factory=asyncio.new_event_loop) if kept else None
        self._session: Any = None

    def _new_session(self) -> Any:
        import aiohttp

        from webhook_resend.delivery.sender import KEEPALIVE_SECONDS

        connector = aiohttp.TCPConnector(limit=self.limit, keepalive_timeout=KEEPALIVE_SECONDS)
        return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10))

    def post_all(self, requests: list[tuple[str, bytes, str, str]]) -> list[tuple[int, int]]:
        """Answers (status, latency ms) per request."""
        if self._runner is None:
            return asyncio.run(self._per_batch(requests))
        return self._runner.run(self._kept(requests))

    async def _per_batch(self, requests: list[tuple[str, bytes, str, str]]) -> list[tuple[int, int]]:
        async with self._new_session() as session:
            return await self._posts(session, requests)

    async def _kept(self, requests: list[tuple[str, bytes, str, str]]) -> list[tuple[int, int]]:
        if self._session is None:
            self._session = self._new_session()
        return await self._posts(self._session, requests)

    async def _posts(
        self, session: Any, requests: list[tuple[str, bytes, str, str]]
    ) -> list[tuple[int, int]]:
        from webhook_resend.delivery import signing
        from webhook_resend.delivery.sender import USER_AGENT

        async def post(url: str, body: bytes, secret: str, message_id: str) -> tuple[int, int]:
            headers = {
                "content-type": "application/json",
                "x-webhook-resend-id": "job",
                "user-agent": USER_AGENT,
                **signing.headers(secret, message_id, int(time.time()), body),
            }
            started = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                return response.status, int((time.perf_counter() - started) * 1000)

        return await asyncio.gather(*(post(*r) for r in requests))

    def close(self) -> None:
        if self._runner is not None:
            if self._session is not None:
                self._runner.run(self._session.close())
            self._runner.close()


def baseline_records(captured: list[dict[str, Any]], job_id: str) -> list[dict[str, Any]]:
    """The consumer's delivery records (Put items of its transactions), moved to another job id
    so the baseline's writes touch none of the consumer's items."""
    records = []
    for item in captured:
        text = json.dumps(item)
        records.append(json.loads(text.replace(item["pk"]["S"].split("#JOB#")[1].split("#")[0], job_id)))
    return records


def baseline_batch(
    client: Any,
    table: str,
    requests: list[tuple[str, bytes, str, str]],
    records: list[dict[str, Any]],
    poster: RawPoster,
) -> tuple[int, float]:
    """The whole baseline job: the POSTs, then each POST's record written with batch_write_item.
    Answers the POSTs that got a 200 and the CPU the POSTs took."""
    from webhook_resend import clock

    cpu0 = time.process_time()
    answers = poster.post_all(requests)
    posts_cpu = time.process_time() - cpu0
    now = clock.now_text()
    items = []
    for template, (status, latency_ms) in zip(records, answers, strict=True):
        item = dict(template)
        item["last_status_code"] = {"N": str(status)}
        item["latency_ms"] = {"N": str(latency_ms)}
        item["last_attempt_on"] = {"S": now}
        item["delivered_on"] = {"S": now}
        items.append(item)
    for start in range(0, len(items), BATCH_WRITE_MAX):
        pending = [{"PutRequest": {"Item": i}} for i in items[start : start + BATCH_WRITE_MAX]]
        while pending:
            answer = client.batch_write_item(RequestItems={table: pending})
            pending = answer.get("UnprocessedItems", {}).get(table, [])
    return sum(status == 200 for status, _ in answers), posts_cpu


def raw_aiohttp_sender_class() -> type:
    """The consumer's sender with httpx taken out: the same interface over one aiohttp session,
    for the informative `delivery_cpu_raw_sender_over_baseline` (what httpx costs in place)."""
    import aiohttp

    from webhook_resend.delivery.sender import Attempt, HttpSender

    class RawAiohttpSender(HttpSender):
        async def __aenter__(self) -> RawAiohttpSender:
            connector = aiohttp.TCPConnector(limit=200)
            timeout = aiohttp.ClientTimeout(total=self._timeout)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
            self._slots = asyncio.Semaphore(self._concurrency)
            return self

        async def __aexit__(self, *exc_info: Any) -> None:
            await self._session.close()

        async def send(  # type: ignore[override]
            self,
            method: str,
            url: str,
            headers: dict[str, str],
            content: bytes | None,
            *,
            may_start: Any = None,
        ) -> Attempt | None:
            async with self._slots:  # type: ignore[union-attr]
                if may_start is not None and not may_start():
                    return None
                started = time.perf_counter()
                async with self._session.request(method, url, headers=headers, data=content) as response:
                    body = await response.content.read(64 * 1024)
                    return Attempt(
                        response.status,
                        None,
                        int((time.perf_counter() - started) * 1000),
                        response.headers.get("retry-after"),
                        body[:1024].decode("utf-8", errors="replace"),
                    )

    return RawAiohttpSender


def phases(spans: Spans) -> contextlib.ExitStack:
    """Wrap the consumer's phases so their CPU and wall can be told apart."""
    from webhook_resend.aws.dynamodb import Store
    from webhook_resend.delivery.deliverer import Deliverer
    from webhook_resend.delivery.events import Notifier
    from webhook_resend.delivery.sender import KeptSender

    stack = contextlib.ExitStack()
    for cls, name, phase in (
        (Deliverer, "_load_subjects", "read"),
        (Deliverer, "_load_records", "read"),
        (Store, "commit", "commit"),
        (Notifier, "jobs_counted", "job_end"),
    ):
        stack.enter_context(mock.patch.object(cls, name, spans.wrap(phase, getattr(cls, name))))
    for cls, name, phase in (
        (Deliverer, "run", "run"),
        (KeptSender, "__aenter__", "sender_setup"),
        (KeptSender, "__aexit__", "sender_setup"),
    ):
        stack.enter_context(mock.patch.object(cls, name, spans.wrap_async(phase, getattr(cls, name))))
    return stack


def units_of(meter: CallMeter, table: Table, client: Any, table_name: str) -> Units:
    """Capacity units of the calls a meter kept; updated items are read back (untimed)."""

    def image(key: dict[str, Any]) -> dict[str, Any] | None:
        return client.get_item(TableName=table_name, Key=key, ConsistentRead=True).get("Item")

    total = Units()
    for operation, request, answer in meter.exchanges:
        total.add(write_units(table, operation, request, image))
        total.add(read_units(operation, request, answer))
    return total


# -- the part -------------------------------------------------------------------------------------
class Variant:
    """One variant (URLs a webhook) on the running stack: the consumer and the raw baseline,
    each run by `consumer()` / `baseline()` and measured, its writes cleaned up after it."""

    def __init__(self, local: Any, urls: int, batch_size: int, receiver_url: str, sqs: SqsEndpoint) -> None:
        import boto3

        self.local, self.urls, self.sqs = local, urls, sqs
        self.handler, _ = local.handler(FUNCTION)
        self.invoker = local.invokers[FUNCTION]
        self.table = local.stack.ref("DataTable")
        self.table_def = Table.from_template(load_template_table())
        self.tenant_id = new_tenant_id()
        self.store = local.store()
        items = math.ceil(batch_size / WEBHOOKS)
        seeded = seed(self.store, self.tenant_id, receiver_url, items, urls)
        self.pairs, self.more_pairs = seeded[:batch_size], seeded[batch_size:]
        self.requests = baseline_requests(self.store, self.tenant_id, self.pairs)
        self.meter = CallMeter(consumer_client())
        self.spans = Spans(self.meter)
        self.raw_client = boto3.client("dynamodb")  # the baseline's: plain boto3, its defaults
        self.raw_meter = CallMeter(self.raw_client)
        self.records: list[dict[str, Any]] = []
        self._raw_loop: Any = None
        self._poster: RawPoster | None = None

    def new_batch(self, *, mid_job: bool = False) -> tuple[dict[str, Any], str]:
        return new_batch(self.local, self.tenant_id, self.pairs, self.more_pairs if mid_job else [])

    def swapped_loop(self, loop: Any) -> contextlib.ExitStack:
        from webhook_resend.aws import clients

        module = sys.modules[self.handler.__module__]
        stack = contextlib.ExitStack()
        stack.enter_context(mock.patch.object(module, "_loop", loop))
        stack.enter_context(mock.patch.object(module, "_loop_settings", clients.settings()))
        return stack

    def raw_loop(self, sender: type) -> contextlib.ExitStack:
        """The handler's container loop swapped for one whose kept sender is `sender` (made once
        per variant, kept across its runs as the handler's own is)."""
        from webhook_resend.aws import clients
        from webhook_resend.delivery.sender import ContainerLoop

        settings = clients.settings()
        if self._raw_loop is None:
            self._raw_loop = ContainerLoop(
                lambda: sender(settings.delivery_timeout_seconds, allow_private=settings.allow_private_urls)
            )
        return self.swapped_loop(self._raw_loop)

    def consumer(
        self,
        batch: tuple[dict[str, Any], str],
        *,
        keep: bool = False,
        sender: type | None = None,
        per_batch: bool = False,
    ) -> dict[str, Any]:
        """One batch through the handler; `per_batch`: on a loop and sender made for this batch
        and closed after it, inside the timing (what the handler did before it kept them)."""
        from webhook_resend.aws import clients
        from webhook_resend.delivery.sender import container_loop

        event, job_id = batch
        fresh = container_loop(clients.settings()) if per_batch else None
        local, meter, spans = self.local, self.meter, self.spans
        meter.reset()
        meter.keep = keep
        spans.reset()
        self.sqs.reset()
        context = self.invoker.new_context()
        local.wait_moto_idle()
        moto0 = local.moto_cpu_s()
        settle()
        with (
            # the handler keeps its loop and sender in its module (deliver.batch_loop): the
            # variant gets a loop and a kept sender of its own, made as the handler's are
            self.raw_loop(sender)
            if sender
            else self.swapped_loop(fresh)
            if fresh
            else contextlib.nullcontext()
        ):
            cpu0, wall0 = time.process_time(), time.perf_counter()
            answer = self.handler(event, context)
            if fresh is not None:
                fresh.close()
            wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        moto_used = local.moto_cpu_s() - moto0
        meter.enabled = False  # checking and cleaning up is not the consumer's work
        job = self.store.get_job(self.tenant_id, job_id)
        units = units_of(meter, self.table_def, local.dynamodb, self.table) if keep else None
        delete_keys(local.dynamodb, self.table, job_keys(self.tenant_id, job_id, self.pairs, self.urls))
        meter.enabled, meter.keep = True, False
        if answer.get("batchItemFailures") or job is None or job.delivered != len(self.pairs):
            raise RuntimeError(f"consumer: {answer}, job {job}")
        return {
            "wall": wall - meter.moto_wall_s,
            "raw_wall": wall,
            "cpu": cpu,
            "moto_cpu": moto_used,
            "ddb_cpu": meter.cpu_s,
            "ddb_read_cpu": sum(v for op, v in meter.cpu_by_op.items() if op in READ_OPS),
            "ddb_write_cpu": sum(v for op, v in meter.cpu_by_op.items() if op in WRITE_OPS),
            "ddb_parse_cpu": meter.parse_cpu_s,
            "writes": meter.writes,
            "reads": meter.reads,
            "calls": dict(meter.calls),
            "write_items": meter.write_items,
            "sqs": sum(self.sqs.stats()["calls"].values()),
            "messages": len(event["Records"]),
            "units": units,
            **{f"cpu_{k}": v for k, v in spans.cpu.items()},
            **{f"wall_{k}": v for k, v in spans.wall.items()},
        }

    def capture(self) -> dict[str, Any]:
        """A consumer run whose calls are kept: its units, and its records for the baseline."""
        found = self.consumer(self.new_batch(), keep=True)
        captured = [
            action["Put"]["Item"]
            for operation, request, _ in self.meter.exchanges
            if operation == "TransactWriteItems"
            for action in request["TransactItems"]
            if "Put" in action
        ]
        if len(captured) != len(self.requests):
            raise RuntimeError(f"captured {len(captured)} records for {len(self.requests)} POSTs")
        self.records = baseline_records(captured, str(uuid.uuid4()))
        return found

    def baseline(self, *, keep: bool = False, kept: bool = True) -> dict[str, Any]:
        """The raw baseline's batch; `kept=False`: its loop and session made for this batch alone."""
        from webhook_resend.delivery.sender import CONCURRENCY

        if self._poster is None:
            self._poster = RawPoster(CONCURRENCY)
        poster = self._poster if kept else RawPoster(CONCURRENCY, kept=False)
        local, meter = self.local, self.raw_meter
        meter.reset()
        meter.keep = keep
        local.wait_moto_idle()
        moto0 = local.moto_cpu_s()
        settle()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        ok, posts_cpu = baseline_batch(self.raw_client, self.table, self.requests, self.records, poster)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        moto_used = local.moto_cpu_s() - moto0
        units = units_of(meter, self.table_def, local.dynamodb, self.table) if keep else None
        meter.keep = False
        delete_keys(local.dynamodb, self.table, [{"pk": r["pk"], "sk": r["sk"]} for r in self.records])
        if ok != len(self.requests):
            raise RuntimeError(f"baseline: {ok} of {len(self.requests)} POSTs answered 200")
        return {
            "wall": wall - meter.moto_wall_s,
            "raw_wall": wall,
            "cpu": cpu,
            "moto_cpu": moto_used,
            "ddb_cpu": meter.cpu_s,
            "posts_cpu": posts_cpu,
            "writes": meter.writes,
            "units": units,
        }

    def measure(self, rounds: int, raw_sender_every: int = 0) -> dict[str, Any]:
        """`rounds` of consumer and baseline, interleaved, the order alternating; every
        `raw_sender_every` rounds also the consumer with httpx taken out of its sender, and the
        baseline with a loop and session of its own (as the consumer had before issue 17's
        point 2)."""
        self.consumer(self.new_batch())  # warm: imports, clients, connections
        capture = self.capture()
        base_capture = self.baseline(keep=True)
        raw_sender = raw_aiohttp_sender_class()
        with_raw = [rep for rep in range(rounds) if raw_sender_every and rep % raw_sender_every == 0]
        batches = [self.new_batch() for _ in range(rounds + 2 * len(with_raw))]
        mid_batches = [self.new_batch(mid_job=True) for _ in with_raw] if self.more_pairs else []
        runs, base, raw_runs, fresh_base, fresh_runs, mid_runs = [], [], [], [], [], []
        with phases(self.spans):
            for rep in range(rounds):
                if rep % 2 == 0:
                    runs.append(self.consumer(batches.pop()))
                    base.append(self.baseline())
                else:
                    base.append(self.baseline())
                    runs.append(self.consumer(batches.pop()))
                if rep in with_raw:
                    raw_runs.append(self.consumer(batches.pop(), sender=raw_sender))
                    fresh_base.append(self.baseline(kept=False))
                    fresh_runs.append(self.consumer(batches.pop(), per_batch=True))
                    if mid_batches:
                        mid_runs.append(self.consumer(mid_batches.pop()))
        for closing in (self._poster, self._raw_loop):
            if closing is not None:
                closing.close()
        return {
            "urls": self.urls,
            "pairs": len(self.pairs),
            "more_pairs": self.more_pairs,
            "posts": len(self.requests),
            "runs": runs,
            "base": base,
            "raw_sender": raw_runs,
            "fresh_base": fresh_base,
            "fresh_runs": fresh_runs,
            "mid_runs": mid_runs,
            "capture": capture,
            "base_capture": base_capture,
            "memory_mb": self.local.stack.function(FUNCTION).memory,
        }


def load_template_table() -> dict[str, Any]:
    from devstack.cfn import load_template

    return load_template(ROOT / "template.yaml")["Resources"]["DataTable"]["Properties"]


# Rounds of the 10-URL variant: with 15, two make bench runs put its CPU ratio 11-12 % apart
# (1.373x and 1.204x, 1.211x and 1.351x, 2026-12-06); each round is 250 POSTs a side.
REPEATS_10URL = 25


def measure(repeats: int = 31, repeats_10url: int = REPEATS_10URL) -> PartResult:
    from webhook_resend.delivery.sender import CONCURRENCY

    out = PartResult()
    batch_size = template_batch_size()
    url, stop = start_receiver(LATENCY_MS)
    served = None
    results: dict[str, dict[str, Any]] = {}
    env = {"ALLOW_PRIVATE_URLS": "true"}
    try:
        with (
            SqsEndpoint(15.0) as sqs,
            moto_stack(env=env, out_of_process=True, sqs_endpoint=sqs.url) as local,
        ):
            for prefix, urls in VARIANTS.items():
                variant = Variant(local, urls, batch_size, url, sqs)
                results[prefix] = (
                    variant.measure(repeats, raw_sender_every=3)
                    if not prefix
                    else variant.measure(repeats_10url)
                )
    finally:
        served = stop()

    for prefix, found in results.items():
        report(out, prefix, found, batch_size)
    out.add(
        Row(
            "template_batch_size",
            batch_size,
            "msg",
            note=f"template.yaml: {FUNCTION}'s SQS event on {QUEUE}, BatchSize",
        )
    )
    moto_cpu = {
        side: sum(r["moto_cpu"] for found in results.values() for r in found[key])
        for side, key in (("consumer", "runs"), ("baseline", "base"))
    }
    out.notes.append(
        f"delivery: {FUNCTION} handler, SQS batches of the template's BatchSize ({batch_size}) pair messages "
        f"(items x {WEBHOOKS} webhooks, item by item, the first {batch_size}), to the local receiver "
        f"({LATENCY_MS:g} ms), with 1 URL a webhook and with 10; the raw baseline (aiohttp POSTs, at most "
        f"{CONCURRENCY} in flight like the sender, then boto3 batch_write_item of the same records) "
        f"alternates with it; medians of {repeats} (10 URLs: {repeats_10url}). CPU is process CPU, DynamoDB "
        f"client work included; moto's answer time is removed from both walls; moto's own CPU, in its own "
        f"process: consumer runs {moto_cpu['consumer']:.1f} s, baseline runs {moto_cpu['baseline']:.1f} s "
        f"in all. Receiver answered {served} requests."
    )
    return out


def report(out: PartResult, prefix: str, found: dict[str, Any], batch_size: int) -> None:
    runs, base = found["runs"], found["base"]
    pairs, posts, memory_mb = found["pairs"], found["posts"], found["memory_mb"]
    label = "1 URL" if not prefix else f"{found['urls']} URLs"
    key = f"delivery_{prefix}"

    def med(rows: list[dict[str, Any]], name: str) -> float:
        return statistics.median(r[name] for r in rows)

    wall, base_wall = med(runs, "wall"), med(base, "wall")
    cpu, base_cpu = med(runs, "cpu"), med(base, "cpu")
    # The ratios: medians of each round's consumer run over the baseline run next to it.
    wall_ratio = paired_ratio([r["wall"] for r in runs], [r["wall"] for r in base])
    cpu_ratio = paired_ratio([r["cpu"] for r in runs], [r["cpu"] for r in base])
    posts_cpu = med(base, "posts_cpu")
    read_cpu, write_cpu = med(runs, "ddb_read_cpu"), med(runs, "ddb_write_cpu")
    if not prefix:
        out.add(
            Row(
                "delivery_batch_size",
                runs[0]["messages"],
                "msg",
                batch_size,
                "template",
                round(runs[0]["messages"] / batch_size, 3),
                "== template",
                runs[0]["messages"] == batch_size,
                note=f"messages per measured batch ({label} a webhook: {posts} POSTs)",
            )
        )
    else:
        out.figures[f"{key}posts"] = posts
    out.add(
        Row(
            f"{key}wall_s",
            round(wall, 4),
            "s",
            round(base_wall, 4),
            "raw",
            round(wall_ratio, 3),
            note=f"{label}: handler wall, moto's answer time removed; runs "
            + " ".join(f"{r['wall']:.3f}" for r in runs),
        )
    )
    out.add(
        Row(
            f"{key}baseline_wall_s",
            round(base_wall, 4),
            "s",
            LATENCY_MS / 1000,
            "latency",
            round(base_wall / (LATENCY_MS / 1000), 3),
            note=f"raw aiohttp {posts} POSTs + boto3 batch_write_item, moto's answer time removed; runs "
            + " ".join(f"{r['wall']:.3f}" for r in base),
        )
    )
    out.add(
        Row(
            f"{key}wall_over_baseline",
            round(wall_ratio, 3),
            "x",
            target="<= 1.25",
            met=wall_ratio <= 1.25,
            note=f"{label}: median of the {len(runs)} rounds' ratios (ratio of the medians "
            f"{wall / base_wall:.3f})",
        )
    )
    out.add(
        Row(
            f"{key}cpu_s",
            round(cpu, 4),
            "s",
            round(base_cpu, 4),
            "raw",
            round(cpu_ratio, 3),
            note=f"{label}: process CPU, DynamoDB client work included (raw: POSTs {posts_cpu * 1000:.1f} "
            f"ms, records {(base_cpu - posts_cpu) * 1000:.1f} ms); runs "
            + " ".join(f"{r['cpu'] * 1000:.1f}" for r in runs)
            + " ms; raw runs "
            + " ".join(f"{r['cpu'] * 1000:.1f}" for r in base)
            + " ms",
        )
    )
    out.add(
        Row(
            f"{key}cpu_over_baseline",
            round(cpu_ratio, 3),
            "x",
            target="<= 1.5",
            met=cpu_ratio <= 1.5,
            note=f"{label}: median of the {len(runs)} rounds' ratios (ratio of the medians "
            f"{cpu / base_cpu:.3f})",
        )
    )
    ddb_cpu, base_ddb_cpu = med(runs, "ddb_cpu"), med(base, "ddb_cpu")
    out.add(
        Row(
            f"{key}ddb_client_cpu_s",
            round(ddb_cpu, 4),
            "s",
            round(base_ddb_cpu, 4),
            "raw",
            round(ddb_cpu / base_ddb_cpu, 3),
            note=(
                f"{label}: whole DynamoDB client calls (endpoint, serialising, signing, HTTP, parsing): "
                f"reads {read_cpu * 1000:.1f} ms, writes {write_cpu * 1000:.1f} ms, of which parsing "
                f"answers {med(runs, 'ddb_parse_cpu') * 1000:.1f} ms; raw: batch_write_item "
                f"{base_ddb_cpu * 1000:.1f} ms"
            ),
        )
    )
    names = ("run", "read", "commit", "job_end", "sender_setup")
    phase_cpu = {k: med(runs, f"cpu_{k}") if f"cpu_{k}" in runs[0] else 0.0 for k in names}
    phase_wall = {k: med(runs, f"wall_{k}") if f"wall_{k}" in runs[0] else 0.0 for k in names}
    send_cpu = phase_cpu["run"] - sum(phase_cpu[k] for k in names[1:])
    send_wall = phase_wall["run"] - sum(phase_wall[k] for k in names[1:])
    for phase, value, note in (
        ("handler", cpu - phase_cpu["run"], "around Deliverer.run: asyncio.run, BatchProcessor, logs"),
        ("read", phase_cpu["read"], "_load_subjects + _load_records, BatchGetItem calls included"),
        (
            "sender_setup",
            phase_cpu["sender_setup"],
            "KeptSender enter + exit (the container's sender, opened on its first batch)",
        ),
        (
            "send",
            send_cpu,
            f"the rest of Deliverer.run: parsing the messages, the {posts} attempts (sign, httpx -> "
            "httpx-aiohttp -> aiohttp, _apply), the outcomes",
        ),
        ("commit", phase_cpu["commit"], "Store.commit: building and sending the transactions"),
        (
            "job_end",
            phase_cpu["job_end"],
            "Notifier.jobs_counted: the job this batch completes claims its end (an UpdateItem) and "
            "queues its resend.completed event; every measured batch is a whole job of its own",
        ),
    ):
        out.add(
            Row(
                f"{key}cpu_phase_{phase}_s",
                round(value, 4),
                "s",
                round(base_cpu, 4),
                "raw",
                round(value / base_cpu, 3),
                note=f"{label}: {note}",
            )
        )
    out.add(
        Row(
            f"{key}wall_phase_send_s",
            round(send_wall, 4),
            "s",
            round(base_wall, 4),
            "raw",
            round(send_wall / base_wall, 3),
            note=(
                f"{label}: the attempts alone; sequential around them: read {phase_wall['read']:.3f}, "
                f"sender setup {phase_wall['sender_setup']:.3f}, commit {phase_wall['commit']:.3f}, "
                f"job end {phase_wall['job_end']:.3f}, "
                f"handler {wall - phase_wall['run']:.3f} s (moto's answers out)"
            ),
        )
    )
    if found["raw_sender"]:
        bare_cpu = med(found["raw_sender"], "cpu")
        bare_wall = med(found["raw_sender"], "wall")
        out.add(
            Row(
                f"{key}cpu_raw_sender_over_baseline",
                round(bare_cpu / base_cpu, 3),
                "x",
                note=(
                    f"{label}, informative: the consumer with httpx taken out of its sender (one raw "
                    f"aiohttp session): CPU {bare_cpu * 1000:.1f} ms, wall {bare_wall / base_wall:.3f}x raw, "
                    f"medians of {len(found['raw_sender'])}; httpx's layer costs "
                    f"{(cpu - bare_cpu) * 1e6 / posts:.0f} us a POST"
                ),
            )
        )
    if found["fresh_runs"]:
        old_cpu, old_base = med(found["fresh_runs"], "cpu"), med(found["fresh_base"], "cpu")
        out.add(
            Row(
                f"{key}per_batch_cpu_over_per_batch_baseline",
                round(old_cpu / old_base, 3),
                "x",
                round(old_base, 4),
                "raw, per batch",
                note=(
                    f"{label}, informative: the consumer on a loop and sender made and closed per batch (as "
                    f"before it kept them) over the raw baseline likewise per batch: {old_cpu * 1000:.1f} vs "
                    f"{old_base * 1000:.1f} ms; kept, the consumer takes {cpu * 1000:.1f} ms "
                    f"({(old_cpu - cpu) * 1000:.1f} ms less a batch); medians of {len(found['fresh_runs'])}"
                ),
            )
        )
    if found["mid_runs"]:
        mid_cpu = med(found["mid_runs"], "cpu")
        out.add(
            Row(
                f"{key}mid_job_cpu_over_baseline",
                round(mid_cpu / base_cpu, 3),
                "x",
                round(base_cpu, 4),
                "raw",
                note=(
                    f"{label}, informative: batches from the middle of a job (its job holds "
                    f"{len(found['more_pairs'])} more pairs, so the batch does not complete it: no end "
                    f"claim, no resend.completed): CPU {mid_cpu * 1000:.1f} ms, medians of "
                    f"{len(found['mid_runs'])}; the headline batches each complete a job, as a job of "
                    f"{pairs} pairs would; a resend of thousands of pairs completes in one batch of many"
                ),
            )
        )
    if found["fresh_base"]:
        fresh_cpu = med(found["fresh_base"], "cpu")
        out.add(
            Row(
                f"{key}cpu_over_per_batch_baseline",
                round(cpu / fresh_cpu, 3),
                "x",
                round(fresh_cpu, 4),
                "raw, per batch",
                note=(
                    f"{label}, informative: the consumer over the raw baseline with a new event loop and "
                    f"aiohttp session (so new connections) per batch, as the consumer had them before "
                    f"it kept them; raw CPU {fresh_cpu * 1000:.1f} ms; medians of {len(found['fresh_base'])}"
                ),
            )
        )
    capture, base_capture = found["capture"], found["base_capture"]
    out.add(
        Row(
            f"{key}ddb_calls_per_batch",
            sum(capture["calls"].values()),
            "calls",
            base_capture["writes"],
            "raw",
            note=f"{label}: " + ", ".join(f"{op} {n}" for op, n in sorted(capture["calls"].items())),
        )
    )
    out.figures[f"{key}ddb_write_items_per_pair"] = round(capture["write_items"] / pairs, 4)
    units, base_units = capture["units"], base_capture["units"]
    out.add(
        Row(
            f"{key}wcu_per_pair",
            round(units.write / pairs, 4),
            "WCU",
            round(base_units.write / pairs, 4),
            "raw",
            round(units.write / base_units.write, 3),
            note=(
                f"{label}: from item sizes (bench/capacity.py): table {units.table_write / pairs:.2f} "
                f"(transactional x2) + indexes {units.index_write / pairs:.2f} "
                + "("
                + ", ".join(f"{k} {v / pairs:.2f}" for k, v in sorted(units.by_index.items()))
                + f"); raw: table {base_units.table_write / pairs:.2f}"
                + f" + indexes {base_units.index_write / pairs:.2f}"
            ),
        )
    )
    out.add(
        Row(
            f"{key}rcu_per_pair",
            round(units.read / pairs, 4),
            "RCU",
            round(base_units.read / pairs, 4),
            "raw",
            note=f"{label}: BatchGetItem of items, webhooks and records (eventually consistent; a key "
            "that finds nothing counts a minimum read); the raw baseline reads nothing",
        )
    )
    sqs_calls = med(runs, "sqs")
    out.add(
        Row(
            f"{key}sqs_requests_per_pair",
            round(sqs_calls / pairs, 4),
            "req",
            0.0,
            "raw",
            note=f"{label}: the consumer's own SQS calls (visibility changes; none when every POST succeeds)",
        )
    )
    gb_s = memory_mb / 1024 * wall * 1000 / pairs
    base_gb_s = memory_mb / 1024 * base_wall * 1000 / pairs
    out.add(
        Row(
            f"{key}lambda_gb_s_per_1k_pairs",
            round(gb_s, 5),
            "GB-s",
            round(base_gb_s, 5),
            "raw",
            round(gb_s / base_gb_s, 3),
            note=f"{label}: MemorySize {memory_mb} MB x wall per batch x {1000 / pairs:g} batches "
            "(DynamoDB's own latency not in the wall: moto's answer time is removed)",
        )
    )
    if not prefix:
        out.figures["delivery_memory_mb"] = memory_mb
        # What Lambda's SQS poller itself asks of SQS per pair: a ReceiveMessage and a
        # DeleteMessageBatch per 10 messages at best (a formula: the poller is not in this run).
        out.figures["delivery_sqs_poller_requests_per_pair"] = round(
            2 * math.ceil(batch_size / 10) / batch_size, 4
        )
        out.figures["delivery_invocations_per_pair"] = round(1 / batch_size, 4)
    out.figures[f"{key}raw_wall_moto_s"] = round(med(runs, "raw_wall"), 4)
    out.figures[f"{key}moto_cpu_per_batch_s"] = round(med(runs, "moto_cpu"), 4)
    out.figures[f"{key}baseline_moto_cpu_per_batch_s"] = round(med(base, "moto_cpu"), 4)


if __name__ == "__main__":
    from harness import offline_env

    offline_env()
    reps = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    for row in measure(reps, reps).rows:
        print(row)
