"""A scheduled resend end to end (SPEC §7, §8): a schedule created with `POST /schedules` on
`make run`'s stack is fired by the stack's own schedule firer, and its resend reaches a real
receiver through the stack's SQS pollers and delivery function. Nothing here calls a handler.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.e2e

EVENT = "content_item.changed"
FIRE_DEADLINE_SECONDS = 120.0
POLL_INTERVAL_SECONDS = 0.5


def test_schedule_created_through_the_api_fires_a_resend_that_reaches_the_receiver(
    create_tenant, receiver, wait_for_resend
) -> None:
    # Given a tenant with an item and a webhook pointing at the receiver
    tenant = create_tenant("scheduled")
    item_id = str(uuid.uuid4())
    payload: dict[str, Any] = {"title": "scheduled", "n": 1}
    answer = tenant.client.put(
        f"/content_items/{item_id}",
        json={"model": "Post", "created_on": "2024-01-01T00:00:00Z", "payload": payload},
    )
    assert answer.status_code == 201, answer.text
    path = receiver.new_path("scheduled")
    answer = tenant.client.post("/webhooks", json={"urls": [receiver.url + path], "events": [EVENT]})
    assert answer.status_code == 201, answer.text

    # When a schedule that resends the item every minute is created
    name = f"every-minute-{uuid.uuid4().hex[:8]}"
    body = {
        "name": name,
        "schedule_expression": "rate(1 minute)",
        "resend": {"event": EVENT, "item_ids": [item_id]},
    }
    created = tenant.client.post("/schedules", json=body)
    assert created.status_code == 201, created.text
    try:
        # Then the receiver gets the item's event within two minutes
        deadline = time.monotonic() + FIRE_DEADLINE_SECONDS
        while not receiver.to(path):
            if time.monotonic() >= deadline:
                pytest.fail(f"schedule {name} delivered nothing within {FIRE_DEADLINE_SECONDS:.0f}s")
            time.sleep(POLL_INTERVAL_SECONDS)
    finally:
        deleted = tenant.client.delete(f"/schedules/{name}")
        assert deleted.status_code == 204, deleted.text

    request = receiver.to(path)[0]
    delivered = json.loads(request.body)
    assert request.method == "POST"
    assert delivered["event"] == EVENT
    assert delivered["payload"] == {"id": item_id, "model": "Post", **payload}
    job, _ = wait_for_resend(tenant.client, request.headers["x-webhook-resend-id"])
    assert job["source"] == "schedule"
    assert (job["total_queued"], job["delivered"], job["pending"]) == (1, 1, 0)
    listed = tenant.client.get("/schedules")
    assert listed.status_code == 200, listed.text
    assert name not in [s["name"] for s in listed.json()["items"]]
