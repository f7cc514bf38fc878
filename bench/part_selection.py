"""Part 3, selection (issue 14b): a native filter resend (`POST /resends` with a filter) answers
`202` with its job `selecting`, and the fan-out function selects it page by page
(resends/selections.py: a Select=COUNT walk of the items index, then pages of up to 1,000
matching entries, DynamoDB evaluating the filter, each page's pairs queued). Three figures, each
next to its baseline in the same run:

* `selection_answer_large_over_small`: the ResendApiFunction handler's answer to a filter resend
  matching 10,000 items over the same call matching 10 (another tenant, same table), alternated;
* `selection_cpu_over_boto3`: the process CPU of the FanoutFunction handler, invoked step message
  by step message (its BatchSize is 1) until the job is `running`, selecting and queueing 10,000
  items x 1 webhook, over raw boto3 doing the same job by hand: a paginated Query of the same
  index with the same key condition, FilterExpression and projection, then `send_message_batch`
  of the same 10,000 pair messages (as the endpoint received them from the fan-out) from 16
  threads (the publisher's concurrency); alternated;
* `selection_transferred_over_matched`: index entries the fan-out's Queries answered (their
  `Count`, entries on the wire) over the entries the filter matches, for a filter matching 10 %
  of the 10,000 items; `ScannedCount` (what DynamoDB read, and bills) beside it.

DynamoDB is the local stack's moto (`make run`'s: devstack.aws.MotoServer, with
devstack.dynamodb_index installed) in a server process of its own, holding the items themselves:
moto as released walks and sorts every item of the table through its typed values for each Query
page and copies the whole table for each transaction, so at 20,000 items a page took it 2 to 4 s
and a claim 3 s, minutes a walk; patched, a Query walks only what it answers and a transaction
backs up only what it touches, with moto's own answers byte for byte
(tests/unit/devstack/test_dynamodb_index.py). The items are the table's own records
(`webhook_resend.aws.dynamodb.item_record`), written with BatchWriteItem before anything is timed.
The time moto takes to answer (botocore's `before-send` to `before-parse`) is the only time taken
out of a wall; no CPU is taken out anywhere: the client's serialising, signing and parsing of every
call count. SQS is a real
botocore client sent to bench/sqs_endpoint.py (15 ms an answer), not moto's SQS, whose cost grows
with the queue's depth.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

from harness import (
    CallMeter,
    PartResult,
    Row,
    http_event,
    moto_stack,
    new_tenant_id,
    paired_ratio,
    received,
    settle,
)
from sqs_endpoint import SqsEndpoint

LARGE = 10_000  # 20,000 took 160 to 190 s of make bench at a load of 5 to 8; 10,000 halves it
SMALL = 10
TAGS = 10  # item n carries the tag t{n % 10}: a one-tag filter matches 10 % of the items
SQS_LATENCY_MS = 15.0
THREADS = 16  # the baseline's sending threads: SqsPublisher's default concurrency
BATCH_WRITE_MAX = 25
EVENT = "content_item.changed"
ALL = {"model": {"eq": "Post"}}  # every item is a Post: DynamoDB evaluates it on every entry
TENTH = {"tags": {"eq": "t3"}}
API = "ResendApiFunction"
FANOUT = "FanoutFunction"
ROUTE = "POST /resends"
PATH = "/resends"


# -- the data -------------------------------------------------------------------------------------
def seed(local: Any, tenant_id: str, items: int) -> str:
    """`items` content items, each the table's own record (`webhook_resend.aws.dynamodb.item_record`),
    written to moto with BatchWriteItem (untimed), and one webhook. Answers the webhook's id."""
    import boto3

    from webhook_resend.aws.dynamodb import item_record, to_attrs
    from webhook_resend.models.records import ContentItem, Webhook

    start = datetime(2024, 1, 1, tzinfo=UTC)
    client = boto3.client("dynamodb")
    table = local.stack.ref("DataTable")

    def record(n: int) -> dict[str, Any]:
        created = (start + timedelta(seconds=n)).isoformat().replace("+00:00", ".000Z")
        item = ContentItem(
            id=str(uuid.UUID(int=n + 1)),
            model="Post",
            tags=["bench", f"t{n % TAGS}"],
            workflow_stage="Done",
            locales=["en-GB"],
            created_on=created,
            changed_on=created,
            payload={"n": n, "title": f"item {n}"},
        )
        return to_attrs(item_record(tenant_id, item))

    for first in range(0, items, BATCH_WRITE_MAX):
        requests = [
            {"PutRequest": {"Item": record(n)}} for n in range(first, min(items, first + BATCH_WRITE_MAX))
        ]
        while requests:
            answer = client.batch_write_item(RequestItems={table: requests})
            requests = answer.get("UnprocessedItems", {}).get(table, [])
    stamp = start.isoformat().replace("+00:00", ".000Z")
    webhook = Webhook(
        id=str(uuid.uuid4()),
        urls=["http://127.0.0.1:9/hook"],  # never called: nothing is delivered here
        events=[EVENT],
        active=True,
        description="",
        created_on=stamp,
        changed_on=stamp,
    )
    local.store().put_webhook(tenant_id, webhook, "whsec_" + "A" * 44)
    return webhook.id


def is_step(entry: dict[str, Any]) -> bool:
    return '"phase"' in entry["MessageBody"]


def step_event(body: str, queue_arn: str) -> dict[str, Any]:
    from devstack.sqs import sqs_event

    return sqs_event([received(body)], queue_arn)


# -- the part -------------------------------------------------------------------------------------
class Bench:
    def __init__(self, local: Any, sqs: SqsEndpoint) -> None:
        import boto3

        self.local, self.sqs = local, sqs
        self.api, _ = local.handler(API)
        self.fanout, _ = local.handler(FANOUT)
        self.fanout_arn = local.stack.get_att("FanoutQueue", "Arn")
        self.meter = CallMeter(local.dynamodb)  # the client clients.store() uses
        self.large, self.small = new_tenant_id(), new_tenant_id()
        self.large_webhook = seed(local, self.large, LARGE)
        seed(local, self.small, SMALL)
        self.raw_ddb = boto3.client("dynamodb")  # the baseline's: plain boto3, its defaults
        self.raw_sqs = boto3.client("sqs")
        self.raw_meter = CallMeter(self.raw_ddb)
        self.queue_url = local.stack.ref("DeliveryQueue")

    # -- the API's answer --------------------------------------------------------------------------
    def answer(self, tenant_id: str, item_filter: dict[str, Any]) -> dict[str, Any]:
        """One POST /resends through the API handler, timed; answers the job and the figures."""
        event = http_event(
            "POST", PATH, tenant_id, route_key=ROUTE, body={"event": EVENT, "filter": item_filter}
        )
        context = self.local.invokers[API].new_context()
        self.meter.reset()
        self.local.wait_moto_idle()
        settle()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        reply = self.api(event, context)
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        body = json.loads(reply["body"])
        if reply["statusCode"] != 202 or body.get("status") != "selecting":
            raise RuntimeError(f"POST /resends answered {reply['statusCode']}: {reply['body'][:300]}")
        return {
            "job": body,
            "wall": wall - self.meter.moto_wall_s,
            "raw_wall": wall,
            "cpu": cpu,
            "ddb_calls": sum(self.meter.calls.values()),
        }

    # -- the fan-out's walk ------------------------------------------------------------------------
    def walk(self, item_filter: dict[str, Any], *, keep: bool = False) -> dict[str, Any]:
        """A filter resend of the large tenant, started through the API (untimed), then every step
        message through the fan-out handler, one invocation each, until no step is left; the
        invocations are timed. With `keep`, the pair entries sent and the DynamoDB exchanges are
        kept."""
        self.sqs.reset(keep=True)
        job_id = self.answer(self.large, item_filter)["job"]["id"]
        steps = pairs = sqs_calls = 0
        wall = cpu = moto_wall = moto_cpu = 0.0
        kept_pairs: list[list[dict[str, Any]]] = []
        exchanges: list[Any] = []
        calls: dict[str, int] = {}
        while True:
            batches = self.sqs.kept_batches()
            sqs_calls += len(batches)
            self.sqs.reset(keep=True)
            bodies = [e["MessageBody"] for batch in batches for e in batch if is_step(e)]
            pair_batches = [[e for e in batch if not is_step(e)] for batch in batches]
            pair_batches = [b for b in pair_batches if b]
            pairs += sum(len(b) for b in pair_batches)
            if keep:
                kept_pairs += pair_batches
            if not bodies:
                break
            for body in bodies:
                event = step_event(body, self.fanout_arn)
                context = self.local.invokers[FANOUT].new_context()
                self.meter.reset()
                self.meter.keep = keep
                self.local.wait_moto_idle()
                moto0 = self.local.moto_cpu_s()
                settle()
                cpu0, wall0 = time.process_time(), time.perf_counter()
                reply = self.fanout(event, context)
                wall += time.perf_counter() - wall0
                cpu += time.process_time() - cpu0
                moto_wall += self.meter.moto_wall_s
                moto_cpu += self.local.moto_cpu_s() - moto0
                for op, n in self.meter.calls.items():
                    calls[op] = calls.get(op, 0) + n
                exchanges += self.meter.exchanges
                self.meter.keep = False
                if reply.get("batchItemFailures"):
                    raise RuntimeError(f"fan-out step failed: {reply}")
                steps += 1
        job = self.local.store().get_job(self.large, job_id)
        if job is None or job.status != "running" or job.total_queued != pairs:
            raise RuntimeError(f"the walk queued {pairs} pairs, the job says {job}")
        return {
            "wall": wall - moto_wall,
            "raw_wall": wall,
            "cpu": cpu,
            "moto_cpu": moto_cpu,
            "steps": steps,
            "pairs": pairs,
            "sqs_calls": sqs_calls,
            "calls": calls,
            "kept_pairs": kept_pairs,
            "exchanges": exchanges,
            "job_id": job_id,
        }

    # -- the raw baseline --------------------------------------------------------------------------
    def raw_query(self, item_filter: dict[str, Any]) -> dict[str, Any]:
        """The request a raw client would send: the same index, key condition, FilterExpression
        and projection as the fan-out's queue pages (built here once, untimed)."""
        from webhook_resend.aws import keys
        from webhook_resend.aws.dynamodb import to_attrs
        from webhook_resend.resends.filters import parse_item_filter

        compiled = parse_item_filter(item_filter).compiled()
        if compiled.condition is None or not compiled.residual.is_empty:
            raise RuntimeError("the bench's filters are evaluated by DynamoDB whole")
        return {
            "TableName": self.local.stack.ref("DataTable"),
            "IndexName": keys.ITEMS_INDEX,
            "KeyConditionExpression": "gsi1pk = :pk",
            "FilterExpression": compiled.condition.expression,
            "ProjectionExpression": "#p0",
            "ExpressionAttributeNames": {**compiled.condition.names, "#p0": "id"},
            "ExpressionAttributeValues": to_attrs(
                {":pk": keys.items_index_pk(self.large), **compiled.condition.values}
            ),
        }

    def baseline(
        self, request: dict[str, Any], batches: list[list[dict[str, Any]]], *, whole: bool = True
    ) -> dict[str, Any]:
        """Raw boto3: the paginated Query, then the same pair batches (`whole`: all of them,
        one per item selected), timed together."""
        self.raw_meter.reset()
        self.sqs.reset()
        self.local.wait_moto_idle()
        settle()
        cpu0, wall0 = time.process_time(), time.perf_counter()
        ids = [
            entry["id"]["S"]
            for page in self.raw_ddb.get_paginator("query").paginate(**request)
            for entry in page["Items"]
        ]
        query_cpu = time.process_time() - cpu0

        def send(entries: list[dict[str, Any]]) -> int:
            answer = self.raw_sqs.send_message_batch(QueueUrl=self.queue_url, Entries=entries)
            return len(answer.get("Successful", []))

        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            sent = sum(pool.map(send, batches))
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        if whole and sent != len(ids):
            raise RuntimeError(f"raw boto3 selected {len(ids)} items and sent {sent} pairs")
        return {
            "wall": wall - self.raw_meter.moto_wall_s,
            "cpu": cpu,
            "query_cpu": query_cpu,
            "queries": self.raw_meter.calls["Query"],
            "sqs_calls": len(batches),
        }


def measure(answer_rounds: int = 15, walk_rounds: int = 5) -> PartResult:
    out = PartResult()
    with (
        SqsEndpoint(SQS_LATENCY_MS) as sqs,
        # make run's moto: devstack.aws.MotoServer, its DynamoDB index installed.
        moto_stack(out_of_process=True, sqs_endpoint=sqs.url, patched_moto=True) as local,
    ):
        began = time.perf_counter()
        bench = Bench(local, sqs)
        seed_s = time.perf_counter() - began

        # 1. The API's answer, 10,000 matching items against 10, alternated (after a warm call each).
        bench.answer(bench.large, ALL)
        bench.answer(bench.small, ALL)
        large, small = [], []
        for rep in range(answer_rounds):
            order = ((large, bench.large), (small, bench.small))
            for runs, tenant in order if rep % 2 == 0 else order[::-1]:
                runs.append(bench.answer(tenant, ALL))

        # 3. Entries transferred for a 10 % filter (one walk, its exchanges kept).
        tenth = bench.walk(TENTH, keep=True)

        # 2. The walk of 10,000 items against raw boto3, alternated; the first walk (warm, kept)
        # gives the baseline its pair batches.
        capture = bench.walk(ALL, keep=True)
        batches = capture["kept_pairs"]
        request = bench.raw_query(ALL)
        bench.baseline(request, batches[:THREADS], whole=False)  # warm the raw clients
        walks, base = [], []
        for rep in range(walk_rounds):
            if rep % 2 == 0:
                walks.append(bench.walk(ALL))
                base.append(bench.baseline(request, batches))
            else:
                base.append(bench.baseline(request, batches))
                walks.append(bench.walk(ALL))

    def med(rows: list[dict[str, Any]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    # -- 1 --
    large_wall, small_wall = med(large, "wall"), med(small, "wall")
    ratio = paired_ratio([r["wall"] for r in large], [r["wall"] for r in small])
    out.add(
        Row(
            "selection_answer_large_s",
            round(large_wall, 4),
            "s",
            round(small_wall, 4),
            f"{SMALL} items",
            round(ratio, 3),
            note=f"POST /resends through {API}, a filter matching {LARGE:,} items, the answer time of"
            f" moto removed; "
            f"{med(large, 'ddb_calls'):g} DynamoDB calls; runs "
            + " ".join(f"{r['wall'] * 1000:.1f}" for r in large)
            + " ms",
        )
    )
    out.add(
        Row(
            "selection_answer_small_s",
            round(small_wall, 4),
            "s",
            note=f"the same call matching {SMALL} items (another tenant, same table); runs "
            + " ".join(f"{r['wall'] * 1000:.1f}" for r in small)
            + " ms",
        )
    )
    out.add(
        Row(
            "selection_answer_large_over_small",
            round(ratio, 3),
            "x",
            target="<= 1.5",
            met=ratio <= 1.5,
            note=f"median of {answer_rounds} alternated rounds' ratios (ratio of the medians "
            f"{large_wall / small_wall:.3f}); CPU {med(large, 'cpu') * 1000:.1f} vs "
            f"{med(small, 'cpu') * 1000:.1f} ms; raw walls (moto in) {med(large, 'raw_wall') * 1000:.1f} vs "
            f"{med(small, 'raw_wall') * 1000:.1f} ms",
        )
    )

    # -- 2 --
    cpu, base_cpu = med(walks, "cpu"), med(base, "cpu")
    cpu_ratio = paired_ratio([r["cpu"] for r in walks], [r["cpu"] for r in base])
    wall, base_wall = med(walks, "wall"), med(base, "wall")
    pairs = capture["pairs"]
    out.add(
        Row(
            "selection_cpu_s",
            round(cpu, 4),
            "s",
            round(base_cpu, 4),
            "boto3",
            round(cpu_ratio, 3),
            note=f"{FANOUT} handler, {capture['steps']} step invocations selecting and queueing "
            f"{pairs:,} pairs "
            f"({capture['sqs_calls']} SendMessageBatch); process CPU, botocore's work included; runs "
            + " ".join(f"{r['cpu']:.3f}" for r in walks)
            + " s; raw runs "
            + " ".join(f"{r['cpu']:.3f}" for r in base)
            + f" s (its Query pages {med(base, 'query_cpu') * 1000:.0f} ms, {med(base, 'queries'):g} calls)",
        )
    )
    out.add(
        Row(
            "selection_cpu_over_boto3",
            round(cpu_ratio, 3),
            "x",
            target="<= 1.5",
            met=cpu_ratio <= 1.5,
            note=f"median of {walk_rounds} alternated rounds' ratios (ratio of the medians "
            f"{cpu / base_cpu:.3f}); DynamoDB calls of a walk: "
            + ", ".join(f"{op} {n}" for op, n in sorted(capture["calls"].items())),
        )
    )
    out.add(
        Row(
            "selection_wall_s",
            round(wall, 4),
            "s",
            round(base_wall, 4),
            "boto3",
            round(wall / base_wall, 3),
            note="the steps' walls summed, moto's answer time removed (informative: the steps are sequential "
            "invocations, the baseline sends from 16 threads at once)",
        )
    )
    out.figures["selection_moto_cpu_per_walk_s"] = round(med(walks, "moto_cpu"), 2)
    out.figures["selection_seed_s"] = round(seed_s, 1)

    # -- 3 --
    matched = LARGE // TAGS
    transferred = scanned = counted_scanned = 0
    for operation, request, answer in tenth["exchanges"]:
        if operation != "Query":
            continue
        if request.get("Select") == "COUNT":
            counted_scanned += int(answer.get("ScannedCount", 0))
        else:
            transferred += len(answer.get("Items", []))
            scanned += int(answer.get("ScannedCount", 0))
    if tenth["pairs"] != matched:
        raise RuntimeError(f"the 10 % filter queued {tenth['pairs']} pairs, not {matched}")
    out.add(
        Row(
            "selection_transferred_over_matched",
            round(transferred / matched, 3),
            "x",
            matched,
            "matched",
            target="<= 1.1",
            met=transferred / matched <= 1.1,
            note=f"a filter matching 10 % of {LARGE:,} items: {transferred:,} index entries in the "
            f"Queries' answers "
            f"for {matched:,} matched; DynamoDB read (ScannedCount) {scanned:,} in the queue pages and "
            f"{counted_scanned:,} in the Select=COUNT pages, {tenth['steps']} steps",
        )
    )
    out.figures["selection_entries_transferred"] = transferred
    out.figures["selection_entries_scanned"] = scanned + counted_scanned
    out.notes.append(
        f"selection: {LARGE:,} content items (and a tenant of {SMALL}), "
        f"the table's own records, written in {seed_s:.0f} s (untimed) to make run's moto "
        "(devstack.aws.MotoServer with devstack.dynamodb_index, its own process; "
        f"{med(walks, 'moto_cpu'):.1f} s of moto's CPU a walk); SQS is the local endpoint "
        f"({SQS_LATENCY_MS:g} ms). Raw baseline: boto3's paginated Query (1 MB pages, same key condition, "
        "FilterExpression and projection), then send_message_batch of the walk's own pair batches from "
        f"{THREADS} threads; it neither counts first, nor claims steps, nor keeps pages beside the job."
    )
    return out


if __name__ == "__main__":
    from harness import offline_env

    offline_env()
    args = [int(a) for a in sys.argv[1:]]
    for row in measure(*args).rows:
        print(row)
