"""Parts 2 and 3, delivery: one DeliverFunction invocation (functions/deliver/deliver.py's
handler, warm, ALLOW_PRIVATE_URLS=true) with an SQS batch of 100 pair messages, each POSTed to
the local receiver (bench/receiver.py, a child process answering after 50 ms), next to the same
100 POSTs sent with raw aiohttp in the same run. For information, the consumer also runs with
its sender's httpx swapped for a raw aiohttp session (`delivery_cpu_raw_sender_over_aiohttp`):
the difference is what httpx, which the service keeps as its HTTP API, costs in place.

DynamoDB is moto, in a server process of its own (harness.moto_stack(out_of_process=True)), so
that this process holds what a Lambda holds: with moto in-process, the garbage collector walked
moto's tables and the deep copies it makes per transaction item from inside the measured code,
which made the ratio swing between 1.9x and 2.5x from run to run. Every DynamoDB call (the HTTP
round trip to moto included) is timed between botocore's `before-call` and `after-call` events
and the CPU is reported with and without those calls; the ratio to aiohttp uses the figure
without them.
The same events count the write calls (part 3). SQS is a stub (counted, never timed on moto).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

from harness import WRITE_OPS, CallMeter, PartResult, Row, Spans, moto_stack, new_tenant_id, settle
from receiver import start_receiver

ITEMS = 10
WEBHOOKS = 10
PAIRS = ITEMS * WEBHOOKS
LATENCY_MS = 50.0
EVENT = "content_item.published"
PAYLOAD_TEXT = 900  # a delivery body of about 1 KB, as in bench/transports.py


def seed(store: Any, tenant_id: str, url: str) -> list[tuple[str, str]]:
    from webhook_resend.models.records import ContentItem, Webhook

    start = datetime(2024, 1, 1, tzinfo=UTC)
    stamp = start.isoformat().replace("+00:00", ".000Z")
    items, webhooks = [], []
    for n in range(ITEMS):
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
        items.append(item_id)
    for n in range(WEBHOOKS):
        webhook_id = str(uuid.UUID(int=10**6 + n))
        secret = "whsec_" + base64.b64encode(bytes([n + 1]) * 32).decode()
        webhook = Webhook(
            id=webhook_id,
            urls=[f"{url}hook/{n}"],
            events=[EVENT],
            active=True,
            description="",
            created_on=stamp,
            changed_on=stamp,
        )
        store.put_webhook(tenant_id, webhook, secret)
        webhooks.append(webhook_id)
    return [(i, w) for i in items for w in webhooks]


def new_batch(local: Any, tenant_id: str, pairs: list[tuple[str, str]]) -> tuple[dict[str, Any], str]:
    """A new job of these pairs (written by resends.jobs.fan_out) and the SQS event of its messages."""
    from devstack.sqs import sqs_event
    from webhook_resend.aws.publisher import SqsPublisher
    from webhook_resend.resends import jobs

    stub = local.sqs_stub
    stub.reset()
    stub.keep_bodies = True
    queue_url = local.stack.ref("DeliveryQueue")
    result = jobs.fan_out(
        local.store(),
        SqsPublisher(stub, queue_url),
        tenant_id,
        source="api",
        event=EVENT,
        kind="item",
        pairs=[jobs.Pair(i, w) for i, w in pairs],
        total_items=ITEMS,
        retention_days=30,
    )
    stub.keep_bodies = False
    now_ms = str(int(time.time() * 1000))
    messages = [
        {
            "MessageId": str(uuid.uuid4()),
            "ReceiptHandle": base64.b64encode(uuid.uuid4().bytes * 4).decode(),
            "Body": body,
            "Attributes": {
                "ApproximateReceiveCount": "1",
                "SentTimestamp": now_ms,
                "SenderId": "AIDAEXAMPLE",
                "ApproximateFirstReceiveTimestamp": now_ms,
            },
        }
        for body in stub.bodies
    ]
    stub.reset()
    return sqs_event(messages, local.stack.get_att("DeliveryQueue", "Arn")), result.job.id


def forget_job(client: Any, table: str, tenant_id: str, job_id: str, pairs: list[tuple[str, str]]) -> None:
    """Delete a measured job's delivery records: moto's TransactWriteItems deep-copies
    the whole table once per item, so a table that keeps growing slows every later run."""
    from webhook_resend.aws import keys

    doomed = [keys.job(tenant_id, job_id)]
    for item_id, webhook_id in pairs:
        doomed.append(keys.delivery(tenant_id, job_id, item_id, webhook_id, 0))
    for start in range(0, len(doomed), 25):
        requests = [
            {"DeleteRequest": {"Key": {k: {"S": v} for k, v in key.items()}}}
            for key in doomed[start : start + 25]
        ]
        client.batch_write_item(RequestItems={table: requests})


def consumer_client() -> Any:
    """The DynamoDB client of the consumer's store (clients.delivery_store: no client-side
    parameter validation), which the meter must watch."""
    from webhook_resend.aws import clients

    return clients.boto_client("dynamodb", validate=False)


def baseline_requests(
    store: Any, tenant_id: str, pairs: list[tuple[str, str]]
) -> list[tuple[str, bytes, str, str]]:
    """(url, body, secret, message id) of the 100 POSTs, bodies shaped as the deliverer's."""
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
        found.append((webhook.urls[0], body, secret, event_id))
    return found


async def aiohttp_batch(requests: list[tuple[str, bytes, str, str]]) -> int:
    """The same POSTs with raw aiohttp: one session for the batch (as HttpSender has one client per
    batch), all in flight at once, each signed at sending time as the deliverer does."""
    import aiohttp

    from webhook_resend.delivery import signing
    from webhook_resend.delivery.sender import USER_AGENT

    ok = 0
    connector = aiohttp.TCPConnector(limit=200)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=10)) as session:

        async def post(url: str, body: bytes, secret: str, message_id: str) -> int:
            headers = {
                "content-type": "application/json",
                "x-webhook-resend-id": "job",
                "user-agent": USER_AGENT,
                **signing.headers(secret, message_id, int(time.time()), body),
            }
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                return response.status

        for status in await asyncio.gather(*(post(*r) for r in requests)):
            ok += status == 200
    return ok


def raw_aiohttp_sender_class() -> type:
    """The consumer's sender with httpx taken out: the same interface over one aiohttp session,
    for the informative `delivery_cpu_raw_sender_over_aiohttp` (what httpx costs in place)."""
    import aiohttp

    from webhook_resend.delivery.sender import Attempt, HttpSender

    class RawAiohttpSender(HttpSender):
        async def __aenter__(self) -> RawAiohttpSender:
            connector = aiohttp.TCPConnector(limit=200)
            timeout = aiohttp.ClientTimeout(total=self._timeout)
            self._session = aiohttp.ClientSession(connector=connector, timeout=timeout)
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
    """Wrap the consumer's phases so their CPU (DynamoDB calls taken out) can be told apart."""
    from webhook_resend.aws.dynamodb import Store
    from webhook_resend.delivery.deliverer import Deliverer
    from webhook_resend.delivery.sender import HttpSender

    stack = contextlib.ExitStack()
    for cls, name, phase in (
        (Deliverer, "_load_subjects", "read"),
        (Deliverer, "_load_records", "read"),
        (Store, "commit", "commit"),
    ):
        stack.enter_context(mock.patch.object(cls, name, spans.wrap(phase, getattr(cls, name))))
    for cls, name, phase in (
        (Deliverer, "run", "run"),
        (HttpSender, "__aenter__", "sender_setup"),
        (HttpSender, "__aexit__", "sender_setup"),
    ):
        stack.enter_context(mock.patch.object(cls, name, spans.wrap_async(phase, getattr(cls, name))))
    return stack


def measure(repeats: int = 21, raw_every: int = 3) -> PartResult:
    out = PartResult()
    url, stop = start_receiver(LATENCY_MS)
    served = None
    try:
        with moto_stack(env={"ALLOW_PRIVATE_URLS": "true"}, out_of_process=True) as local:
            tenant_id = new_tenant_id()
            store = local.store()
            pairs = seed(store, tenant_id, url)
            handler, _ = local.handler("DeliverFunction")
            invoker = local.invokers["DeliverFunction"]
            ddb = CallMeter(consumer_client())
            spans = Spans(ddb)
            requests = baseline_requests(store, tenant_id, pairs)

            # Warm both: the handler's imports, clients and moto's tables; aiohttp's imports.
            event, _ = new_batch(local, tenant_id, pairs)
            handler(event, invoker.new_context())
            asyncio.run(aiohttp_batch(requests))
            batches = [new_batch(local, tenant_id, pairs) for _ in range(repeats)]
            raw_batches = [new_batch(local, tenant_id, pairs) for _ in range(0, repeats, raw_every)]
            entry_module = sys.modules[handler.__module__]
            raw_sender = raw_aiohttp_sender_class()

            def consumer(event: dict[str, Any], job_id: str) -> dict[str, Any]:
                ddb.reset()
                spans.reset()
                local.sqs_stub.reset()
                context = invoker.new_context()
                cpu0, wall0 = time.process_time(), time.perf_counter()
                answer = handler(event, context)
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                ddb.enabled = False  # checking and cleaning up is not the consumer's work
                job = store.get_job(tenant_id, job_id)
                forget_job(local.dynamodb, local.stack.ref("DataTable"), tenant_id, job_id, pairs)
                ddb.enabled = True
                if answer.get("batchItemFailures") or job is None or job.delivered != PAIRS:
                    raise RuntimeError(f"consumer: {answer}, job {job}")
                return {
                    "wall": wall,
                    "cpu": cpu,
                    "ddb_wall": ddb.wall_s,
                    "ddb_cpu": ddb.cpu_s,
                    "moto_wall": ddb.moto_wall_s,
                    "parse_cpu": ddb.parse_cpu_s,
                    "writes": ddb.writes,
                    "write_items": ddb.write_items,
                    "reads": ddb.reads,
                    "calls": dict(ddb.calls),
                    "sqs": sum(local.sqs_stub.calls.values()),
                    "delivered": job.delivered,
                    **{f"cpu_{k}": v for k, v in spans.cpu.items()},
                    **{f"wall_{k}": v for k, v in spans.wall.items()},
                }

            runs, base, raw_runs = [], [], []
            with_phases = phases(spans)
            with_phases.__enter__()
            for rep in range(repeats):
                # The informative raw-sender variant runs every `raw_every` rounds; the order rotates.
                kinds = ["consumer", "aiohttp"] + (["raw_sender"] if rep % raw_every == 0 else [])
                shift = rep % len(kinds)
                for which in kinds[shift:] + kinds[:shift]:
                    settle()
                    if which == "aiohttp":
                        cpu0, wall0 = time.process_time(), time.perf_counter()
                        ok = asyncio.run(aiohttp_batch(requests))
                        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                        if ok != PAIRS:
                            raise RuntimeError(f"aiohttp: {ok} of {PAIRS} POSTs answered 200")
                        base.append({"wall": wall, "cpu": cpu})
                    elif which == "consumer":
                        runs.append(consumer(*batches[rep]))
                    else:
                        with mock.patch.object(entry_module, "HttpSender", raw_sender):
                            raw_runs.append(consumer(*raw_batches[rep // raw_every]))
            with_phases.close()
    finally:
        served = stop()

    def med(rows: list[dict[str, Any]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    raw_wall, base_wall = med(runs, "wall"), med(base, "wall")
    cpu_incl, base_cpu = med(runs, "cpu"), med(base, "cpu")
    cpu = statistics.median(r["cpu"] - r["ddb_cpu"] for r in runs)
    wall = statistics.median(r["wall"] - r["moto_wall"] for r in runs)
    ddb_cpu, parse_cpu = med(runs, "ddb_cpu"), med(runs, "parse_cpu")
    run = runs[0]
    delivered = run["delivered"]
    ideal = LATENCY_MS / 1000
    per_run = " ".join(f"{r['wall'] - r['moto_wall']:.3f}" for r in runs)

    out.add(
        Row(
            "delivery_wall_s",
            round(wall, 4),
            "s",
            round(base_wall, 4),
            "aiohttp",
            round(wall / base_wall, 3),
            note=f"handler wall, moto's DynamoDB answers removed; runs {per_run}",
        )
    )
    out.add(
        Row(
            "delivery_aiohttp_wall_s",
            round(base_wall, 4),
            "s",
            ideal,
            "latency",
            round(base_wall / ideal, 3),
            note="the same 100 POSTs, raw aiohttp",
        )
    )
    out.add(
        Row(
            "delivery_wall_over_aiohttp",
            round(wall / base_wall, 3),
            "x",
            target="<= 1.5",
            met=wall / base_wall <= 1.5,
            note="moto's DynamoDB answers removed from the wall",
        )
    )
    out.add(
        Row(
            "delivery_wall_moto_s",
            round(raw_wall, 4),
            "s",
            round(base_wall, 4),
            "aiohttp",
            round(raw_wall / base_wall, 3),
            note="as measured: moto's answers included",
        )
    )
    out.add(
        Row(
            "delivery_cpu_s",
            round(cpu, 4),
            "s",
            round(base_cpu, 4),
            "aiohttp",
            round(cpu / base_cpu, 3),
            note=(
                "consumer process CPU EXCLUDING DynamoDB calls (before-call..after-call); runs "
                + " ".join(f"{(r['cpu'] - r['ddb_cpu']) * 1000:.1f}" for r in runs)
                + " ms; aiohttp runs "
                + " ".join(f"{r['cpu'] * 1000:.1f}" for r in base)
                + " ms"
            ),
        )
    )
    out.add(
        Row(
            "delivery_cpu_incl_ddb_s",
            round(cpu_incl, 4),
            "s",
            round(base_cpu, 4),
            "aiohttp",
            round(cpu_incl / base_cpu, 3),
            note="consumer process CPU INCLUDING DynamoDB calls (client side; moto is another process)",
        )
    )
    out.add(
        Row(
            "delivery_ddb_cpu_s",
            round(ddb_cpu, 4),
            "s",
            round(cpu_incl, 4),
            "cpu incl",
            round(ddb_cpu / cpu_incl, 3),
            note=f"in DynamoDB calls; of which botocore parsing {parse_cpu:.4f} s",
        )
    )
    out.add(Row("delivery_aiohttp_cpu_s", round(base_cpu, 4), "s", note="the same 100 POSTs, raw aiohttp"))
    phase_cpu = {k: med(runs, f"cpu_{k}") for k in ("run", "read", "commit", "sender_setup")}
    send = phase_cpu["run"] - phase_cpu["read"] - phase_cpu["commit"] - phase_cpu["sender_setup"]
    for key, value, note in (
        (
            "delivery_cpu_phase_handler_s",
            cpu - phase_cpu["run"],
            "around Deliverer.run: asyncio.run, BatchProcessor, metrics, logging",
        ),
        (
            "delivery_cpu_phase_read_s",
            phase_cpu["read"],
            "_load_subjects + _load_records, DynamoDB calls out",
        ),
        (
            "delivery_cpu_phase_sender_setup_s",
            phase_cpu["sender_setup"],
            "HttpSender enter + exit (transport, session)",
        ),
        (
            "delivery_cpu_phase_send_s",
            send,
            "the 100 attempts: sign, httpx -> httpx-aiohttp -> aiohttp, _apply",
        ),
        (
            "delivery_cpu_phase_commit_s",
            phase_cpu["commit"],
            "Store.commit building the transactions, calls out",
        ),
    ):
        out.add(
            Row(
                key,
                round(value, 4),
                "s",
                round(base_cpu, 4),
                "aiohttp",
                round(value / base_cpu, 3),
                note=note,
            )
        )
    phase_wall = {k: med(runs, f"wall_{k}") for k in ("run", "read", "commit", "sender_setup")}
    send_wall = phase_wall["run"] - phase_wall["read"] - phase_wall["commit"] - phase_wall["sender_setup"]
    out.add(
        Row(
            "delivery_wall_phase_send_s",
            round(send_wall, 4),
            "s",
            round(base_wall, 4),
            "aiohttp",
            round(send_wall / base_wall, 3),
            note="wall of the attempts alone (gather of the 100 sends)",
        )
    )
    out.add(
        Row(
            "delivery_wall_phase_other_s",
            round(wall - send_wall, 4),
            "s",
            round(wall, 4),
            "wall",
            round((wall - send_wall) / wall, 3),
            note=(
                f"sequential (moto out): read {phase_wall['read']:.3f}, sender setup "
                f"{phase_wall['sender_setup']:.3f}, commit {phase_wall['commit']:.3f}, "
                f"handler {wall - phase_wall['run']:.3f} s"
            ),
        )
    )
    out.add(
        Row(
            "delivery_cpu_over_aiohttp",
            round(cpu / base_cpu, 3),
            "x",
            target="<= 2.0",
            met=cpu / base_cpu <= 2.0,
            note="delivery_cpu_s (EXCLUDING DynamoDB calls) / aiohttp CPU",
        )
    )
    bare_cpu = statistics.median(r["cpu"] - r["ddb_cpu"] for r in raw_runs)
    bare_wall = statistics.median(r["wall"] - r["moto_wall"] for r in raw_runs)
    out.add(
        Row(
            "delivery_cpu_raw_sender_over_aiohttp",
            round(bare_cpu / base_cpu, 3),
            "x",
            note=(
                f"informative: the same consumer with httpx taken out of its sender (raw aiohttp "
                f"session): CPU {bare_cpu:.4f} s, wall {bare_wall / base_wall:.3f}x aiohttp; the rest of "
                f"delivery_cpu_s is httpx's layer, {(cpu - bare_cpu) * 1e6 / PAIRS:.0f} us per POST"
            ),
        )
    )
    out.add(
        Row(
            "delivery_cpu_incl_ddb_over_aiohttp",
            round(cpu_incl / base_cpu, 3),
            "x",
            note="informative only: moto's CPU is not DynamoDB's",
        )
    )
    writes = statistics.median(r["writes"] for r in runs)
    write_calls = {op: n for op, n in run["calls"].items() if op in WRITE_OPS}
    out.add(
        Row(
            "ddb_writes_per_delivery",
            round(writes / delivered, 4),
            "calls",
            1.0,
            "1 per pair",
            round(writes / delivered, 4),
            "<= 1.2",
            writes / delivered <= 1.2,
            note=f"{writes:g} write calls for {delivered} pairs: "
            + ", ".join(f"{op} {n}" for op, n in sorted(write_calls.items())),
        )
    )
    out.add(
        Row(
            "ddb_write_items_per_delivery",
            round(med(runs, "write_items") / delivered, 4),
            "items",
            note="items inside those calls (a transaction counts its items)",
        )
    )
    out.add(
        Row(
            "ddb_reads_per_batch",
            med(runs, "reads"),
            "calls",
            note=", ".join(f"{op} {n}" for op, n in sorted(run["calls"].items()) if op not in WRITE_OPS),
        )
    )
    out.add(Row("delivery_sqs_calls", med(runs, "sqs"), "calls", note="visibility changes (stubbed)"))
    out.notes.append(
        f"delivery: DeliverFunction handler, one SQS batch of {PAIRS} messages ({ITEMS} items x {WEBHOOKS} "
        f"webhooks, 1 URL each) to the local receiver ({LATENCY_MS:g} ms); raw aiohttp sends the same "
        f"{PAIRS} POSTs in the same run, and the consumer runs a third time with a raw aiohttp sender "
        f"(httpx out; informative), the order rotating; medians of {len(runs)}. delivery_wall_s and "
        f"delivery_cpu_s (and their ratios) EXCLUDE the DynamoDB calls on moto (wall: moto's answer; CPU: "
        f"before-call..after-call); as measured: wall {raw_wall:.2f} s, CPU {cpu_incl:.2f} s. "
        f"Receiver answered {served} requests."
    )
    return out


if __name__ == "__main__":
    for row in measure(int(sys.argv[1]) if len(sys.argv) > 1 else 3).rows:
        print(row)
