"""The resend pipeline end to end: `GET /content_items/bulk/webhooks` over real HTTP, the stack's
own SQS poller and delivery function, a real receiver, and the status routes.

The stack runs with RETRY_SCHEDULE=0,0,0 (three retries, four attempts in all) and
DELIVERY_TIMEOUT_SECONDS=1; nothing here calls a handler directly.
"""

from __future__ import annotations

import json
import urllib.parse
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
import standardwebhooks

from tests.counters import assert_counters_add_up

pytestmark = pytest.mark.e2e

EVENT = "content_item.changed"
ATTEMPTS_IN_ALL = 4  # the first attempt and one per RETRY_SCHEDULE entry


def put_items(tenant, count: int, **fields: Any) -> dict[str, dict[str, Any]]:
    """`count` content items, their `created_on` one second apart; by id, the payload a delivery
    of each carries: the stored one with the item's `id` and `model` first (SPEC §15)."""
    payloads = {}
    for index in range(count):
        item_id = str(uuid.uuid4())
        payload = {"title": f"item {index}", "body": {"n": index, "tags": ["a", "b"]}, "unicode": "é✓"}
        answer = tenant.client.put(
            f"/content_items/{item_id}",
            json={
                "model": "Post",
                "tags": ["news"],
                "created_on": f"2024-01-01T00:00:{index:02d}Z",
                "payload": payload,
                **fields,
            },
        )
        assert answer.status_code == 201, answer.text
        payloads[item_id] = {"id": item_id, "model": fields.get("model", "Post"), **payload}
    return payloads


def create_webhook(tenant, urls: list[str]) -> dict[str, Any]:
    answer = tenant.client.post("/webhooks", json={"urls": urls, "events": [EVENT]})
    assert answer.status_code == 201, answer.text
    return answer.json()


def bulk_resend(tenant, **parameters: Any) -> dict[str, Any]:
    """Prepr's call: GET with the parameters as a JSON body."""
    answer = tenant.client.request("GET", "/content_items/bulk/webhooks", json={"event": EVENT, **parameters})
    assert answer.status_code == 200, answer.text
    return answer.json()


def job_of(tenant, resend_id: str) -> dict[str, Any]:
    answer = tenant.client.get(f"/resends/{resend_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()


def deliveries_of(tenant, resend_id: str) -> list[dict[str, Any]]:
    answer = tenant.client.get(f"/resends/{resend_id}/deliveries", params={"limit": 1000})
    assert answer.status_code == 200, answer.text
    assert answer.json()["next_cursor"] is None
    return answer.json()["data"]


# ---------------------------------------------------------------------------------------------
# A bulk resend of three items to a webhook with two URLs, every delivery answered 200
# ---------------------------------------------------------------------------------------------
@dataclass
class CompletedResend:
    payloads: dict[str, dict[str, Any]]
    webhook: dict[str, Any]
    paths: list[str]
    answer: dict[str, Any]
    job: dict[str, Any]
    polls: list[dict[str, Any]]
    settled: dict[str, Any]  # the job read again once completed
    received: list[Any]
    records: list[dict[str, Any]]

    @property
    def resend_id(self) -> str:
        return self.answer["resend_id"]


@pytest.fixture(scope="module")
def completed(create_tenant, receiver, wait_for_resend) -> CompletedResend:
    tenant = create_tenant("bulk")
    payloads = put_items(tenant, 3)
    paths = [receiver.new_path("a"), receiver.new_path("b")]
    webhook = create_webhook(tenant, [receiver.url + path for path in paths])

    answer = bulk_resend(tenant, webhook_id=[{"eq": webhook["id"]}], limit=25)
    job, polls = wait_for_resend(tenant.client, answer["resend_id"])

    received = [request for path in paths for request in receiver.to(path)]
    records = deliveries_of(tenant, answer["resend_id"])
    settled = job_of(tenant, answer["resend_id"])
    return CompletedResend(payloads, webhook, paths, answer, job, polls, settled, received, records)


def test_bulk_resend_answers_what_it_queued(completed: CompletedResend) -> None:
    assert completed.answer["total_items"] == 3
    assert completed.answer["total_queued"] == 3
    assert {pair["content_item_id"] for pair in completed.answer["queued"]} == set(completed.payloads)
    assert {pair["webhook_id"] for pair in completed.answer["queued"]} == {completed.webhook["id"]}
    assert completed.answer["webhooks"] == {completed.webhook["id"]: completed.webhook["urls"]}


def test_bulk_resend_job_completes_with_every_pair_delivered(completed: CompletedResend) -> None:
    job = completed.job

    assert job["id"] == completed.resend_id
    assert job["source"] == "prepr"
    assert job["event"] == EVENT
    assert (job["total_items"], job["total_queued"]) == (3, 3)
    assert (job["delivered"], job["failed"], job["pending"]) == (3, 0, 0)


def test_bulk_resend_job_records_when_it_completed(completed: CompletedResend) -> None:
    # The completion time comes with the count that completes the job (the same write), so the
    # poll that saw "completed" shows it, and so does a read afterwards.
    for job in (completed.job, completed.settled):
        assert job["status"] == "completed"
        assert job["completed_on"] >= job["created_on"]
    assert completed.settled["completed_on"] == completed.job["completed_on"]


def test_bulk_resend_delivers_each_item_once_to_each_url(completed: CompletedResend) -> None:
    for path in completed.paths:
        bodies = [json.loads(r.body) for r in completed.received if r.path == path]
        assert sorted(json.dumps(b["payload"], sort_keys=True) for b in bodies) == sorted(
            json.dumps(p, sort_keys=True) for p in completed.payloads.values()
        )


def test_bulk_resend_deliveries_verify_with_standardwebhooks(completed: CompletedResend) -> None:
    verifier = standardwebhooks.Webhook(completed.webhook["secret"])
    assert len(completed.received) == 6

    for request in completed.received:
        assert request.method == "POST"
        assert verifier.verify(request.body, request.headers) == json.loads(request.body)


def test_bulk_resend_delivery_body_is_the_event_with_the_item_payload(completed: CompletedResend) -> None:
    assert completed.received
    for request in completed.received:
        body = json.loads(request.body)
        assert set(body) == {"id", "created_on", "event", "payload"}
        assert body["event"] == EVENT
        assert body["created_on"]
        assert body["payload"] in completed.payloads.values()


def test_bulk_resend_delivery_headers_name_the_event_and_the_resend(completed: CompletedResend) -> None:
    assert completed.received
    for request in completed.received:
        assert request.headers["content-type"].startswith("application/json")
        assert request.headers["webhook-id"] == json.loads(request.body)["id"]
        assert request.headers["x-webhook-resend-id"] == completed.resend_id
        assert request.headers["user-agent"]


def test_bulk_resend_event_id_is_shared_by_the_urls_of_a_pair(completed: CompletedResend) -> None:
    by_payload: dict[str, set[str]] = {}
    for request in completed.received:
        body = json.loads(request.body)
        by_payload.setdefault(json.dumps(body["payload"], sort_keys=True), set()).add(body["id"])

    assert len(by_payload) == 3
    assert all(len(ids) == 1 for ids in by_payload.values())


def test_bulk_resend_counters_add_up_on_every_poll(completed: CompletedResend) -> None:
    for job in completed.polls:
        assert_counters_add_up(job)


def test_bulk_resend_deliveries_list_one_delivered_record_per_url(completed: CompletedResend) -> None:
    records = completed.records

    assert len(records) == 6
    assert {(r["subject_id"], r["url"]) for r in records} == {
        (item_id, url) for item_id in completed.payloads for url in completed.webhook["urls"]
    }
    assert {(r["status"], r["attempts"], r["last_status_code"]) for r in records} == {("delivered", 1, 200)}
    assert {r["job_id"] for r in records} == {completed.resend_id}


# ---------------------------------------------------------------------------------------------
# The qs query string
# ---------------------------------------------------------------------------------------------
def test_bulk_resend_with_a_qs_query_string_delivers_the_matching_items(
    tenant, receiver, wait_for_resend
) -> None:
    # Given two Posts and a Page, and a webhook on the receiver
    posts = put_items(tenant, 2)
    put_items(tenant, 1, model="Page")
    path = receiver.new_path()
    webhook = create_webhook(tenant, [receiver.url + path])

    # When the bulk resend comes as the query string Prepr's SDKs build with `qs`
    query = urllib.parse.urlencode(
        [("event", EVENT), ("limit", "25"), ("model[eq]", "Post"), ("webhook_id[0][eq]", webhook["id"])]
    )
    answer = tenant.client.get(f"/content_items/bulk/webhooks?{query}")
    assert answer.status_code == 200, answer.text
    job, _ = wait_for_resend(tenant.client, answer.json()["resend_id"])

    # Then the Posts, and only they, were delivered
    assert (answer.json()["total_items"], answer.json()["total_queued"]) == (2, 2)
    assert (job["delivered"], job["failed"], job["pending"]) == (2, 0, 0)
    received = receiver.to(path)
    assert sorted(json.dumps(json.loads(r.body)["payload"], sort_keys=True) for r in received) == sorted(
        json.dumps(p, sort_keys=True) for p in posts.values()
    )
    assert {r.headers["x-webhook-resend-id"] for r in received} == {answer.json()["resend_id"]}


# ---------------------------------------------------------------------------------------------
# One item resent to four webhooks whose receivers misbehave in different ways
# ---------------------------------------------------------------------------------------------
@dataclass
class MixedResend:
    urls: dict[str, str]  # role → URL
    webhooks: dict[str, dict[str, Any]]  # role → webhook
    flaky_path: str
    answer: dict[str, Any]
    job: dict[str, Any]
    polls: list[dict[str, Any]]
    settled: dict[str, Any]  # the job read again once completed
    records: list[dict[str, Any]]
    failed_records: list[dict[str, Any]]

    def record(self, role: str) -> dict[str, Any]:
        [found] = [r for r in self.records if r["url"] == self.urls[role]]
        return found


@pytest.fixture(scope="module")
def mixed(create_tenant, receiver, refused_url, wait_for_resend) -> MixedResend:
    # Given one item and four webhooks: one that answers 500, times out, resets the connection
    # and then answers 200; one on a refused port; one answered 400; and one with three URLs
    # (answered 200, answered 400, refused)
    tenant = create_tenant("mixed")
    put_items(tenant, 1)
    flaky_path, bad_path, bad_too_path = (receiver.new_path(n) for n in ("flaky", "bad", "bad-too"))
    receiver.script(flaky_path, [500, "timeout", "reset", 200])
    receiver.script(bad_path, [400])
    receiver.script(bad_too_path, [400])
    urls = {
        "flaky": receiver.url + flaky_path,
        "refused": refused_url("/refused"),
        "bad": receiver.url + bad_path,
        "multi-ok": receiver.url + receiver.new_path("ok"),
        "multi-bad": receiver.url + bad_too_path,
        "multi-refused": refused_url("/refused-too"),
    }
    webhooks = {
        role: create_webhook(tenant, [urls[u] for u in members])
        for role, members in {
            "flaky": ["flaky"],
            "refused": ["refused"],
            "bad": ["bad"],
            "multi": ["multi-ok", "multi-bad", "multi-refused"],
        }.items()
    }

    # When the item is resent to all four, and the job is polled often until it completes
    answer = bulk_resend(tenant, webhook_id=[{"in": [w["id"] for w in webhooks.values()]}])
    job, polls = wait_for_resend(tenant.client, answer["resend_id"], interval=0.05)

    failed = tenant.client.get(f"/resends/{answer['resend_id']}/deliveries", params={"status": "failed"})
    assert failed.status_code == 200, failed.text
    return MixedResend(
        urls,
        webhooks,
        flaky_path,
        answer,
        job,
        polls,
        job_of(tenant, answer["resend_id"]),
        deliveries_of(tenant, answer["resend_id"]),
        failed.json()["data"],
    )


def test_delivery_through_500_timeout_and_reset_ends_delivered_after_four_attempts(
    mixed: MixedResend,
) -> None:
    record = mixed.record("flaky")

    assert record["status"] == "delivered"
    assert record["attempts"] == ATTEMPTS_IN_ALL
    assert record["last_status_code"] == 200
    assert record["delivered_on"]


def test_delivery_retries_reach_the_receiver_with_the_same_webhook_id(mixed: MixedResend, receiver) -> None:
    attempts = receiver.to(mixed.flaky_path)

    assert len(attempts) == ATTEMPTS_IN_ALL
    assert len({request.headers["webhook-id"] for request in attempts}) == 1
    assert {json.loads(request.body)["id"] for request in attempts} == {attempts[0].headers["webhook-id"]}


def test_delivery_to_a_refused_url_fails_after_four_attempts(mixed: MixedResend) -> None:
    record = mixed.record("refused")

    assert record["status"] == "failed"
    assert record["attempts"] == ATTEMPTS_IN_ALL
    assert record["last_status_code"] is None
    assert record["last_error"]


def test_delivery_answered_400_fails_after_one_attempt(mixed: MixedResend, receiver) -> None:
    record = mixed.record("bad")

    assert record["status"] == "failed"
    assert record["attempts"] == 1
    assert record["last_status_code"] == 400
    assert len(receiver.to(urllib.parse.urlsplit(mixed.urls["bad"]).path)) == 1


def test_resend_counters_add_up_on_every_poll(mixed: MixedResend) -> None:
    assert len(mixed.polls) > 1
    for seen in mixed.polls:
        assert_counters_add_up(seen)
        assert min(seen["delivered"], seen["failed"], seen["pending"]) >= 0, seen


def test_resend_completes_with_every_pair_counted_once(mixed: MixedResend) -> None:
    job = mixed.job

    assert mixed.answer["total_queued"] == job["total_queued"] == 4
    assert job["pending"] == 0
    assert job["delivered"] + job["failed"] == 4
    # The flaky webhook was delivered in the end; the refused one and the 400 one failed.
    assert job["delivered"] >= 1
    assert job["failed"] >= 2
    assert mixed.settled["completed_on"]


def test_resend_deliveries_list_one_record_per_url(mixed: MixedResend) -> None:
    by_url = {record["url"]: record for record in mixed.records}

    assert len(mixed.records) == len(mixed.urls) == len(by_url)
    assert {role: (by_url[url]["status"], by_url[url]["attempts"]) for role, url in mixed.urls.items()} == {
        "flaky": ("delivered", ATTEMPTS_IN_ALL),
        "refused": ("failed", ATTEMPTS_IN_ALL),
        "bad": ("failed", 1),
        "multi-ok": ("delivered", 1),
        "multi-bad": ("failed", 1),
        "multi-refused": ("failed", ATTEMPTS_IN_ALL),
    }
    assert {by_url[mixed.urls["multi-ok"]]["webhook_id"]} == {
        by_url[mixed.urls[role]]["webhook_id"] for role in ("multi-ok", "multi-bad", "multi-refused")
    }


def test_resend_deliveries_filter_by_status(mixed: MixedResend) -> None:
    assert {record["url"] for record in mixed.failed_records} == {
        mixed.urls[role] for role in ("refused", "bad", "multi-bad", "multi-refused")
    }
    assert {record["status"] for record in mixed.failed_records} == {"failed"}
