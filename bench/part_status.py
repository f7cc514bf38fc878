"""Part 4, status: DynamoDB read calls per `GET /resends/{id}` (the StatusFunction handler with a
v2 event) for a job of 10 pairs and one of 10,000, and the handler's own latency on moto.

Both jobs are written directly: the job record with its counters, and a delivery record per pair
(built by Store's own record builder, so it lands in the job's deliveries index), so a status
route that read per pair, or queried the job's deliveries, would show it in its read count.
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid
from typing import Any

from harness import (
    READ_OPS,
    CallMeter,
    PartResult,
    Row,
    http_event,
    moto_stack,
    new_tenant_id,
    percentile,
    settle,
)

SMALL = 10
LARGE = 10_000
CALLS = 200
ROUTE = "ANY /resends/{id}"


def write_job(local: Any, tenant_id: str, pairs: int) -> str:
    from webhook_resend import clock
    from webhook_resend.models.records import Delivery, Job

    store = local.store()
    client = local.dynamodb
    table = local.stack.ref("DataTable")
    now = clock.now_text()
    expires = clock.expires_at(30)
    failed = pairs // 20
    pending = pairs // 10
    delivered = pairs - failed - pending
    job = Job(
        id=str(uuid.uuid4()),
        source="api",
        event="content_item.published",
        status="running",
        created_on=now,
        total_items=pairs // 10,
        total_queued=pairs,
        delivered=delivered,
        failed=failed,
        pending=pending,
    )
    store.put_job(tenant_id, job, expires)
    records = []
    for n in range(pairs):
        subject_id, webhook_id = str(uuid.UUID(int=n // 10 + 1)), str(uuid.UUID(int=10**6 + n % 10))
        status = "delivered" if n < delivered else "failed" if n < delivered + failed else "retrying"
        record = Delivery(
            job_id=job.id,
            subject_id=subject_id,
            webhook_id=webhook_id,
            url_index=0,
            url="http://127.0.0.1:9/hook",
            event=job.event,
            status=status,
            attempts=1,
            last_status_code=200 if status == "delivered" else 500,
            last_attempt_on=now,
        )
        records.append(store._delivery_put(tenant_id, record, expires)["Put"]["Item"])
    for start in range(0, len(records), 25):
        pending_items = [{"PutRequest": {"Item": item}} for item in records[start : start + 25]]
        while pending_items:
            answer = client.batch_write_item(RequestItems={table: pending_items})
            pending_items = answer.get("UnprocessedItems", {}).get(table, [])
    return job.id


def measure(calls: int = CALLS) -> PartResult:
    import json

    out = PartResult()
    with moto_stack() as local:
        tenant_id = new_tenant_id()
        began = time.perf_counter()
        jobs = {"small": write_job(local, tenant_id, SMALL), "large": write_job(local, tenant_id, LARGE)}
        seeded = time.perf_counter() - began
        handler, _ = local.handler("StatusFunction")
        invoker = local.invokers["StatusFunction"]
        ddb = CallMeter(local.dynamodb)

        def call(size: str) -> tuple[float, float, int, dict[str, int]]:
            job_id = jobs[size]
            event = http_event(
                "GET", f"/resends/{job_id}", tenant_id, route_key=ROUTE, path_parameters={"id": job_id}
            )
            context = invoker.new_context()
            ddb.reset()
            began = time.perf_counter()
            answer = handler(event, context)
            wall = time.perf_counter() - began
            body = json.loads(answer["body"])
            if answer["statusCode"] != 200 or body.get("total_queued") != (
                SMALL if size == "small" else LARGE
            ):
                raise RuntimeError(
                    f"GET /resends/{job_id} answered {answer['statusCode']}: {answer['body'][:300]}"
                )
            return wall, wall - ddb.moto_wall_s, ddb.reads, dict(ddb.calls)

        for size in ("small", "large", "small", "large"):
            call(size)  # warm: the resolver, the client, moto
        settle()
        results: dict[str, list[tuple[float, float, int, dict[str, int]]]] = {"small": [], "large": []}
        for n in range(calls):
            size = "small" if n % 2 == 0 else "large"
            results[size].append(call(size))

    reads = {size: [r[2] for r in rows] for size, rows in results.items()}
    walls = [r[0] * 1000 for rows in results.values() for r in rows]
    own = [r[1] * 1000 for rows in results.values() for r in rows]
    ops = sorted({op for rows in results.values() for r in rows for op in r[3]})
    small, large = max(reads["small"]), max(reads["large"])
    constant = min(reads["small"]) == small and min(reads["large"]) == large
    out.add(
        Row("status_reads_small", small, "calls", note=f"job of {SMALL} pairs; read ops: {', '.join(ops)}")
    )
    out.add(
        Row(
            "status_reads_large",
            large,
            "calls",
            small,
            "small job",
            round(large / small, 3) if small else None,
            "== small",
            large == small and constant,
            note=f"job of {LARGE:,} pairs",
        )
    )
    out.add(
        Row(
            "status_p50_ms",
            round(percentile(walls, 50), 3),
            "ms",
            note=f"{calls} calls alternating the two jobs, on moto",
        )
    )
    out.add(
        Row(
            "status_p99_ms",
            round(percentile(walls, 99), 3),
            "ms",
            round(percentile(walls, 50), 3),
            "p50",
            round(percentile(walls, 99) / percentile(walls, 50), 3),
        )
    )
    for size in ("small", "large"):
        sized = [r[0] * 1000 for r in results[size]]
        out.add(Row(f"status_p50_{size}_ms", round(percentile(sized, 50), 3), "ms"))
    out.add(
        Row(
            "status_p50_excl_moto_ms",
            round(percentile(own, 50), 3),
            "ms",
            note="moto's answer time removed: the handler's own work",
        )
    )
    out.add(Row("status_mean_ms", round(statistics.fmean(walls), 3), "ms"))
    out.notes.append(
        f"status: StatusFunction handler (v2 event), jobs of {SMALL} and {LARGE:,} pairs written directly "
        f"(job record + a delivery record per pair; {seeded:.1f} s to seed on moto); "
        f"reads counted with botocore events ({', '.join(sorted(READ_OPS))})."
    )
    return out


if __name__ == "__main__":
    for row in measure(int(sys.argv[1]) if len(sys.argv) > 1 else CALLS).rows:
        print(row)
