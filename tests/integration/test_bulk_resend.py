"""Prepr-style `/content_items/bulk/webhooks` in-process on moto: selection, validation, fan-out."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest

from tests.conftest import Api, LocalAws, Reply

BULK = "/content_items/bulk/webhooks"
EVENT = "content_item.changed"
URL = "http://127.0.0.1:9"  # never called: nothing is delivered in these tests


# -- helpers ------------------------------------------------------------------------------------------
def _put_item(api: Api, token: str, n: int, **fields: Any) -> str:
    item_id = f"00000000-0000-4000-8000-{n:012d}"
    body = {
        "model": "Post",
        "tags": ["a"],
        "created_on": f"2024-01-01T00:{n // 60:02d}:{n % 60:02d}Z",
        "payload": {"n": n},
        **fields,
    }
    reply = api.request("PUT", f"/content_items/{item_id}", json_body=body, token=token)
    assert reply.status == 201, reply.body
    return item_id


def _webhook(api: Api, token: str, **fields: Any) -> dict[str, Any]:
    body = {"urls": [f"{URL}/hook"], "events": [EVENT], **fields}
    reply = api.request("POST", "/webhooks", json_body=body, token=token)
    assert reply.status == 201, reply.body
    return reply.json


def _queue_depth(stack: LocalAws) -> int:
    answer = boto3.client("sqs").get_queue_attributes(
        QueueUrl=stack.stack.ref("DeliveryQueue"),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(answer["ApproximateNumberOfMessages"]) + int(answer["ApproximateNumberOfMessagesNotVisible"])


def _queued_messages(stack: LocalAws) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    url = stack.stack.ref("DeliveryQueue")
    found: list[dict[str, Any]] = []
    while True:
        answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        batch = answer.get("Messages", [])
        if not batch:
            return found
        found.extend(json.loads(m["Body"]) for m in batch)


def _job_records(stack: LocalAws) -> list[dict[str, Any]]:
    # A Scan is fine in a test: it proves no job was written by a refused request.
    table = stack.stack.ref("DataTable")
    items = boto3.client("dynamodb").scan(TableName=table)["Items"]
    return [item for item in items if item.get("sk", {}).get("S") == "JOB"]


def _pairs(reply: Reply) -> set[tuple[str, str]]:
    return {(q["content_item_id"], q["webhook_id"]) for q in reply.json["queued"]}


@pytest.fixture
def bulk(api: Api, token: str) -> Callable[..., Reply]:
    def call(params: dict[str, Any] | None = None, *, method: str = "GET", query: str | None = None) -> Reply:
        target = BULK if query is None else f"{BULK}?{query}"
        return api.request(method, target, json_body=params, token=token)

    return call


@pytest.fixture
def catalog(api: Api, token: str) -> dict[str, Any]:
    """Items of two models and several webhooks, only some of which a bulk resend may use."""
    items = {
        "post_a": _put_item(api, token, 1, model="Post", tags=["a", "x"]),
        "post_b": _put_item(api, token, 2, model="Post", tags=["b"]),
        "page_a": _put_item(api, token, 3, model="Page", tags=["a"]),
        "post_c": _put_item(api, token, 4, model="Post", tags=["c"]),
    }
    webhooks = {
        # Its `models` filter names another model: bulk resends do not apply it.
        "subscribed": _webhook(api, token, models=["Other"], urls=[f"{URL}/one", f"{URL}/two"]),
        "also_subscribed": _webhook(api, token, events=[EVENT, "content_item.created"]),
        "inactive": _webhook(api, token, active=False),
        "other_event": _webhook(api, token, events=["content_item.created"]),
    }
    return {"items": items, "webhooks": webhooks}


# -- the answer ---------------------------------------------------------------------------------------
def test_bulk_get_with_a_json_body_queues_items_times_webhooks(
    bulk: Callable[..., Reply], catalog: dict[str, Any]
) -> None:
    hook = catalog["webhooks"]["subscribed"]
    items = catalog["items"]

    reply = bulk({"event": EVENT, "model": [{"eq": "Post"}], "webhook_id": [{"eq": hook["id"]}]})

    assert reply.status == 200, reply.body
    body = reply.json
    assert set(body) == {"queued", "total_items", "total_queued", "webhooks", "resend_id"}
    assert body["queued"] == [
        {"content_item_id": items[name], "webhook_id": hook["id"]} for name in ("post_a", "post_b", "post_c")
    ]
    assert body["total_items"] == 3
    assert body["total_queued"] == 3
    assert body["webhooks"] == {hook["id"]: hook["urls"]}
    assert isinstance(body["resend_id"], str)
    assert body["resend_id"]


def _strip_job(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != "resend_id"}


def test_bulk_post_json_body_and_qs_query_string_answer_the_same_as_get(
    bulk: Callable[..., Reply], catalog: dict[str, Any]
) -> None:
    hook = catalog["webhooks"]["also_subscribed"]
    params = {
        "event": EVENT,
        "limit": 25,
        "model": {"eq": "Post"},
        "tags": [{"in": ["a", "b"]}],
        "webhook_id": [{"eq": hook["id"]}],
    }
    query = (
        f"event={EVENT}&limit=25&model[eq]=Post&tags[0][in][0]=a&tags[0][in][1]=b"
        f"&webhook_id[0][eq]={hook['id']}"
    )

    by_get = bulk(params)
    by_post = bulk(params, method="POST")
    by_query = bulk(query=query)

    assert [r.status for r in (by_get, by_post, by_query)] == [200, 200, 200], by_query.body
    expected = {
        "queued": [
            {"content_item_id": catalog["items"]["post_a"], "webhook_id": hook["id"]},
            {"content_item_id": catalog["items"]["post_b"], "webhook_id": hook["id"]},
        ],
        "total_items": 2,
        "total_queued": 2,
        "webhooks": {hook["id"]: hook["urls"]},
    }
    assert _strip_job(by_get.json) == expected
    assert _strip_job(by_post.json) == expected
    assert _strip_job(by_query.json) == expected
    # Three calls, three jobs.
    assert len({by_get.json["resend_id"], by_post.json["resend_id"], by_query.json["resend_id"]}) == 3


def test_bulk_query_string_reads_urlencoded_brackets(
    bulk: Callable[..., Reply], catalog: dict[str, Any]
) -> None:
    hook = catalog["webhooks"]["also_subscribed"]
    query = urlencode({"event": EVENT, "tags[0][eq]": "x", "webhook_id[0][in][0]": hook["id"]})

    reply = bulk(query=query)

    assert reply.status == 200, reply.body
    assert _pairs(reply) == {(catalog["items"]["post_a"], hook["id"])}


def test_bulk_without_webhook_id_uses_every_active_webhook_subscribed_to_the_event(
    bulk: Callable[..., Reply], catalog: dict[str, Any]
) -> None:
    hooks = catalog["webhooks"]
    items = catalog["items"]

    reply = bulk({"event": EVENT})

    assert reply.status == 200, reply.body
    chosen = {hooks["subscribed"]["id"], hooks["also_subscribed"]["id"]}
    assert set(reply.json["webhooks"]) == chosen
    assert reply.json["webhooks"][hooks["subscribed"]["id"]] == [f"{URL}/one", f"{URL}/two"]
    # The `models: ["Other"]` filter of "subscribed" is not applied: it gets Posts and Pages.
    assert _pairs(reply) == {(item, hook) for item in items.values() for hook in chosen}
    assert reply.json["total_items"] == 4
    assert reply.json["total_queued"] == 8


def test_bulk_without_webhook_id_and_no_subscriber_queues_nothing(
    bulk: Callable[..., Reply], catalog: dict[str, Any], stack: LocalAws
) -> None:
    reply = bulk({"event": "content_item.deleted"})

    assert reply.status == 200, reply.body
    assert reply.json["queued"] == []
    assert reply.json["total_queued"] == 0
    assert reply.json["webhooks"] == {}
    assert _queue_depth(stack) == 0


@pytest.mark.parametrize("which", ["unknown", "inactive", "one_unknown_in_a_list"])
def test_bulk_with_an_unknown_or_inactive_webhook_id_is_422_and_queues_nothing(
    bulk: Callable[..., Reply], catalog: dict[str, Any], stack: LocalAws, which: str
) -> None:
    hooks = catalog["webhooks"]
    unknown = "11111111-2222-4333-8444-555555555555"
    selector = {
        "unknown": [{"eq": unknown}],
        "inactive": [{"eq": hooks["inactive"]["id"]}],
        "one_unknown_in_a_list": [{"in": [hooks["subscribed"]["id"], unknown]}],
    }[which]

    reply = bulk({"event": EVENT, "webhook_id": selector})

    assert reply.status == 422, reply.body
    assert [e["field"] for e in reply.json["errors"]] == ["webhook_id"]
    assert _queue_depth(stack) == 0
    assert _job_records(stack) == []


def test_bulk_with_another_tenants_webhook_id_is_422(
    api: Api,
    bulk: Callable[..., Reply],
    catalog: dict[str, Any],
    other_tenant: dict[str, Any],
    stack: LocalAws,
) -> None:
    theirs = _webhook(api, other_tenant["token"])

    reply = bulk({"event": EVENT, "webhook_id": [{"eq": theirs["id"]}]})

    assert reply.status == 422, reply.body
    assert _queue_depth(stack) == 0


def test_bulk_with_a_named_webhook_not_subscribed_to_the_event_sends_it_anyway(
    bulk: Callable[..., Reply], catalog: dict[str, Any]
) -> None:
    # The caller named it: it gets the event whatever it subscribes to.
    hook = catalog["webhooks"]["other_event"]

    reply = bulk({"event": EVENT, "model": [{"eq": "Page"}], "webhook_id": [{"eq": hook["id"]}]})

    assert reply.status == 200, reply.body
    assert _pairs(reply) == {(catalog["items"]["page_a"], hook["id"])}


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "event"),
        ({"model": [{"eq": "Post"}]}, "event"),
        ({"event": "content_item.exploded"}, "event"),
        ({"event": EVENT, "colour": [{"eq": "red"}]}, "colour"),
        ({"event": EVENT, "model": [{"like": "Post"}]}, "model[0].like"),
        ({"event": EVENT, "limit": 1001}, "limit"),
        ({"event": EVENT, "skip": -1}, "skip"),
        ({"event": EVENT, "webhook_id": [{"eq": "not-a-uuid"}]}, "webhook_id[0].eq"),
        ({"event": EVENT, "webhook_id": [{"eq": 42}]}, "webhook_id[0].eq"),
    ],
)
def test_bulk_invalid_parameters_are_422_naming_the_field_and_queue_nothing(
    bulk: Callable[..., Reply], catalog: dict[str, Any], stack: LocalAws, params: dict[str, Any], field: str
) -> None:
    reply = bulk(params)

    assert reply.status == 422, reply.body
    fields = [e["field"] for e in reply.json["errors"]]
    assert any(f == field or f.startswith(field) for f in fields), fields
    assert _queue_depth(stack) == 0
    assert _job_records(stack) == []


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=25", "event"),
        (f"event={EVENT}&colour[eq]=red", "colour"),
        (f"event={EVENT}&model[like]=Post", "model"),
        (f"event={EVENT}&limit=1001", "limit"),
        (f"event={EVENT}&skip=-1", "skip"),
    ],
)
def test_bulk_invalid_query_string_is_422_naming_the_field_and_queues_nothing(
    bulk: Callable[..., Reply], catalog: dict[str, Any], stack: LocalAws, query: str, field: str
) -> None:
    reply = bulk(query=query)

    assert reply.status == 422, reply.body
    fields = [e["field"] for e in reply.json["errors"]]
    assert any(f.startswith(field) for f in fields), fields
    assert _queue_depth(stack) == 0
    assert _job_records(stack) == []


def test_bulk_reports_every_invalid_parameter_at_once(
    bulk: Callable[..., Reply], catalog: dict[str, Any]
) -> None:
    reply = bulk({"event": "nope", "limit": 0, "skip": -1, "colour": [{"eq": "red"}]})

    assert reply.status == 422, reply.body
    fields = {e["field"] for e in reply.json["errors"]}
    assert {"event", "limit", "skip"} <= fields
    assert any(f.startswith("colour") for f in fields)


# -- paging -------------------------------------------------------------------------------------------
def test_bulk_pages_are_disjoint_and_together_complete(
    api: Api, token: str, bulk: Callable[..., Reply], stack: LocalAws
) -> None:
    # Given 30 matching items (and one that does not match) and one webhook
    item_ids = [_put_item(api, token, n) for n in range(30)]
    _put_item(api, token, 99, model="Page")
    hook = _webhook(api, token)

    # When they are resent 8 at a time
    pages = [
        bulk({"event": EVENT, "model": [{"eq": "Post"}], "skip": skip, "limit": 8}) for skip in (0, 8, 16, 24)
    ]

    # Then every page counts all matches, and the pages partition them in created_on order
    assert [p.status for p in pages] == [200] * 4
    assert [p.json["total_items"] for p in pages] == [30] * 4
    assert [p.json["total_queued"] for p in pages] == [8, 8, 8, 6]
    seen = [q["content_item_id"] for p in pages for q in p.json["queued"]]
    assert seen == item_ids
    assert {q["webhook_id"] for p in pages for q in p.json["queued"]} == {hook["id"]}
    assert _queue_depth(stack) == 30


def test_bulk_page_past_the_end_queues_nothing_but_counts_all(
    api: Api, token: str, bulk: Callable[..., Reply]
) -> None:
    for n in range(3):
        _put_item(api, token, n)
    _webhook(api, token)

    reply = bulk({"event": EVENT, "skip": 10})

    assert reply.status == 200, reply.body
    assert reply.json["queued"] == []
    assert reply.json["total_items"] == 3
    assert reply.json["total_queued"] == 0


def test_bulk_default_limit_is_25(api: Api, token: str, bulk: Callable[..., Reply]) -> None:
    for n in range(30):
        _put_item(api, token, n)
    _webhook(api, token)

    reply = bulk({"event": EVENT})

    assert reply.status == 200, reply.body
    assert reply.json["total_queued"] == 25
    assert reply.json["total_items"] == 30


# -- the job and the queue ----------------------------------------------------------------------------
def test_bulk_job_is_readable_with_every_pair_pending_before_delivery(
    api: Api, token: str, bulk: Callable[..., Reply], catalog: dict[str, Any]
) -> None:
    reply = bulk({"event": EVENT})
    assert reply.status == 200, reply.body

    job = api.request("GET", f"/resends/{reply.json['resend_id']}", token=token)

    assert job.status == 200, job.body
    assert job.json["id"] == reply.json["resend_id"]
    assert job.json["source"] == "prepr"
    assert job.json["event"] == EVENT
    assert job.json["status"] == "running"
    assert job.json["total_queued"] == reply.json["total_queued"] == len(reply.json["queued"]) == 8
    assert job.json["pending"] == job.json["total_queued"]
    assert job.json["delivered"] == job.json["failed"] == 0
    assert job.json["completed_on"] is None


def test_bulk_queues_exactly_one_message_per_pair(
    bulk: Callable[..., Reply], catalog: dict[str, Any], stack: LocalAws, tenant: dict[str, Any]
) -> None:
    reply = bulk({"event": EVENT})
    assert reply.status == 200, reply.body

    messages = _queued_messages(stack)

    assert len(messages) == reply.json["total_queued"] == 8
    assert sorted((m["subject_id"], m["webhook_id"]) for m in messages) == sorted(_pairs(reply))
    assert {m["job_id"] for m in messages} == {reply.json["resend_id"]}
    assert {m["tenant_id"] for m in messages} == {tenant["tenant_id"]}
    assert {m["event"] for m in messages} == {EVENT}


def test_bulk_of_another_tenant_sees_none_of_these_items(
    api: Api,
    bulk: Callable[..., Reply],
    catalog: dict[str, Any],
    other_tenant: dict[str, Any],
    stack: LocalAws,
) -> None:
    _webhook(api, other_tenant["token"])

    reply = api.request("GET", BULK, json_body={"event": EVENT}, token=other_tenant["token"])

    assert reply.status == 200, reply.body
    assert reply.json["total_items"] == 0
    assert reply.json["queued"] == []
    assert _queue_depth(stack) == 0


def test_bulk_without_credentials_is_401(api: Api, catalog: dict[str, Any], stack: LocalAws) -> None:
    reply = api.request("GET", BULK, json_body={"event": EVENT})

    assert reply.status == 401
    assert _queue_depth(stack) == 0
