"""Pacing through make run's stack (SPEC §12), measured at a real receiver: a webhook limited to
5 requests a second gets no more than that + 10 % in any one-second window while 30 pairs go
out, and a receiver that answers 429 eight times and then 200 ends `delivered` with a retry schedule
of four attempts.

Windows are counted on the receiver's clock (the time each request arrived): every half-open
window [t, t + 1 s) that starts at a request's arrival is counted, which finds the fullest window
of all (one holding the most can always be slid right until it starts at a request).
"""

from __future__ import annotations

import bisect
import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import RunningStack, Tenant, running_stack, tenant_client
from tests.receiver import Receiver

pytestmark = pytest.mark.e2e

EVENT = "content_item.changed"
PAIRS = 30
PER_SECOND = 5
ALLOWED = 5  # 5 + 10 % = 5.5: at most 5 requests in any one second


def most_in_one_second(times: list[float]) -> int:
    ordered = sorted(times)
    return max((bisect.bisect_left(ordered, t + 1.0) - i for i, t in enumerate(ordered)), default=0)


def _records(client: httpx.Client, resend_id: str) -> list[dict[str, Any]]:
    answer = client.get(f"/resends/{resend_id}/deliveries", params={"limit": 1000})
    assert answer.status_code == 200, answer.text
    return list(answer.json()["data"])


def _resend(
    client: httpx.Client, urls: list[str], items: int, rate_limit: dict[str, int] | None = None
) -> str:
    for _ in range(items):
        put = client.put(f"/content_items/{uuid.uuid4()}", json={"model": "Post", "payload": {"n": 1}})
        assert put.status_code == 201, put.text
    hook: dict[str, Any] = {"urls": urls, "events": [EVENT]}
    if rate_limit is not None:
        hook["rate_limit"] = rate_limit
    webhook = client.post("/webhooks", json=hook)
    assert webhook.status_code == 201, webhook.text
    assert webhook.json()["rate_limit"] == rate_limit
    answer = client.request(
        "GET",
        "/content_items/bulk/webhooks",
        json={"event": EVENT, "webhook_id": [{"eq": webhook.json()["id"]}], "limit": items},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["total_queued"] == items
    return str(answer.json()["resend_id"])


def test_rate_limit_of_five_a_second_holds_at_the_receiver_over_30_pairs(
    tenant: Tenant,
    receiver: Receiver,
    wait_for_resend: Callable[..., tuple[dict[str, Any], list[dict[str, Any]]]],
) -> None:
    # Given a webhook limited to 5 requests a second, and 30 pairs resent to it at once
    path = receiver.new_path()
    resend_id = _resend(tenant.client, [receiver.url + path], PAIRS, {"per_second": PER_SECOND})

    # When the stack delivers them
    job, _ = wait_for_resend(tenant.client, resend_id, deadline_seconds=90)

    # Then every pair was delivered once
    assert (job["delivered"], job["failed"], job["pending"]) == (PAIRS, 0, 0)
    requests = receiver.to(path)
    assert len(requests) == PAIRS
    assert len({json.loads(r.body)["payload"]["id"] for r in requests}) == PAIRS
    # And no one-second window at the receiver held more than 5 + 10 %
    times = [r.at for r in requests]
    assert most_in_one_second(times) <= ALLOWED, sorted(t - min(times) for t in times)
    # And none was an attempt held back: one attempt each
    assert [r["attempts"] for r in _records(tenant.client, resend_id)] == [1] * PAIRS


# -- receivers that set the pace ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def four_attempts_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    with running_stack(tmp_path_factory.mktemp("devstack-pacing"), {"RETRY_SCHEDULE": "1,1,1,1"}) as running:
        yield running


@pytest.fixture
def four_attempts_client(four_attempts_stack: RunningStack) -> Iterator[httpx.Client]:
    with tenant_client(four_attempts_stack, "pacing") as tenant:
        yield tenant


def test_receiver_answering_429_eight_times_then_200_ends_delivered_with_four_attempts(
    four_attempts_client: httpx.Client,
    receiver: Receiver,
    wait_for_resend: Callable[..., tuple[dict[str, Any], list[dict[str, Any]]]],
) -> None:
    # Given a stack with RETRY_SCHEDULE=1,1,1,1, and a receiver answering 429 eight times, then 200
    path = receiver.new_path()
    receiver.script(path, [429] * 8 + [200])

    # When one pair is resent to it
    resend_id = _resend(four_attempts_client, [receiver.url + path], 1)

    # Then it ends delivered: the 429s deferred it without using up its four attempts
    job, _ = wait_for_resend(four_attempts_client, resend_id, deadline_seconds=90)
    assert (job["delivered"], job["failed"], job["pending"]) == (1, 0, 0)
    assert len(receiver.to(path)) == 9
    [record] = _records(four_attempts_client, resend_id)
    assert (record["status"], record["attempts"], record["deferrals"]) == ("delivered", 9, 8)
    assert record["deferred_seconds"] >= 8
