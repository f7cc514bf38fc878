"""Delivery end to end in-process: bulk resend → SQS → deliver function → a real HTTP receiver.

Retries use the SQS visibility timeout; RETRY_SCHEDULE is zeros so a retried message is visible
again at once, and the per-attempt timeout is 1 s so "timeout" answers cost little.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import pytest
from standardwebhooks import Webhook

from devstack.sqs import SqsEventSource, mappings_of
from tests.conftest import Api, LocalAws, Receiver, Reply, closed_port_url
from tests.counters import assert_counters_add_up
from webhook_resend import clock

BULK = "/content_items/bulk/webhooks"
EVENT = "content_item.changed"


FAST = {"ALLOW_PRIVATE_URLS": "true", "RETRY_SCHEDULE": "0,0,0", "DELIVERY_TIMEOUT_SECONDS": "1"}


@pytest.fixture
def local_env() -> dict[str, str]:
    return dict(FAST)


# -- helpers ------------------------------------------------------------------------------------------
def _put_item(api: Api, token: str, n: int, payload: dict[str, Any] | None = None) -> str:
    item_id = f"00000000-0000-4000-8000-{n:012d}"
    body = {
        "model": "Post",
        "created_on": f"2024-01-01T00:00:{n:02d}Z",
        "payload": payload if payload is not None else {"n": n},
    }
    reply = api.request("PUT", f"/content_items/{item_id}", json_body=body, token=token)
    assert reply.status == 201, reply.body
    return item_id


def _webhook(api: Api, token: str, urls: list[str]) -> dict[str, Any]:
    reply = api.request("POST", "/webhooks", json_body={"urls": urls, "events": [EVENT]}, token=token)
    assert reply.status == 201, reply.body
    return reply.json


def _resend(api: Api, token: str, webhook_id: str) -> dict[str, Any]:
    reply = api.request(
        "GET", BULK, json_body={"event": EVENT, "webhook_id": [{"eq": webhook_id}]}, token=token
    )
    assert reply.status == 200, reply.body
    return reply.json


def _job(api: Api, token: str, job_id: str) -> dict[str, Any]:
    reply = api.request("GET", f"/resends/{job_id}", token=token)
    assert reply.status == 200, reply.body
    job = reply.json
    assert_counters_add_up(job)
    return job


def _records(api: Api, token: str, job_id: str, query: str = "") -> list[dict[str, Any]]:
    """Every delivery record of the job (all pages)."""
    found: list[dict[str, Any]] = []
    target = f"/resends/{job_id}/deliveries?limit=1000{query}"
    for _ in range(100):
        reply = api.request("GET", target, token=token)
        assert reply.status == 200, reply.body
        found += reply.json["data"]
        if not reply.json["next_cursor"]:
            return found
        target = f"/resends/{job_id}/deliveries?limit=1000{query}&cursor={reply.json['next_cursor']}"
    raise AssertionError("the listing never ended")


def _one(api: Api, token: str, job_id: str) -> dict[str, Any]:
    records = _records(api, token, job_id)
    assert len(records) == 1, records
    return records[0]


def _verified(secret: str, request: Any) -> dict[str, Any]:
    return Webhook(secret).verify(request.body, request.headers)  # type: ignore[no-any-return]


@pytest.fixture
def one_pair(api: Api, token: str, receiver: Receiver) -> Callable[..., dict[str, Any]]:
    """`one_pair(urls)`: one item, one webhook with those URLs, resent; the resend's answer plus
    `webhook` and `item_id`."""

    def make(urls: list[str] | None = None, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        item_id = _put_item(api, token, 1, payload)
        hook = _webhook(api, token, urls or [f"{receiver.url}/hook"])
        answer = _resend(api, token, hook["id"])
        assert answer["total_queued"] == 1
        return {**answer, "webhook": hook, "item_id": item_id}

    return make


# -- what a receiver gets -----------------------------------------------------------------------------
def test_delivery_posts_the_event_with_the_items_payload(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int], one_pair: Callable[..., Any]
) -> None:
    payload = {"title": "Hello", "nested": {"list": [1, 2, 3], "none": None}, "unicode": "ë€"}
    sent = one_pair(payload=payload)

    deliveries()

    [request] = receiver.to("/hook")
    assert request.method == "POST"
    body = json.loads(request.body)
    assert set(body) == {"id", "created_on", "event", "payload"}
    assert body["event"] == EVENT
    # The stored payload, with the item's id and model first (SPEC §15)
    assert body["payload"] == {"id": sent["item_id"], "model": "Post", **payload}
    assert list(body["payload"])[:2] == ["id", "model"]
    assert body["id"] == request.headers["webhook-id"]
    clock.parse(body["created_on"])  # an ISO 8601 time
    # Compact JSON, envelope keys in this order (the stored payload is spliced in, not re-encoded).
    assert request.body == json.dumps(body, separators=(",", ":")).encode()


def test_delivery_carries_standard_webhooks_headers_that_verify(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int], one_pair: Callable[..., Any]
) -> None:
    sent = one_pair()

    deliveries()

    [request] = receiver.to("/hook")
    headers = request.headers
    assert _verified(sent["webhook"]["secret"], request)["payload"] == {
        "id": sent["item_id"],
        "model": "Post",
        "n": 1,
    }
    assert headers["webhook-id"]
    assert headers["webhook-timestamp"].isdigit()
    assert headers["webhook-signature"].startswith("v1,")
    assert headers["content-type"].startswith("application/json")
    assert headers["x-webhook-resend-id"] == sent["resend_id"]
    assert "webhook-resend" in headers["user-agent"]


def test_delivery_signature_does_not_verify_with_another_secret(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int], one_pair: Callable[..., Any]
) -> None:
    one_pair()
    other_secret = "whsec_" + base64.b64encode(b"x" * 32).decode()

    deliveries()

    [request] = receiver.to("/hook")
    with pytest.raises(Exception, match="signature"):
        Webhook(other_secret).verify(request.body, request.headers)


def test_delivery_to_a_two_url_webhook_sends_each_url_once_and_records_each(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int], one_pair: Callable[..., Any]
) -> None:
    sent = one_pair([f"{receiver.url}/a", f"{receiver.url}/b"])

    deliveries()

    assert len(receiver.to("/a")) == 1
    assert len(receiver.to("/b")) == 1
    # Both carry the same event id: it is one event to one webhook.
    assert receiver.to("/a")[0].headers["webhook-id"] == receiver.to("/b")[0].headers["webhook-id"]
    records = _records(api, token, sent["resend_id"])
    assert sorted((r["url_index"], r["url"], r["status"]) for r in records) == [
        (0, f"{receiver.url}/a", "delivered"),
        (1, f"{receiver.url}/b", "delivered"),
    ]
    job = _job(api, token, sent["resend_id"])
    assert (job["total_queued"], job["delivered"], job["failed"], job["pending"]) == (1, 1, 0, 0)


def test_delivery_record_of_a_success_has_its_details(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int], one_pair: Callable[..., Any]
) -> None:
    sent = one_pair()

    deliveries()

    record = _one(api, token, sent["resend_id"])
    assert record["status"] == "delivered"
    assert record["attempts"] == 1
    assert record["last_status_code"] == 200
    assert record["last_error"] is None
    assert record["subject_id"] == sent["item_id"]
    assert record["webhook_id"] == sent["webhook"]["id"]
    assert record["job_id"] == sent["resend_id"]
    clock.parse(record["delivered_on"])
    clock.parse(record["last_attempt_on"])
    assert isinstance(record["latency_ms"], int)
    assert record["latency_ms"] >= 0


# -- retries ------------------------------------------------------------------------------------------
def test_delivery_after_a_500_is_retried_with_the_same_webhook_id(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int], one_pair: Callable[..., Any]
) -> None:
    receiver.script("/hook", [500, 200])
    sent = one_pair()

    deliveries()

    first, second = receiver.to("/hook")
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    assert _verified(sent["webhook"]["secret"], second)["id"] == first.headers["webhook-id"]
    record = _one(api, token, sent["resend_id"])
    assert (record["status"], record["attempts"], record["last_status_code"]) == ("delivered", 2, 200)
    job = _job(api, token, sent["resend_id"])
    assert (job["delivered"], job["failed"], job["pending"]) == (1, 0, 0)


def test_delivery_after_a_timeout_is_retried_and_delivered(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int], one_pair: Callable[..., Any]
) -> None:
    receiver.hold_seconds = 2.0  # longer than DELIVERY_TIMEOUT_SECONDS
    receiver.script("/hook", ["timeout", 200])
    sent = one_pair()

    deliveries()

    assert len(receiver.to("/hook")) == 2
    record = _one(api, token, sent["resend_id"])
    assert (record["status"], record["attempts"]) == ("delivered", 2)
    assert _job(api, token, sent["resend_id"])["delivered"] == 1


def test_delivery_after_a_connection_reset_is_retried_and_delivered(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int], one_pair: Callable[..., Any]
) -> None:
    receiver.script("/hook", ["reset", 200])
    sent = one_pair()

    deliveries()

    assert len(receiver.to("/hook")) == 2
    record = _one(api, token, sent["resend_id"])
    assert (record["status"], record["attempts"]) == ("delivered", 2)
    assert _job(api, token, sent["resend_id"])["delivered"] == 1


@pytest.mark.parametrize("local_env", [{**FAST, "RETRY_SCHEDULE": "0,0"}])
def test_delivery_to_a_refused_connection_fails_after_the_schedule(
    api: Api, token: str, deliveries: Callable[..., int], one_pair: Callable[..., Any]
) -> None:
    sent = one_pair([closed_port_url("/refused")])

    deliveries()

    record = _one(api, token, sent["resend_id"])
    assert record["status"] == "failed", record
    assert record["attempts"] == 3  # the first attempt and one per step of the schedule
    assert record["last_status_code"] is None
    assert "connect" in record["last_error"].lower()
    job = _job(api, token, sent["resend_id"])
    assert (job["delivered"], job["failed"], job["pending"], job["status"]) == (0, 1, 0, "completed")


def test_delivery_answered_400_fails_after_exactly_one_attempt(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int], one_pair: Callable[..., Any]
) -> None:
    receiver.script("/hook", [400])
    sent = one_pair()

    deliveries()

    assert len(receiver.to("/hook")) == 1
    record = _one(api, token, sent["resend_id"])
    assert (record["status"], record["attempts"], record["last_status_code"]) == ("failed", 1, 400)
    assert "400" in record["last_error"]
    job = _job(api, token, sent["resend_id"])
    assert (job["delivered"], job["failed"], job["pending"]) == (0, 1, 0)


def test_delivery_answered_410_fails_and_deactivates_the_webhook(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int], one_pair: Callable[..., Any]
) -> None:
    receiver.script("/hook", [410])
    sent = one_pair()

    deliveries()

    assert len(receiver.to("/hook")) == 1
    record = _one(api, token, sent["resend_id"])
    assert (record["status"], record["attempts"], record["last_status_code"]) == ("failed", 1, 410)
    webhook = api.request("GET", f"/webhooks/{sent['webhook']['id']}", token=token)
    assert webhook.status == 200
    assert webhook.json["active"] is False
    assert _job(api, token, sent["resend_id"])["failed"] == 1


def test_delivery_answered_429_waits_for_retry_after(
    api: Api,
    token: str,
    receiver: Receiver,
    stack: LocalAws,
    deliveries: Callable[..., int],
    one_pair: Callable[..., Any],
) -> None:
    # Given a receiver that asks for 2 s of quiet, and a zero retry schedule
    receiver.script("/hook", [(429, {"Retry-After": "2"}), 200])
    sent = one_pair()

    # When the queue is worked until nothing is visible
    deliveries()

    # Then the retry did not come at once (the schedule alone would have made it visible again)
    assert len(receiver.to("/hook")) == 1
    record = _one(api, token, sent["resend_id"])
    assert (record["status"], record["attempts"], record["last_status_code"]) == ("retrying", 1, 429)
    assert _job(api, token, sent["resend_id"])["pending"] == 1

    # And a later poll, which waits on the queue for the message to come back, delivers it
    [mapping] = [m for m in mappings_of(stack.stack) if m.function == "DeliverFunction"]
    waiting = SqsEventSource(stack, mapping, wait_seconds=10)
    assert waiting.poll_once() == 1
    deliveries()
    assert len(receiver.to("/hook")) == 2
    record = _one(api, token, sent["resend_id"])
    assert (record["status"], record["attempts"]) == ("delivered", 2)
    job = _job(api, token, sent["resend_id"])
    assert (job["delivered"], job["pending"], job["status"]) == (1, 0, "completed")


def test_delivery_retry_of_a_pair_does_not_resend_a_delivered_url(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int], one_pair: Callable[..., Any]
) -> None:
    receiver.script("/b", [503, 200])
    sent = one_pair([f"{receiver.url}/a", f"{receiver.url}/b"])

    deliveries()

    assert len(receiver.to("/a")) == 1
    assert len(receiver.to("/b")) == 2
    records = {r["url_index"]: r for r in _records(api, token, sent["resend_id"])}
    assert (records[0]["status"], records[0]["attempts"]) == ("delivered", 1)
    assert (records[1]["status"], records[1]["attempts"]) == ("delivered", 2)
    job = _job(api, token, sent["resend_id"])
    assert (job["delivered"], job["failed"], job["pending"]) == (1, 0, 0)


def test_delivery_pair_fails_when_one_url_fails_for_good(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int], one_pair: Callable[..., Any]
) -> None:
    receiver.script("/b", [404])
    sent = one_pair([f"{receiver.url}/a", f"{receiver.url}/b"])

    deliveries()

    records = {r["url_index"]: r["status"] for r in _records(api, token, sent["resend_id"])}
    assert records == {0: "delivered", 1: "failed"}
    job = _job(api, token, sent["resend_id"])
    assert (job["total_queued"], job["delivered"], job["failed"], job["pending"]) == (1, 0, 1, 0)


# -- the job ------------------------------------------------------------------------------------------
def test_delivery_job_reaches_completed_with_completed_on(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    for n in range(3):
        _put_item(api, token, n)
    hook = _webhook(api, token, [f"{receiver.url}/hook"])
    sent = _resend(api, token, hook["id"])
    assert _job(api, token, sent["resend_id"])["status"] == "running"

    deliveries()

    job = _job(api, token, sent["resend_id"])
    assert (job["status"], job["total_queued"], job["delivered"], job["pending"]) == ("completed", 3, 3, 0)
    assert job["completed_on"] is not None
    assert clock.parse(job["completed_on"]) >= clock.parse(job["created_on"])
    assert len(receiver.to("/hook")) == 3


def test_delivery_of_an_item_deleted_after_queueing_is_failed_not_dropped(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int], one_pair: Callable[..., Any]
) -> None:
    sent = one_pair()
    assert api.request("DELETE", f"/content_items/{sent['item_id']}", token=token).status == 204

    deliveries()

    assert receiver.to("/hook") == []
    record = _one(api, token, sent["resend_id"])
    assert record["status"] == "failed"
    assert record["last_error"]
    job = _job(api, token, sent["resend_id"])
    assert (job["failed"], job["pending"], job["status"]) == (1, 0, "completed")


def test_delivery_to_a_webhook_deactivated_after_queueing_is_failed_not_sent(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int], one_pair: Callable[..., Any]
) -> None:
    sent = one_pair()
    hook = sent["webhook"]
    replaced = api.request(
        "PUT",
        f"/webhooks/{hook['id']}",
        json_body={"urls": hook["urls"], "events": hook["events"], "active": False},
        token=token,
    )
    assert replaced.status == 200, replaced.body

    deliveries()

    assert receiver.to("/hook") == []
    assert _one(api, token, sent["resend_id"])["status"] == "failed"
    assert _job(api, token, sent["resend_id"])["failed"] == 1


# -- the deliveries listing ---------------------------------------------------------------------------
def _page(api: Api, token: str, job_id: str, query: str) -> Reply:
    return api.request("GET", f"/resends/{job_id}/deliveries?{query}", token=token)


def test_deliveries_listing_pages_failed_records_one_at_a_time(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    # Given 3 items to a webhook whose second URL refuses everything, and a first that accepts
    for n in range(3):
        _put_item(api, token, n)
    receiver.script("/bad", [400])
    hook = _webhook(api, token, [f"{receiver.url}/good", f"{receiver.url}/bad"])
    sent = _resend(api, token, hook["id"])
    deliveries()

    # When the failed records are read one page of one at a time
    seen: list[tuple[str, int]] = []
    query = "status=failed&limit=1"
    for _ in range(10):
        reply = _page(api, token, sent["resend_id"], query)
        assert reply.status == 200, reply.body
        assert len(reply.json["data"]) <= 1
        seen += [(r["subject_id"], r["url_index"]) for r in reply.json["data"]]
        assert all(r["status"] == "failed" for r in reply.json["data"])
        if not reply.json["next_cursor"]:
            break
        query = f"status=failed&limit=1&cursor={reply.json['next_cursor']}"

    # Then each failed record comes exactly once, and nothing else does
    assert sorted(seen) == sorted({(f"00000000-0000-4000-8000-{n:012d}", 1) for n in range(3)})
    assert len(_records(api, token, sent["resend_id"], "&status=delivered")) == 3
    assert len(_records(api, token, sent["resend_id"])) == 6
    job = _job(api, token, sent["resend_id"])
    assert (job["delivered"], job["failed"], job["pending"]) == (0, 3, 0)


@pytest.mark.parametrize("status", ["nope", "FAILED", "delivered,failed"])
def test_deliveries_listing_with_an_unknown_status_is_422(
    api: Api, token: str, receiver: Receiver, one_pair: Callable[..., Any], status: str
) -> None:
    sent = one_pair()

    reply = _page(api, token, sent["resend_id"], f"status={status}")

    assert reply.status == 422, reply.body
    assert [e["field"] for e in reply.json["errors"]] == ["status"]


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "not-a-cursor",
        "%%%",
        _cursor([1, 2]),
        _cursor({"gsi2pk": "a string where an attribute value belongs"}),
        _cursor({"pk": {"S": "x"}}),
    ],
)
def test_deliveries_listing_with_a_bad_cursor_is_422(
    api: Api, token: str, one_pair: Callable[..., Any], cursor: str
) -> None:
    sent = one_pair()

    reply = _page(api, token, sent["resend_id"], f"cursor={cursor}")

    assert reply.status == 422, reply.body
    assert [e["field"] for e in reply.json["errors"]] == ["cursor"]


@pytest.mark.parametrize(
    "start_key",
    [
        {},  # only the listing's own partition, none of the other key attributes
        {"gsi2sk": {"S": "failed#x"}},
        {"gsi2sk": {"N": "1"}, "pk": {"S": "x"}, "sk": {"S": "y"}},
    ],
)
def test_deliveries_listing_with_a_tampered_cursor_of_this_job_is_422(
    api: Api, token: str, tenant: dict[str, Any], one_pair: Callable[..., Any], start_key: dict[str, Any]
) -> None:
    # Given a cursor that names this job's listing but is no key the API gave out
    sent = one_pair()
    own = {"S": f"{tenant['tenant_id']}#JOB#{sent['resend_id']}"}
    cursor = _cursor({"gsi2pk": own, **start_key})

    reply = _page(api, token, sent["resend_id"], f"cursor={cursor}")

    # Then it is refused as a bad cursor, never a 500
    assert reply.status == 422, reply.body
    assert [e["field"] for e in reply.json["errors"]] == ["cursor"]


def test_deliveries_listing_with_another_jobs_cursor_is_422(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    for n in range(2):
        _put_item(api, token, n)
    hook = _webhook(api, token, [f"{receiver.url}/hook"])
    first = _resend(api, token, hook["id"])
    second = _resend(api, token, hook["id"])
    deliveries()
    page = _page(api, token, first["resend_id"], "limit=1")
    assert page.status == 200, page.body
    assert page.json["next_cursor"]

    reply = _page(api, token, second["resend_id"], f"limit=1&cursor={page.json['next_cursor']}")

    assert reply.status == 422, reply.body
    assert [e["field"] for e in reply.json["errors"]] == ["cursor"]


@pytest.mark.parametrize("limit", ["0", "1001", "x"])
def test_deliveries_listing_with_a_bad_limit_is_422(
    api: Api, token: str, receiver: Receiver, one_pair: Callable[..., Any], limit: str
) -> None:
    sent = one_pair()

    reply = _page(api, token, sent["resend_id"], f"limit={limit}")

    assert reply.status == 422, reply.body
    assert [e["field"] for e in reply.json["errors"]] == ["limit"]


# -- tenancy ------------------------------------------------------------------------------------------
def test_resend_of_another_tenant_is_404_on_both_routes(
    api: Api,
    token: str,
    receiver: Receiver,
    deliveries: Callable[..., int],
    one_pair: Callable[..., Any],
    other_tenant: dict[str, Any],
) -> None:
    sent = one_pair()
    deliveries()
    theirs = other_tenant["token"]

    job = api.request("GET", f"/resends/{sent['resend_id']}", token=theirs)
    records = api.request("GET", f"/resends/{sent['resend_id']}/deliveries", token=theirs)

    assert job.status == 404, job.body
    assert records.status == 404, records.body
    unknown = api.request("GET", "/resends/11111111-2222-4333-8444-555555555555", token=theirs)
    assert job.json == unknown.json


@pytest.mark.parametrize("job_id", ["11111111-2222-4333-8444-555555555555", "not-a-uuid"])
def test_resend_that_does_not_exist_is_404_on_both_routes(api: Api, token: str, job_id: str) -> None:
    assert api.request("GET", f"/resends/{job_id}", token=token).status == 404
    assert api.request("GET", f"/resends/{job_id}/deliveries", token=token).status == 404


# -- the collector --------------------------------------------------------------------------------
def test_delivery_batch_runs_with_the_collector_paused_and_leaves_it_on(
    api: Api,
    token: str,
    receiver: Receiver,
    deliveries: Callable[..., int],
    one_pair: Callable[..., Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import gc

    from webhook_resend.delivery.deliverer import Deliverer

    seen: list[bool] = []
    run = Deliverer.run

    async def watched(self: Deliverer, batch: Any) -> Any:
        seen.append(gc.isenabled())
        return await run(self, batch)

    monkeypatch.setattr(Deliverer, "run", watched)
    answer = one_pair()

    assert gc.isenabled()
    deliveries()

    assert seen == [False]
    assert gc.isenabled()
    assert len(receiver.to("/hook")) == 1
    assert _job(api, token, answer["resend_id"])["delivered"] == 1


def test_collector_is_left_as_it_was_also_when_the_batch_raises(stack: LocalAws) -> None:
    import gc
    import sys

    handler = stack.invokers["DeliverFunction"].load()
    module = sys.modules[handler.__module__]

    during: list[bool] = []

    def batch_that_dies() -> None:
        with module.collector_paused():
            during.append(gc.isenabled())
            raise RuntimeError("batch died")

    assert gc.isenabled()
    with pytest.raises(RuntimeError):
        batch_that_dies()
    assert during == [False]
    assert gc.isenabled()

    gc.disable()
    try:
        with module.collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # it was off before: it stays off
    finally:
        gc.enable()
