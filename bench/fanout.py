"""Benchmark: a native filter resend of 100,000 content items x 1 webhook (SPEC §5.3, §10), from
the API call to the last pair message, through the real code.

The data table is built from template.yaml on moto (`devstack.resources.create_resources` under
`mock_aws`); the items' records (keys, index keys and the filterable attributes the index
projects) are written with BatchWriteItem before anything is timed. Then, timed:

* `native.start_resend` with `{"event", "filter": {}}`: what the API call does (validate, write
  the job `selecting`, send the selection's first step);
* the selection, as the fan-out function runs it: every step message in turn through
  `resends.selections.Selections.run` (the count, then each page: the index read, the claim, the
  pairs published to the delivery queue, the next step).

SQS is never timed through moto: both publishers get a stub client that answers SendMessageBatch
at once with every entry Successful, and counts the calls. DynamoDB calls are counted with
botocore's `before-call` event on the client the store uses. DynamoDB times are moto's, not
DynamoDB's: what the figures say is how much work the code does (calls, bytes, messages per
call) and what the Python around it costs; they are not a prediction of AWS latency.

    .venv/bin/python bench/fanout.py [--items 100000] [--webhooks 1] [--json results.json]

A script that prints figures, never a test with a timed assertion (STYLE.md).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import threading
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
LAYER = ROOT / "layers" / "common"

DUMMY_AWS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}
EVENT = "content_item.changed"
BATCH_WRITE_MAX = 25  # BatchWriteItem's own cap


def offline_env() -> None:
    """Dummy credentials; no endpoint, profile or proxy that could lead anywhere but moto."""
    for name in list(os.environ):
        if name.upper().startswith(
            ("AWS_ENDPOINT_URL", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY")
        ) or name in (
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
        ):
            del os.environ[name]
    os.environ.update(DUMMY_AWS)
    for path in (str(LAYER), str(ROOT)):
        if path not in sys.path:
            sys.path.insert(0, path)


# -- the stubbed SQS client -----------------------------------------------------------------------
class StubSqs:
    """SendMessageBatch answered at once, every entry Successful; calls and messages counted
    (thread-safe: the publisher sends batches from a pool). `keep` keeps the bodies."""

    def __init__(self, *, keep: bool = False) -> None:
        self.calls = 0
        self.messages = 0
        self.bytes = 0
        self.bodies: list[str] = []
        self._keep = keep
        self._lock = threading.Lock()

    def send_message_batch(self, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
            self.messages += len(Entries)
            self.bytes += sum(len(e["MessageBody"].encode()) for e in Entries)
            if self._keep:
                self.bodies.extend(e["MessageBody"] for e in Entries)
        return {"Successful": [{"Id": e["Id"], "MessageId": e["Id"]} for e in Entries], "Failed": []}


# -- DynamoDB call counter ------------------------------------------------------------------------
class DynamoCalls:
    """Every call of one client by operation (`before-call`); the wall time of the calls, split
    at `before-parse` into the endpoint's share (here: moto's whole work) and botocore parsing
    the answer (which a real client does too); and the bytes of the answers to Query: how much
    of the index a selection reads."""

    def __init__(self, client: Any) -> None:
        self.by_operation: Counter[str] = Counter()
        self.query_bytes = 0
        self.endpoint_seconds = 0.0
        self.parse_seconds = 0.0
        self.enabled = False
        self._started: dict[int, list[float]] = {}
        events = client.meta.events
        events.register("before-call.dynamodb", self._before, unique_id="bench-fanout-before")
        events.register("before-parse.dynamodb", self._parse, unique_id="bench-fanout-parse")
        events.register("after-call.dynamodb", self._after, unique_id="bench-fanout-after")

    def _before(self, model: Any, **_: Any) -> None:
        if self.enabled:
            self.by_operation[model.name] += 1
            now = time.perf_counter()
            self._started[threading.get_ident()] = [now, now]

    def _parse(self, **_: Any) -> None:
        started = self._started.get(threading.get_ident())
        if started is not None:
            started[1] = time.perf_counter()  # the last attempt's parsing (botocore may retry)

    def _after(self, model: Any, http_response: Any = None, **_: Any) -> None:
        started = self._started.pop(threading.get_ident(), None)
        if not self.enabled or started is None:
            return
        now = time.perf_counter()
        self.endpoint_seconds += started[1] - started[0]
        self.parse_seconds += now - started[1]
        if model.name == "Query" and http_response is not None:
            self.query_bytes += len(http_response.content or b"")

    @property
    def total(self) -> int:
        return sum(self.by_operation.values())


@contextmanager
def stopwatch(into: dict[str, float], name: str) -> Any:
    started = time.perf_counter()
    try:
        yield
    finally:
        into[name] = into.get(name, 0.0) + time.perf_counter() - started


# -- the data -------------------------------------------------------------------------------------
def seed_items(client: Any, table: str, tenant_id: str, count: int) -> None:
    """`count` items as Store.put_item stores them (keys, index keys, filterable attributes),
    with a small payload: the selection reads only the index."""
    from webhook_resend.aws import keys
    from webhook_resend.aws.dynamodb import to_attrs

    def record(n: int) -> dict[str, Any]:
        item_id = str(uuid.UUID(int=n + 1))
        hours, minutes, seconds, millis = n // 3_600_000 % 24, n // 60_000 % 60, n // 1000 % 60, n % 1000
        created = f"2024-01-01T{hours:02d}:{minutes:02d}:{seconds:02d}.{millis:03d}Z"
        return to_attrs(
            {
                **keys.item(tenant_id, item_id),
                "gsi1pk": keys.items_index_pk(tenant_id),
                "gsi1sk": keys.items_index_sk(created, item_id),
                "id": item_id,
                "model": "Post",
                "tags": ["news", f"t{n % 10}"],
                "workflow_stage": "Done",
                "locales": ["en-GB"],
                "created_on": created,
                "changed_on": created,
                "payload": json.dumps({"n": n}),
            }
        )

    for start in range(0, count, BATCH_WRITE_MAX):
        pending = [
            {"PutRequest": {"Item": record(n)}} for n in range(start, min(count, start + BATCH_WRITE_MAX))
        ]
        while pending:
            answer = client.batch_write_item(RequestItems={table: pending})
            pending = answer.get("UnprocessedItems", {}).get(table, [])


def seed_webhooks(store: Any, tenant_id: str, count: int) -> list[str]:
    from webhook_resend import clock
    from webhook_resend.models.base import new_id, new_webhook_secret
    from webhook_resend.models.records import Webhook

    ids = []
    for n in range(count):
        now = clock.now_text()
        webhook = Webhook(
            id=new_id(),
            urls=[f"https://receiver.example/hook/{n}"],
            events=[EVENT],
            active=True,
            description="",
            created_on=now,
            changed_on=now,
        )
        store.put_webhook(tenant_id, webhook, new_webhook_secret())
        ids.append(webhook.id)
    return ids


# -- the run --------------------------------------------------------------------------------------
def run(items: int, webhooks: int) -> dict[str, float]:
    offline_env()
    import boto3
    from moto import mock_aws

    with mock_aws():
        from devstack.cfn import load_template
        from devstack.resources import create_resources
        from webhook_resend.aws.dynamodb import Store
        from webhook_resend.aws.publisher import SqsPublisher
        from webhook_resend.models.messages import SelectionMessage
        from webhook_resend.resends import native, selections
        from webhook_resend.resends.native import ResendIn

        stack = create_resources(load_template(ROOT / "template.yaml"))
        table = str(stack.ref("DataTable"))
        client = boto3.client("dynamodb", region_name=stack.region)
        store = Store(client, table)
        tenant_id = "tn" + uuid.uuid4().hex[:24]
        seconds: dict[str, float] = {}

        # moto keeps the table in this process: its 100,000 items would make every collection of
        # the cyclic garbage collector walk them, a cost the code under test does not have in a
        # Lambda. Collect nothing while seeding, then freeze what the setup made.
        gc.disable()
        with stopwatch(seconds, "seed"):
            seed_webhooks(store, tenant_id, webhooks)
            seed_items(client, table, tenant_id, items)
        gc.collect()
        gc.freeze()
        gc.enable()

        calls = DynamoCalls(client)
        pages_sqs, pairs_sqs = StubSqs(keep=True), StubSqs()
        pages_out = SqsPublisher(pages_sqs, "https://sqs.us-east-1.amazonaws.com/123456789012/fanout")
        pairs_out = SqsPublisher(pairs_sqs, "https://sqs.us-east-1.amazonaws.com/123456789012/delivery")
        body = ResendIn(event=EVENT, filter={})
        calls.enabled = True
        with stopwatch(seconds, "start"):
            status, started = native.start_resend(
                store,
                pages_out,
                tenant_id,
                body,
                source="api",
                retention_days=30,
                max_pairs=max(1, items * webhooks),
            )
        start_calls = calls.total
        start_endpoint = calls.endpoint_seconds
        walker = selections.Selections(store, pages_out, pairs_out, 30)
        steps = 0
        with stopwatch(seconds, "selection"):
            while steps < len(pages_sqs.bodies):
                step = SelectionMessage.model_validate_json(pages_sqs.bodies[steps])
                walker.run(step, message_id=f"bench-step-{steps}")
                steps += 1
        selection_endpoint = calls.endpoint_seconds - start_endpoint
        calls.enabled = False
        job = store.get_job(tenant_id, started["id"])
        pairs_sent = pairs_sqs.messages

    if status != 202 or job is None or job.status != "running" or job.total_queued != pairs_sent:
        raise SystemExit(f"the resend queued {job} pairs but {pairs_sent} were sent")
    total = seconds["start"] + seconds["selection"]
    figures: dict[str, float] = {
        "items": items,
        "webhooks": webhooks,
        "pairs": pairs_sent,
        "total_items": job.total_items,
        "pages": steps,
        "page_subjects": selections.PAGE_SUBJECTS,
        "seed_seconds": seconds["seed"],
        "selection_seconds": seconds["selection"],
        "selection_moto_seconds": selection_endpoint,
        "selection_code_seconds": seconds["selection"] - selection_endpoint,
        "dynamodb_parse_seconds": calls.parse_seconds,
        "start_seconds": seconds["start"],
        "total_seconds": total,
        "pairs_per_second": pairs_sent / total if total else 0.0,
        "sqs_calls": pages_sqs.calls + pairs_sqs.calls,
        "sqs_page_calls": pages_sqs.calls,
        "sqs_pair_calls": pairs_sqs.calls,
        "pages_per_send_message_batch": pages_sqs.messages / pages_sqs.calls if pages_sqs.calls else 0.0,
        "messages_per_send_message_batch": pairs_sqs.messages / pairs_sqs.calls if pairs_sqs.calls else 0.0,
        "page_bytes_mean": pages_sqs.bytes / pages_sqs.messages if pages_sqs.messages else 0.0,
        "pair_bytes_mean": pairs_sqs.bytes / pairs_sqs.messages if pairs_sqs.messages else 0.0,
        "dynamodb_calls": calls.total,
        "dynamodb_calls_in_start": start_calls,
        "dynamodb_calls_in_selection": calls.total - start_calls,
        "index_read_mb": calls.query_bytes / 1e6,
    }
    for operation, count in sorted(calls.by_operation.items()):
        figures[f"dynamodb_{operation}_calls"] = count
    return figures


ROWS = [
    ("items", "items", "{:,.0f}"),
    ("webhooks", "webhooks", "{:,.0f}"),
    ("pairs", "pairs queued", "{:,.0f}"),
    ("pages", "selection steps (count + pages)", "{:,.0f}"),
    ("seed_seconds", "setup: BatchWriteItem of the items (untimed)", "{:.2f} s"),
    ("start_seconds", "start_resend (the API call)", "{:.3f} s"),
    ("dynamodb_calls_in_start", "  DynamoDB calls in it", "{:,.0f}"),
    ("selection_seconds", "selection: every step, as the fan-out function runs it", "{:.2f} s"),
    ("selection_moto_seconds", "  of which inside moto (its DynamoDB calls)", "{:.2f} s"),
    ("selection_code_seconds", "  of which the code and botocore", "{:.2f} s"),
    ("total_seconds", "total (start_resend + selection)", "{:.2f} s"),
    ("pairs_per_second", "pairs per second", "{:,.0f}"),
    ("sqs_calls", "SQS calls (steps + pair batches)", "{:,.0f}"),
    ("sqs_page_calls", "  SendMessageBatch of steps", "{:,.0f}"),
    ("sqs_pair_calls", "  SendMessageBatch of pairs", "{:,.0f}"),
    ("pages_per_send_message_batch", "steps per SendMessageBatch call", "{:.2f}"),
    ("messages_per_send_message_batch", "pair messages per SendMessageBatch call", "{:.2f}"),
    ("page_bytes_mean", "bytes per step message", "{:,.0f}"),
    ("pair_bytes_mean", "bytes per pair message", "{:,.0f}"),
    ("dynamodb_calls", "DynamoDB calls", "{:,.0f}"),
    ("index_read_mb", "index read (Query answers)", "{:.1f} MB"),
]


def table(figures: dict[str, float]) -> str:
    width = max(len(label) for _, label, _ in ROWS)
    lines = [f"{'figure':<{width}}  value", f"{'-' * width}  {'-' * 12}"]
    lines += [f"{label:<{width}}  {shape.format(figures[key])}" for key, label, shape in ROWS]
    lines += [
        f"{'  ' + key.removeprefix('dynamodb_').removesuffix('_calls'):<{width}}  {figures[key]:,.0f}"
        for key in sorted(figures)
        if key.startswith("dynamodb_") and key.endswith("_calls") and key[9].isupper()
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=100_000, help="content items (default 100,000)")
    parser.add_argument(
        "--webhooks", type=int, default=1, help="webhooks subscribed to the event (default 1)"
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures as flat JSON")
    args = parser.parse_args(argv)
    figures = run(args.items, args.webhooks)
    print(table(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
        print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
