"""Part: the local stack (`make run`) at realistic sizes (issue 19), with and without
devstack.dynamodb_index, in the same run.

For each size, a LocalStack (in this process, as `make run` serves it: moto over HTTP, the
gateway, the SQS pollers) is started fast (patched moto) and then as released (baseline), loaded
with the same data written straight to its table (N content items and N delivery records, built
by the project's own Store), and timed through the HTTP API:

    list      GET /content_items?limit=25 with one filter (tags in [news]: one item in eight)
    dry_run   POST /resends, a dry run by filter over every item
    prepr     GET /content_items/bulk/webhooks?limit=L, 1 webhook (queues L pairs; L is 1,000, Prepr's
              page, by hand, and BENCH_PREPR_LIMIT in make bench)
    select    POST /resends by filter over every item: 202 to the end of its selection
    deliver   pairs/s: the prepr page's pairs delivered to a local receiver that answers
              at once (bench/receiver.py), or what ended of them within DELIVERY_WINDOW_S
    import    items/s of `webhook-resend items import` (PUT /content_items, 100 lines a request,
              4 in flight) of IMPORT_ITEMS new items

By hand, at any size (the 100,000 figures in the README were taken so):

    .venv/bin/python bench/part_localstack.py 100000 [RECORDS] [--fast-only]
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

# What fits make bench's 10 minutes next to moto as released, whose calls grow with the table
# (minutes a call at 10,000 items, 26 s for the Prepr page at 3,000); the 100,000 figures are in the
# README, measured by hand with main().
SIZES = (1_000,)
REPEATS = 3  # list and dry-run calls on each stack, alternated; their medians are the figures
# make bench's Prepr page: moto as released took 30 s for a page of 1,000 at 1,000 items (its SQS
# walks the queue on every send) and delivered 2.5 pairs/s; a smaller page keeps the part in budget.
BENCH_PREPR_LIMIT = 250
BASELINE_DELIVERY_WINDOW_S = 10.0
IMPORT_ITEMS = 500  # PUT /content_items, 100 a request; the selection after it counts them too
DELIVERY_WINDOW_S = 60.0
EVENT = "content_item.published"
FILTER_QS = "tags[0][in][0]=news"
FILTER = {"tags": {"in": ["news"]}}
DEADLINE_S = 600.0


@contextmanager
def local_stack(fast: bool) -> Iterator[Any]:
    from devstack.stack import LocalStack

    env = {**os.environ, "LOG_LEVEL": "ERROR", "POWERTOOLS_LOG_LEVEL": "ERROR"}
    with LocalStack(port=0, env=env, fast_moto=fast) as local:
        yield local


def load(local: Any, tenant_id: str, items: int, records: int) -> None:
    """`items` content items and `records` delivery records, written with BatchWriteItem."""
    import boto3

    from devstack.sample_items import sample_items
    from webhook_resend.aws import clients
    from webhook_resend.models.records import ContentItem, Delivery

    store = clients.store()
    captured: list[dict[str, Any]] = []
    store._put = lambda record: captured.append(record)  # the record put_item would write
    try:
        for raw in sample_items(items):
            store.put_item(tenant_id, ContentItem(**raw))
    finally:
        del store._put  # the functions share this store: theirs writes again
    from webhook_resend.aws.dynamodb import to_attrs

    rows = [to_attrs(record) for record in captured]
    job_id = str(uuid.uuid4())
    for n in range(records):
        record = Delivery(
            job_id=job_id,
            subject_id=f"00000000-0000-4000-8000-{n:012d}",
            webhook_id="00000000-0000-4000-8000-000000000001",
            url_index=0,
            url="http://127.0.0.1:9/hook",
            event=EVENT,
            status="delivered",
            attempts=1,
            last_status_code=200,
            last_attempt_on="2026-01-01T00:00:00Z",
            delivered_on="2026-01-01T00:00:00Z",
        )
        rows.append(store._delivery_put(tenant_id, record, 2_000_000_000)["Put"]["Item"])
    client = boto3.client("dynamodb", endpoint_url=local.aws_endpoint, region_name="us-east-1")
    table = local.stack.ref("DataTable")
    for start in range(0, len(rows), 25):
        client.batch_write_item(
            RequestItems={table: [{"PutRequest": {"Item": r}} for r in rows[start : start + 25]]}
        )


def timed(call: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    answer = call()
    return time.perf_counter() - started, answer


def _wait_done(http: Any, job_id: str, deadline_s: float) -> tuple[float, int]:
    """Seconds until the job has no pair pending (or the deadline), and the pairs it ended."""
    started = time.perf_counter()
    while True:
        job = http.get(f"/resends/{job_id}").json()
        ended = job.get("delivered", 0) + job.get("failed", 0)
        elapsed = time.perf_counter() - started
        if job.get("status") not in ("selecting",) and job.get("pending", 1) == 0:
            return elapsed, ended
        if elapsed > deadline_s:
            return elapsed, ended
        time.sleep(0.2)


def measure_stack(
    fast: bool,
    items: int,
    records: int,
    *,
    deliver_s: float = DELIVERY_WINDOW_S,
    everything: bool = True,
    repeats: int = REPEATS,
    prepr_limit: int = 1000,
) -> dict[str, Any]:
    """The figures of one stack (see the module's docstring); without `everything`, not the
    import and the selection of every item (the bench's baseline: minutes at 10,000 items).
    The list and the dry run are called `repeats` times each, alternated: the figure is their
    median, every call's time is under `<name>_runs`."""
    import httpx
    from receiver import start_receiver

    from webhook_resend_cli import importer
    from webhook_resend_cli.client import ApiClient

    figures: dict[str, float] = {}
    receiver_url, stop_receiver = start_receiver(latency_ms=0)
    try:
        with local_stack(fast) as local:
            token = local.demo["token"]
            tenant_id = local.demo["tenant_id"]
            started = time.perf_counter()
            load(local, tenant_id, items, records)
            figures["load_s"] = time.perf_counter() - started
            http = httpx.Client(
                base_url=local.url, headers={"Authorization": f"Bearer {token}"}, timeout=DEADLINE_S
            )
            hook = http.post("/webhooks", json={"urls": [f"{receiver_url}/hook"], "events": [EVENT]})
            assert hook.status_code == 201, hook.text

            lists, dry_runs = [], []
            for _ in range(repeats):
                took, answer = timed(lambda: http.get(f"/content_items?limit=25&{FILTER_QS}"))
                assert answer.status_code == 200, answer.text
                lists.append(took)
                took, answer = timed(
                    lambda: http.post("/resends", json={"event": EVENT, "filter": {}, "dry_run": True})
                )
                assert answer.status_code == 200, answer.text
                assert answer.json()["total_items"] == items, answer.text
                dry_runs.append(took)
            figures["list_s"], figures["list_s_runs"] = statistics.median(lists), lists
            figures["dry_run_s"], figures["dry_run_s_runs"] = statistics.median(dry_runs), dry_runs

            # A Prepr page of `prepr_limit` x 1 webhook: the call, then its pairs delivered (the
            # rate over what ended within `deliver_s` when it takes longer).
            figures["prepr_s"], answer = timed(
                lambda: http.get(f"/content_items/bulk/webhooks?event={EVENT}&limit={prepr_limit}")
            )
            assert answer.status_code in (200, 202), answer.text
            elapsed, ended = _wait_done(http, answer.json()["resend_id"], deliver_s)
            figures["deliver_pairs_per_s"] = ended / elapsed

            if not everything:
                return figures
            # `items import` of IMPORT_ITEMS new items, on a quiet stack.
            with tempfile.TemporaryDirectory() as scratch:
                from devstack.sample_items import sample_item

                path = Path(scratch) / "items.jsonl"
                path.write_text(
                    "".join(json.dumps(sample_item(10**7 + n)) + "\n" for n in range(IMPORT_ITEMS))
                )
                progress = importer.Progress(path.with_suffix(".progress"), importer.progress_header("bench"))
                summary = importer.import_items(path, ApiClient(local.url, token), progress)
                progress.close()
                assert summary.imported == IMPORT_ITEMS, importer.format_summary(summary, str(path))
                figures["import_items_per_s"] = summary.imported / summary.seconds

            # A native filter resend of every item: 202, then the end of its selection.
            started = time.perf_counter()
            answer = http.post("/resends", json={"event": EVENT, "filter": {}})
            assert answer.status_code == 202, answer.text
            job_id = answer.json()["id"]
            while http.get(f"/resends/{job_id}").json()["status"] == "selecting":
                if time.perf_counter() - started > DEADLINE_S:
                    raise TimeoutError(f"selection still running after {DEADLINE_S} s")
                time.sleep(0.2)
            figures["select_all_s"] = time.perf_counter() - started
    finally:
        stop_receiver()
    return figures


def measure() -> Any:
    from harness import PartResult, Row

    result = PartResult()
    for size in SIZES:
        fast = measure_stack(True, size, size, prepr_limit=BENCH_PREPR_LIMIT)
        slow = measure_stack(
            False,
            size,
            size,
            deliver_s=BASELINE_DELIVERY_WINDOW_S,
            everything=False,
            prepr_limit=BENCH_PREPR_LIMIT,
        )
        for name, unit in (
            ("list_s", "s"),
            ("dry_run_s", "s"),
            ("prepr_s", "s"),
            ("select_all_s", "s"),
            ("deliver_pairs_per_s", "pairs/s"),
            ("import_items_per_s", "items/s"),
        ):
            value, baseline = fast.get(name), slow.get(name)
            if value is None:
                continue
            ratio = None
            if baseline:
                ratio = value / baseline if unit != "s" else baseline / value  # > 1: faster
            note = f"make run's stack, {size:,} items + {size:,} delivery records"
            if f"{name}_runs" in fast:
                note += (
                    f"; median of {len(fast[name + '_runs'])} calls: "
                    + " ".join(f"{t:.3f}" for t in fast[name + "_runs"])
                    + " s; moto as released "
                    + " ".join(f"{t:.3f}" for t in slow.get(name + "_runs", []))
                    + " s"
                )
            else:
                note += "; one call on each stack"
            result.add(
                Row(
                    key=f"localstack_{size}_"
                    + (f"prepr_{BENCH_PREPR_LIMIT}_s" if name == "prepr_s" else name),
                    value=round(value, 3),
                    unit=unit,
                    baseline=None if baseline is None else round(baseline, 3),
                    baseline_label="moto as released",
                    ratio=None if ratio is None else round(ratio, 2),
                    note=note,
                )
            )
        result.figures[f"localstack_{size}_load_s"] = round(fast["load_s"], 1)
        result.notes.append(
            f"localstack: make run's stack (devstack.stack.LocalStack, in the part's process) at "
            f"{size:,} items + {size:,} delivery records, patched, then as released (the patches are "
            "process-wide: one stack kind at a time, so the two stacks run one after the other, not "
            f"interleaved); the list and the dry run are medians of {REPEATS} calls each, the Prepr "
            f"page ({BENCH_PREPR_LIMIT} pairs), its deliveries (moto as released: what ended within "
            f"{BASELINE_DELIVERY_WINDOW_S:g} s), the import ({IMPORT_ITEMS} items) and the selection one "
            "each; ratios > 1 mean the patched stack is faster. The "
            "100,000-item figures are in the README, measured by hand "
            "(`bench/part_localstack.py 100000 100000 --fast-only`)."
        )
    return result


def main(argv: list[str]) -> int:
    """`part_localstack.py ITEMS [RECORDS] [--fast-only]`: one line of figures
    for the patched stack, then one for moto as released."""
    numbers = [int(a) for a in argv if a.isdigit()]
    size = numbers[0] if numbers else 10_000
    records = numbers[1] if len(numbers) > 1 else size
    kinds = [True] if "--fast-only" in argv else [True, False]
    for fast in kinds:
        figures = measure_stack(fast, size, records)
        line = {
            "items": size,
            "records": records,
            "fast": fast,
            **{k: round(v, 3) if isinstance(v, float) else v for k, v in figures.items()},
        }
        print(json.dumps(line), flush=True)
    return 0


if __name__ == "__main__":
    threading.excepthook = lambda args: None  # the stack's own threads log what they hit
    raise SystemExit(main(sys.argv[1:]))
