"""Pause, resume and cancel through make run's stack (SPEC §11), seen at a real receiver: a job
paused mid-delivery gets no request for seconds, then, resumed, ends with every pair delivered
exactly once; a job cancelled mid-delivery stops, and the pairs it did not deliver end `cancelled`.

The webhook is paced at 2 requests a second, so the job is still delivering when the test moves
it (the first request has arrived, most pairs have not): which pairs were on the wire at that
moment is the only race, and attempts already on the wire finish and count as they end.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.counters import assert_counters_add_up
from tests.e2e.conftest import Tenant
from tests.receiver import Receiver

pytestmark = pytest.mark.e2e

EVENT = "content_item.changed"
PAIRS = 8
PER_SECOND = 2
ON_THE_WIRE_SECONDS = 1.5  # DELIVERY_TIMEOUT_SECONDS (1) and a little: attempts under way end
HELD_SECONDS = 3.0  # how long nothing may arrive while paused or after a cancel


def _paced_resend(client: httpx.Client, url: str) -> tuple[str, list[str]]:
    ids = []
    for _ in range(PAIRS):
        item_id = str(uuid.uuid4())
        put = client.put(f"/content_items/{item_id}", json={"model": "Post", "payload": {"n": 1}})
        assert put.status_code == 201, put.text
        ids.append(item_id)
    hook = {"urls": [url], "events": [EVENT], "rate_limit": {"per_second": PER_SECOND}}
    webhook = client.post("/webhooks", json=hook)
    assert webhook.status_code == 201, webhook.text
    answer = client.request(
        "GET",
        "/content_items/bulk/webhooks",
        json={"event": EVENT, "webhook_id": [{"eq": webhook.json()["id"]}], "limit": PAIRS},
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["resend_id"]), ids


def _first_arrival(receiver: Receiver, path: str, deadline_seconds: float = 30.0) -> None:
    deadline = time.monotonic() + deadline_seconds
    while not receiver.to(path):
        assert time.monotonic() < deadline, "no delivery arrived"
        time.sleep(0.05)


def _move(client: httpx.Client, resend_id: str, move: str) -> dict[str, Any]:
    answer = client.post(f"/resends/{resend_id}/{move}")
    assert answer.status_code == 200, answer.text
    assert_counters_add_up(answer.json())
    return dict(answer.json())


def _job(client: httpx.Client, resend_id: str) -> dict[str, Any]:
    answer = client.get(f"/resends/{resend_id}")
    assert answer.status_code == 200, answer.text
    assert_counters_add_up(answer.json())
    return dict(answer.json())


def _each_item_once(receiver: Receiver, path: str, ids: list[str]) -> list[int]:
    bodies = [r.body.decode() for r in receiver.to(path)]
    return [sum(item_id in body for body in bodies) for item_id in ids]


def test_pause_holds_for_seconds_and_resume_delivers_every_pair_once(
    tenant: Tenant,
    receiver: Receiver,
    wait_for_resend: Callable[..., tuple[dict[str, Any], list[dict[str, Any]]]],
) -> None:
    path = receiver.new_path("pause")
    resend_id, ids = _paced_resend(tenant.client, receiver.url + path)
    _first_arrival(receiver, path)

    # When the job is paused mid-delivery
    assert _move(tenant.client, resend_id, "pause")["status"] == "paused"
    time.sleep(ON_THE_WIRE_SECONDS)
    before = len(receiver.to(path))
    time.sleep(HELD_SECONDS)

    # Then nothing more reaches the receiver while it is paused
    assert len(receiver.to(path)) == before
    assert before < PAIRS
    paused = _job(tenant.client, resend_id)
    assert (paused["status"], paused["pending"] > 0) == ("paused", True)

    # When it is resumed, every pair is delivered, each exactly once
    assert _move(tenant.client, resend_id, "resume")["status"] == "running"
    job, _ = wait_for_resend(tenant.client, resend_id, deadline_seconds=60)
    assert (job["delivered"], job["failed"], job["cancelled"], job["pending"]) == (PAIRS, 0, 0, 0)
    assert _each_item_once(receiver, path, ids) == [1] * PAIRS


def test_cancel_stops_sending_and_counts_the_rest_cancelled(tenant: Tenant, receiver: Receiver) -> None:
    path = receiver.new_path("cancel")
    resend_id, ids = _paced_resend(tenant.client, receiver.url + path)
    _first_arrival(receiver, path)

    # When the job is cancelled mid-delivery
    assert _move(tenant.client, resend_id, "cancel")["status"] == "cancelled"

    # Then its pairs end: what was on the wire finishes, the rest ends cancelled
    deadline = time.monotonic() + 30
    while (job := _job(tenant.client, resend_id))["pending"] > 0:
        assert time.monotonic() < deadline, job
        time.sleep(0.2)
    time.sleep(ON_THE_WIRE_SECONDS)
    arrived = len(receiver.to(path))
    time.sleep(HELD_SECONDS)
    assert len(receiver.to(path)) == arrived  # nothing is sent after the cancel
    job = _job(tenant.client, resend_id)
    assert job["status"] == "cancelled"
    assert job["cancelled"] >= 1
    assert (job["delivered"] + job["cancelled"], job["failed"]) == (PAIRS, 0)
    assert arrived == job["delivered"]
    assert max(_each_item_once(receiver, path, ids)) == 1
    records = tenant.client.get(f"/resends/{resend_id}/deliveries", params={"status": "cancelled"})
    assert records.status_code == 200, records.text
    assert len(records.json()["data"]) == job["cancelled"]
