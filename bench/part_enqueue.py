"""Part 1, enqueue: a Prepr-style bulk resend of 1,000 items x 10 webhooks through the
ResendApiFunction handler (a v2 event for `GET /content_items/bulk/webhooks` with a JSON body),
next to raw boto3 sending the same batches, interleaved in the same run.

SQS is a real botocore client, the one the function's client factory builds (validation,
serialisation, signing, the HTTP exchange and parsing all counted), sent to a local endpoint
(bench/sqs_endpoint.py: a threaded HTTP server in a process of its own, speaking SQS's JSON
protocol, answering every call after 15 ms). The baseline is plain `boto3.client("sqs")`
sending the very batches the handler sent (kept by the endpoint during a warm-up run) with
`send_message_batch` from 16 threads (the publisher's concurrency) to the same endpoint.

DynamoDB is moto in a server process of its own (its CPU is not this process's); the only time
taken out of the handler's wall is moto's answer time (botocore's `before-send` to
`before-parse`: a 1,000-entry index Query that moto answers by walking the table). Where the
rest goes is split into spans: the publisher (SqsPublisher.publish), the selection, preparing
the messages, the resolver around the domain.
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
from unittest import mock

from harness import CallMeter, PartResult, Row, http_event, moto_stack, new_tenant_id, paired_ratio, settle
from sqs_endpoint import SqsEndpoint

ITEMS = 1000
WEBHOOKS = 10
PAIRS = ITEMS * WEBHOOKS
SQS_LATENCY_MS = 15.0
THREADS = 16  # the baseline's threads: SqsPublisher's default concurrency
EVENT = "content_item.changed"
ROUTE = "ANY /content_items/bulk/webhooks"
PATH = "/content_items/bulk/webhooks"
FUNCTION = "ResendApiFunction"


def seed(store: Any, tenant_id: str) -> None:
    from webhook_resend.models.records import ContentItem, Webhook

    start = datetime(2024, 1, 1, tzinfo=UTC)
    for n in range(ITEMS):
        created = (start + timedelta(seconds=n)).isoformat().replace("+00:00", ".000Z")
        item = ContentItem(
            id=str(uuid.UUID(int=n + 1)),
            model="Post",
            tags=["bench"],
            created_on=created,
            changed_on=created,
            payload={"n": n, "title": f"item {n}"},
        )
        store.put_item(tenant_id, item)
    for n in range(WEBHOOKS):
        created = (start + timedelta(minutes=n)).isoformat().replace("+00:00", ".000Z")
        webhook = Webhook(
            id=str(uuid.UUID(int=10**6 + n)),
            urls=[f"http://127.0.0.1:9/hook/{n}"],  # never called: nothing is delivered here
            events=[EVENT],
            active=True,
            description="",
            created_on=created,
            changed_on=created,
        )
        store.put_webhook(tenant_id, webhook, "whsec_" + "A" * 44)


def raw_boto3_sender(queue_url: str) -> Any:
    """The baseline: plain boto3 (its defaults), the given batches from THREADS threads."""
    import boto3

    client = boto3.client("sqs")

    def send_all(batches: list[list[dict[str, Any]]]) -> int:
        def send(entries: list[dict[str, Any]]) -> int:
            answer = client.send_message_batch(QueueUrl=queue_url, Entries=entries)
            return len(answer.get("Successful", []))

        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            return sum(pool.map(send, batches))

    return send_all


# Rounds: with 9, two make bench runs a few minutes apart put the wall ratio 16 % apart (1.140x and
# 0.972x, 2026-12-06 17:01 and 17:06 UTC).
REPEATS = 15


def measure(repeats: int = REPEATS) -> PartResult:
    out = PartResult()
    with SqsEndpoint(SQS_LATENCY_MS) as sqs, moto_stack(out_of_process=True, sqs_endpoint=sqs.url) as local:
        from webhook_resend.aws import clients
        from webhook_resend.resends import prepr

        tenant_id = new_tenant_id()
        seed(local.store(), tenant_id)
        handler, _ = local.handler(FUNCTION)
        memory_mb = local.stack.function(FUNCTION).memory
        ddb = CallMeter(local.dynamodb)
        publisher = clients.publisher()  # what the route will use (cached per container)
        concurrency = int(getattr(publisher, "_concurrency", THREADS))
        spans: dict[str, float] = {}

        def timed(name: str, function: Any) -> Any:
            def run(*args: Any, **kwargs: Any) -> Any:
                began, moto = time.perf_counter(), ddb.moto_wall_s
                try:
                    return function(*args, **kwargs)
                finally:
                    # the span's own time, moto's answers to its DynamoDB calls removed
                    spent = time.perf_counter() - began - (ddb.moto_wall_s - moto)
                    spans[name] = spans.get(name, 0.0) + spent

            return run

        def invoke(limit: int) -> dict[str, Any]:
            event = http_event("GET", PATH, tenant_id, route_key=ROUTE, body={"event": EVENT, "limit": limit})
            answer = handler(event, local.invokers[FUNCTION].new_context())
            body = json.loads(answer["body"])
            if answer["statusCode"] != 200 or body.get("total_queued") != limit * WEBHOOKS:
                raise RuntimeError(f"bulk resend answered {answer['statusCode']}: {answer['body'][:300]}")
            return body

        send_all = raw_boto3_sender(local.stack.ref("DeliveryQueue"))
        subject: list[dict[str, float]] = []
        base: list[dict[str, float]] = []
        with (
            mock.patch.object(publisher, "publish", timed("publish", publisher.publish)),
            mock.patch.object(prepr, "count_items", timed("select", prepr.count_items)),
            mock.patch.object(prepr, "page_item_ids", timed("select", prepr.page_item_ids)),
            mock.patch.object(prepr, "select_webhooks", timed("select", prepr.select_webhooks)),
            mock.patch.object(prepr, "fan_out", timed("fan_out", prepr.fan_out)),
            mock.patch.object(prepr, "bulk_resend", timed("domain", prepr.bulk_resend)),
        ):
            # Warm both (clients, connections, Powertools' resolver, pydantic's serializers); the
            # warm run's batches, as the endpoint received them, are the baseline's batches.
            invoke(1)
            sqs.reset(keep=True)
            invoke(ITEMS)
            batches = sqs.kept_batches()
            sqs.reset()
            if sum(len(b) for b in batches) != PAIRS:
                raise RuntimeError(f"the endpoint kept {sum(len(b) for b in batches)} entries, not {PAIRS}")
            send_all(batches[:THREADS])

            def run_subject() -> None:
                ddb.reset()
                spans.clear()
                sqs.reset()
                local.wait_moto_idle()
                settle()
                moto0 = local.moto_cpu_s()
                cpu0, wall0 = time.process_time(), time.perf_counter()
                invoke(ITEMS)
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                moto_cpu = local.moto_cpu_s() - moto0
                stats = sqs.stats()
                subject.append(
                    {
                        "raw": wall,
                        "wall": wall - ddb.moto_wall_s,
                        "cpu": cpu,
                        "moto": ddb.moto_wall_s,
                        "moto_cpu": moto_cpu,
                        "ddb_calls": sum(ddb.calls.values()),
                        "calls": sum(stats["calls"].values()),
                        "messages": stats["entries"],
                        "billed": stats["billed_requests"],
                        "peak": stats["peak_in_flight"],
                        **spans,
                    }
                )

            def run_baseline() -> None:
                sqs.reset()
                local.wait_moto_idle()
                settle()
                cpu0, wall0 = time.process_time(), time.perf_counter()
                sent = send_all(batches)
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                stats = sqs.stats()
                if sent != PAIRS:
                    raise RuntimeError(f"boto3 sent {sent} of {PAIRS} messages")
                base.append(
                    {
                        "wall": wall,
                        "cpu": cpu,
                        "calls": sum(stats["calls"].values()),
                        "billed": stats["billed_requests"],
                    }
                )

            for rep in range(repeats):
                order = (run_subject, run_baseline) if rep % 2 == 0 else (run_baseline, run_subject)
                for run in order:
                    run()

    def med(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    wall, base_wall = med(subject, "wall"), med(base, "wall")
    cpu, base_cpu = med(subject, "cpu"), med(base, "cpu")
    raw, moto = med(subject, "raw"), med(subject, "moto")
    calls, messages = med(subject, "calls"), med(subject, "messages")
    base_calls = med(base, "calls")
    publish, select, fan_out, domain = (med(subject, k) for k in ("publish", "select", "fan_out", "domain"))
    prepare = fan_out - publish  # the job record and the 10,000 PairMessage models, then publish
    resolver = wall - domain  # event parsing, validation, serialising the answer
    other = wall - publish - select - prepare - resolver
    latency_bound = base_calls * SQS_LATENCY_MS / 1000 / THREADS
    # Each round's handler run over the baseline run next to it, the median of those.
    ratio = paired_ratio([r["wall"] for r in subject], [r["wall"] for r in base])

    out.add(
        Row(
            "enqueue_msgs_per_call",
            round(messages / calls, 3),
            "msg",
            10,
            "batch max",
            round(messages / calls / 10, 3),
            ">= 9.9",
            messages / calls >= 9.9,
            note=f"{messages:g} messages in {calls:g} SendMessageBatch calls, counted by the endpoint",
        )
    )
    out.add(
        Row(
            "enqueue_wall_s",
            round(wall, 4),
            "s",
            round(base_wall, 4),
            "boto3",
            round(ratio, 3),
            note="handler wall, moto's DynamoDB answer time removed; runs "
            + " ".join(f"{r['wall']:.3f}" for r in subject),
        )
    )
    out.add(
        Row(
            "enqueue_boto3_wall_s",
            round(base_wall, 4),
            "s",
            round(latency_bound, 4),
            "latency bound",
            round(base_wall / latency_bound, 3),
            note=f"raw boto3, the same {base_calls:g} batches from {THREADS} threads; runs "
            + " ".join(f"{r['wall']:.3f}" for r in base),
        )
    )
    out.add(
        Row(
            "enqueue_wall_over_boto3",
            round(ratio, 3),
            "x",
            target="<= 1.2",
            met=ratio <= 1.2,
            note="the whole handler (selection, job, messages, answer) over raw boto3's sending alone; "
            f"median of the {len(subject)} rounds' ratios (ratio of the medians {wall / base_wall:.3f})",
        )
    )
    out.add(
        Row(
            "enqueue_cpu_s",
            round(cpu, 4),
            "s",
            round(base_cpu, 4),
            "boto3",
            round(cpu / base_cpu, 3),
            note="process CPU of the handler, DynamoDB client work included (moto is another process)",
        )
    )
    out.add(
        Row(
            "enqueue_boto3_cpu_per_call_ms",
            round(base_cpu / base_calls * 1000, 3),
            "ms",
            note="raw boto3: validation, serialisation, signing, HTTP, parsing per SendMessageBatch",
        )
    )
    out.add(
        Row(
            "enqueue_latency_bound_s",
            round(latency_bound, 4),
            "s",
            note=f"formula, not a measurement: {base_calls:g} calls x {SQS_LATENCY_MS:g} ms / {THREADS} "
            "threads (what the sending would take with free CPU)",
        )
    )
    out.add(
        Row("enqueue_wall_moto_s", round(raw, 4), "s", note="handler wall as measured, moto's answers in")
    )
    out.add(
        Row(
            "enqueue_moto_answer_s",
            round(moto, 4),
            "s",
            round(raw, 4),
            "raw wall",
            round(moto / raw, 3),
            note=f"moto answering {med(subject, 'ddb_calls'):g} DynamoDB calls (its Query walks the table): "
            f"the only time taken out of enqueue_wall_s; moto's own CPU {med(subject, 'moto_cpu'):.2f} s "
            "a run, in its process",
        )
    )
    for key, value, note in (
        (
            "enqueue_publish_s",
            publish,
            "SqsPublisher.publish: serialise 10,000 messages + 1,000 SendMessageBatch",
        ),
        ("enqueue_selection_s", select, "webhooks + item index read and filtered (moto's answers out)"),
        ("enqueue_prepare_s", prepare, "fan_out before publish: job record, 10,000 PairMessage models"),
        ("enqueue_resolver_s", resolver, "Powertools resolver around bulk_resend: validation, the answer"),
        ("enqueue_other_s", other, "the rest of bulk_resend: parameters, pairs, the answer's dict"),
    ):
        out.add(Row(key, round(value, 4), "s", round(wall, 4), "wall", round(value / wall, 3), note=note))
    billed, base_billed = med(subject, "billed"), med(base, "billed")
    out.add(
        Row(
            "enqueue_sqs_requests_per_pair",
            round(billed / PAIRS, 4),
            "req",
            round(base_billed / PAIRS, 4),
            "boto3",
            round(billed / base_billed, 3),
            note="billed SQS requests (one per call and per further 64 KB of payload) per pair queued",
        )
    )
    gb_s = memory_mb / 1024 * wall / PAIRS * 1000
    base_gb_s = memory_mb / 1024 * base_wall / PAIRS * 1000
    out.add(
        Row(
            "enqueue_lambda_gb_s_per_1k_pairs",
            round(gb_s, 5),
            "GB-s",
            round(base_gb_s, 5),
            "boto3",
            round(gb_s / base_gb_s, 3),
            note=f"{FUNCTION}'s MemorySize {memory_mb} MB x enqueue_wall_s, per 1,000 pairs queued",
        )
    )
    out.figures["enqueue_memory_mb"] = memory_mb
    out.figures["enqueue_peak_in_flight"] = med(subject, "peak")
    out.notes.append(
        f"enqueue: {ITEMS} items x {WEBHOOKS} webhooks through {FUNCTION} (v2 event), its real botocore SQS "
        f"client sent to a local SQS endpoint answering after {SQS_LATENCY_MS:g} ms (plain HTTP on loopback: "
        f"no TLS); raw boto3 sends the same {base_calls:g} batches from {THREADS} threads to it; the two "
        f"alternate, medians of {len(subject)}. Of the handler's {raw:.2f} s, moto took {moto:.2f} s "
        f"answering DynamoDB; enqueue_wall_s removes that, leaving the publisher {publish / wall:.0%} of "
        f"it, the selection {select / wall:.0%}, preparing the messages {prepare / wall:.0%}, the resolver "
        f"{resolver / wall:.0%}, the rest {other / wall:.0%}. Peak calls in flight {med(subject, 'peak'):g} "
        f"(publisher concurrency {concurrency})."
    )
    return out


if __name__ == "__main__":
    from harness import offline_env

    offline_env()
    for row in measure(int(sys.argv[1]) if len(sys.argv) > 1 else 1).rows:
        print(row)
