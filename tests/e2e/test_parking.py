"""Parked pairs through make run's stack (SPEC §10): a retry further away than PARK_AFTER_SECONDS
waits in DynamoDB, not in flight in SQS, and the waker (fired by the stack like the deployed
schedule, here every LOCAL_SCHEDULE_EVENT_SECONDS) puts it back on the queue when due.

The stack runs with PARK_AFTER_SECONDS=1 (tests/e2e/conftest.py), so a receiver's
`Retry-After: 3` is parked; nothing here calls a handler or the waker directly.
"""

from __future__ import annotations

import re
import time
import uuid
from typing import Any

import boto3
import pytest

from webhook_resend.aws import keys

pytestmark = pytest.mark.e2e

EVENT = "content_item.changed"
RETRY_AFTER_SECONDS = 3
DEADLINE_SECONDS = 30.0


def _banner_value(banner: str, label: str) -> str:
    found = re.search(rf"^\s*{re.escape(label)}\s+(\S+)", banner, re.MULTILINE)
    assert found, f"{label!r} is not in the banner:\n{banner}"
    return found.group(1)


def _records(tenant, resend_id: str) -> list[dict[str, Any]]:
    answer = tenant.client.get(f"/resends/{resend_id}/deliveries")
    assert answer.status_code == 200, answer.text
    return list(answer.json()["data"])


def _parked_item(stack, key: dict[str, str]) -> dict[str, Any] | None:
    """The pair's parked item, read from the stack's moto (as an operator would with the AWS CLI)."""
    endpoint = _banner_value(stack.stdout, "AWS (moto)").removeprefix("AWS_ENDPOINT_URL=")
    table = _banner_value(stack.stdout, "TableName")
    dynamodb = boto3.client("dynamodb", endpoint_url=endpoint, region_name="us-east-1")
    attributes = {name: {"S": value} for name, value in key.items()}
    return dynamodb.get_item(TableName=table, Key=attributes, ConsistentRead=True).get("Item")


def test_parked_pair_waits_in_dynamodb_then_is_woken_and_delivered(
    stack, tenant, receiver, wait_for_resend
) -> None:
    # Given a receiver that answers 503 with Retry-After: 3 once, then 200
    path = receiver.new_path()
    receiver.script(path, [(503, {"Retry-After": str(RETRY_AFTER_SECONDS)}), 200])
    item_id = str(uuid.uuid4())
    put = tenant.client.put(f"/content_items/{item_id}", json={"model": "Post", "payload": {"n": 1}})
    assert put.status_code == 201, put.text
    webhook = tenant.client.post("/webhooks", json={"urls": [receiver.url + path], "events": [EVENT]})
    assert webhook.status_code == 201, webhook.text
    webhook_id = webhook.json()["id"]

    # When it is resent
    answer = tenant.client.request(
        "GET", "/content_items/bulk/webhooks", json={"event": EVENT, "webhook_id": [{"eq": webhook_id}]}
    )
    assert answer.status_code == 200, answer.text
    resend_id = answer.json()["resend_id"]

    # Then, after the first attempt, the pair is retrying and parked in DynamoDB until its due time
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not (records := _records(tenant, resend_id)) or records[0]["status"] == "pending":
        assert time.monotonic() < deadline, records
        time.sleep(0.1)
    [record] = records
    key = keys.parked(tenant.credentials["tenant_id"], resend_id, item_id, webhook_id)
    parked = _parked_item(stack, key)
    assert record["status"] == "retrying", record
    assert parked is not None, record
    assert parked["reason"] == {"S": "deferred"}  # a 503 defers without using up an attempt
    assert parked["due_on"] == {"S": record["next_attempt_on"]}
    assert tenant.client.get(f"/resends/{resend_id}").json()["pending"] == 1

    # And once due, the waker puts it back on the queue: delivered, the job completed
    job, _ = wait_for_resend(tenant.client, resend_id, deadline_seconds=DEADLINE_SECONDS)
    assert (job["delivered"], job["failed"], job["pending"]) == (1, 0, 0)
    assert len(receiver.to(path)) == 2
    [record] = _records(tenant, resend_id)
    assert (record["status"], record["attempts"]) == ("delivered", 2)
    assert _parked_item(stack, key) is None
