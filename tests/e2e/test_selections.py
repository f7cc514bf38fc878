"""Selections end to end (SPEC §10, §11): `make run`'s stack, a tenant with a couple of thousand
content items and a receiver that answers at once. A resend by filter answers `202` with its job
`selecting` before anything is selected; the stack's own fan-out function counts and walks the
whole index while the pairs it queued are delivered; the job goes `selecting` → `running` →
`completed` with exact counts, and every pair is delivered once. On a stack started with a low
`MAX_PAIRS_PER_REQUEST`, a selection over the cap is `rejected`, its reason naming the cap and the
count, and nothing is delivered.

The filter matches one item in eight: the index read is of every item, the deliveries of a few
hundred pairs. moto's SQS receive walks every message of the queue, in flight or not, so a
delivery queue thousands deep takes `make run` seconds per batch (measured: about 2 pairs a
second at 2,000 deep); several pages of a walk are tested in-process, with small pages
(tests/integration/test_selections.py).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from tests.counters import assert_counters_add_up
from tests.e2e.conftest import POLL_INTERVAL_SECONDS, RunningStack, running_stack, tenant_client
from tests.receiver import Receiver

pytestmark = pytest.mark.e2e

ITEMS = 2000  # moto's Query walks the whole table for every page: a few thousand items stay quick
EVERY = 8  # one item in EVERY matches the filter
CAP = 5
EVENT = "content_item.published"
TAG = "selections"
DEADLINE_SECONDS = 300.0


@pytest.fixture(scope="module")
def capped_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with running_stack(
        tmp_path_factory.mktemp("devstack-capped"), {"MAX_PAIRS_PER_REQUEST": str(CAP)}
    ) as running:
        yield running


def _put_items(client: httpx.Client, count: int, every: int = 1) -> list[str]:
    """`count` items, one in `every` tagged TAG, with the bulk write (100 a request, 4 requests
    at a time); the tagged ids."""

    def item(n: int) -> dict[str, Any]:
        created_on = f"2024-05-01T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"
        tags = [TAG] if n % every == 0 else ["other"]
        return {
            "id": f"00000000-0000-4000-8000-{n:012d}",
            "model": "Post",
            "tags": tags,
            "created_on": created_on,
            "payload": {"n": n},
        }

    def put(start: int) -> None:
        reply = client.put("/content_items", json=[item(n) for n in range(start, min(start + 100, count))])
        assert reply.status_code == 200, reply.text
        assert reply.json()["created"] == min(100, count - start), reply.text

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(put, range(0, count, 100)))
    return [item(n)["id"] for n in range(count) if n % every == 0]


def _webhook(client: httpx.Client, receiver: Receiver, name: str) -> tuple[str, dict[str, Any]]:
    path = receiver.new_path(name)
    reply = client.post("/webhooks", json={"urls": [f"{receiver.url}{path}"], "events": [EVENT]})
    assert reply.status_code == 201, reply.text
    return path, reply.json()


def _follow(client: httpx.Client, job_id: str, until: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every job document seen, polling until its status is one of `until`."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        answer = client.get(f"/resends/{job_id}")
        assert answer.status_code == 200, answer.text
        seen.append(answer.json())
        assert_counters_add_up(seen[-1])
        if seen[-1]["status"] in until:
            return seen
        if time.monotonic() >= deadline:
            pytest.fail(f"resend {job_id} not {until} within {DEADLINE_SECONDS}s: {seen[-1]}")
        time.sleep(POLL_INTERVAL_SECONDS)


def _statuses(seen: list[dict[str, Any]]) -> list[str]:
    """The statuses in the order they were seen, each once."""
    found: list[str] = []
    for job in seen:
        if not found or found[-1] != job["status"]:
            found.append(job["status"])
    return found


def test_make_run_selects_a_resend_of_thousands_of_items_asynchronously(
    stack: RunningStack, receiver: Receiver
) -> None:
    with tenant_client(stack, "selections") as client:
        item_ids = _put_items(client, ITEMS, every=EVERY)
        path, hook = _webhook(client, receiver, "a")
        body = {"event": EVENT, "filter": {"tags": {"eq": TAG}}, "webhook_ids": [hook["id"]]}

        started = time.monotonic()
        answer = client.post("/resends", json=body)
        answered_in = time.monotonic() - started

        # The answer comes before any selection: nothing counted, nothing queued yet
        assert answer.status_code == 202, answer.text
        job = answer.json()
        assert (job["status"], job["total_items"], job["total_queued"], job["pending"]) == (
            "selecting",
            0,
            0,
            0,
        )
        print(f"POST /resends of {ITEMS} items answered in {answered_in:.3f} s")

        seen = [job, *_follow(client, job["id"], ("completed",))]

    assert _statuses(seen) == ["selecting", "running", "completed"], _statuses(seen)
    selecting = [j["total_queued"] for j in seen if j["status"] == "selecting"]
    assert selecting == sorted(selecting)  # the totals only grow while it selects
    final = seen[-1]
    matching = len(item_ids)
    assert matching == ITEMS // EVERY
    assert (final["total_items"], final["total_queued"]) == (matching, matching)
    assert (final["delivered"], final["failed"], final["pending"], final["reason"]) == (matching, 0, 0, None)
    assert final["completed_on"] is not None
    delivered = Counter(json.loads(r.body)["payload"]["id"] for r in receiver.to(path))
    assert delivered == Counter(dict.fromkeys(item_ids, 1))


def test_make_run_rejects_a_selection_over_the_cap_and_delivers_nothing(
    capped_stack: RunningStack, receiver: Receiver
) -> None:
    with tenant_client(capped_stack, "capped") as client:
        _put_items(client, 4, every=2)  # 2 of them match
        hooks = dict(_webhook(client, receiver, name) for name in ("a", "b", "c"))  # 2 items x 3 = 6 pairs
        body = {"event": EVENT, "filter": {"tags": {"eq": TAG}}}

        answer = client.post("/resends", json=body)

        assert answer.status_code == 202, answer.text
        assert answer.json()["status"] == "selecting"
        job = _follow(client, answer.json()["id"], ("rejected", "running", "completed"))[-1]
        assert job["status"] == "rejected", job
        assert "selects 6 pairs" in job["reason"]
        assert f"at most {CAP}" in job["reason"]
        assert (job["total_items"], job["total_queued"], job["pending"]) == (0, 0, 0)
        assert job["completed_on"] is not None
        records = client.get(f"/resends/{job['id']}/deliveries")
        assert records.status_code == 200, records.text
        assert records.json()["data"] == []
        listed = client.get("/resends", params={"status": "rejected"})
        assert listed.status_code == 200, listed.text
        assert [j["id"] for j in listed.json()["data"]] == [job["id"]]
    time.sleep(2 * POLL_INTERVAL_SECONDS)  # a pair queued by mistake would be delivered by now
    assert {path: receiver.to(path) for path in hooks} == {path: [] for path in hooks}
