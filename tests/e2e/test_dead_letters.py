"""Dead letters end to end: `make run`'s stack started with a receive count too small for its retry
schedule (`DELIVERY_MAX_RECEIVE_COUNT=2`, `RETRY_SCHEDULE=1,1,1,1`) against a receiver that always
answers 500, so SQS dead-letters every pair message before its retries are used up. The stack's
dead-letter function must end every pair `failed`, say why, and complete the job (SPEC §11).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import RunningStack, running_stack, tenant_client
from tests.receiver import Receiver

MAX_RECEIVES = 2
OVERRIDES = {"DELIVERY_MAX_RECEIVE_COUNT": str(MAX_RECEIVES), "RETRY_SCHEDULE": "1,1,1,1"}
EVENT = "content_item.published"
ITEMS = 3
DEAD_LETTERED = re.compile(r"dead-lettered after (\d+) receives")


@pytest.fixture(scope="module")
def dead_letter_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with running_stack(tmp_path_factory.mktemp("devstack-dead-letters"), OVERRIDES) as running:
        yield running


@pytest.fixture
def client(dead_letter_stack: RunningStack) -> Iterator[httpx.Client]:
    """A new tenant's client on the dead-letter stack."""
    with tenant_client(dead_letter_stack, "dead letters") as tenant:
        yield tenant


def _records(client: httpx.Client, resend_id: str) -> list[dict[str, Any]]:
    answer = client.get(f"/resends/{resend_id}/deliveries", params={"limit": 1000})
    assert answer.status_code == 200, answer.text
    assert answer.json()["next_cursor"] is None
    return list(answer.json()["data"])


def test_make_run_ends_every_dead_lettered_pair_failed_and_completes_the_job(
    dead_letter_stack: RunningStack,
    client: httpx.Client,
    receiver: Receiver,
    wait_for_resend: Callable[..., tuple[dict[str, Any], list[dict[str, Any]]]],
) -> None:
    # Given items and a two-URL webhook whose receiver always answers 500
    paths = ["/dead-letters/a", "/dead-letters/b"]
    for path in paths:
        receiver.script(path, [500])
    for n in range(ITEMS):
        body = {"model": "Post", "created_on": f"2024-03-01T00:00:0{n}Z", "tags": ["dead-letters"]}
        answer = client.put(f"/content_items/00000000-0000-4000-8000-{n:012d}", json=body)
        assert answer.status_code == 201, answer.text
    hook = client.post("/webhooks", json={"urls": [f"{receiver.url}{p}" for p in paths], "events": [EVENT]})
    assert hook.status_code == 201, hook.text

    # When they are resent
    sent = client.post(
        "/content_items/bulk/webhooks",
        json={"event": EVENT, "webhook_id": [{"eq": hook.json()["id"]}], "tags": [{"eq": "dead-letters"}]},
    )
    assert sent.status_code == 200, sent.text
    assert sent.json()["total_queued"] == ITEMS

    # Then the job completes with every pair failed and nothing pending
    job, seen = wait_for_resend(client, sent.json()["resend_id"])
    assert (job["total_queued"], job["delivered"], job["failed"], job["pending"]) == (ITEMS, 0, ITEMS, 0)
    assert job["completed_on"]
    assert all(s["delivered"] + s["failed"] + s["pending"] == s["total_queued"] for s in seen)

    # And every delivery record says it was dead-lettered, after the attempts the receive count
    # allowed, with the receiver's last answer kept
    records = _records(client, sent.json()["resend_id"])
    assert len(records) == ITEMS * len(paths)
    for record in records:
        assert (record["status"], record["attempts"], record["last_status_code"]) == (
            "failed",
            MAX_RECEIVES,
            500,
        )
        found = DEAD_LETTERED.fullmatch(record["last_error"] or "")
        assert found, record["last_error"]
        # The receives from the delivery queue, and at least the dead-letter function's own
        assert int(found.group(1)) > MAX_RECEIVES
    for path in paths:
        assert len(receiver.to(path)) == ITEMS * MAX_RECEIVES
