"""`PUT /content_items` (issue 19): up to 100 content items at once, each validated and stored
exactly as `PUT /content_items/{id}` would, answered item by item; tenant isolation."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from webhook_resend.aws import keys
from webhook_resend.catalog.content_items import MAX_BULK_ITEMS

ITEM_A = "3f2c9a1e-6b7d-4c2a-9e8f-0a1b2c3d4e5f"
ITEM_B = "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
ITEM_C = "0d1e2f3a-4b5c-4d6e-8f7a-8b9c0d1e2f3a"
FULL_BODY = {
    "model": "Post",
    "tags": ["news", "sport"],
    "workflow_stage": "Done",
    "locales": ["en-GB"],
    "created_on": "2024-01-02T03:04:05+02:00",
    "changed_on": "2024-01-03T00:00:00Z",
    "publish_on": "2024-01-04T10:00:00.5Z",
    "payload": {"title": "Hello", "n": 1.5, "nested": {"list": [1, "two", None]}},
}


@pytest.fixture
def call(api, tenant):
    def request(method: str, target: str, **kwargs: Any) -> Any:
        return api.request(method, target, token=tenant["token"], **kwargs)

    return request


def _raw(stack: Any, tenant_id: str, item_id: str) -> dict[str, Any]:
    key = {k: {"S": v} for k, v in keys.item(tenant_id, item_id).items()}
    answer = boto3.client("dynamodb").get_item(
        TableName=stack.stack.ref("DataTable"), Key=key, ConsistentRead=True
    )
    return answer.get("Item", {})


def _bulk(call: Any, items: Any) -> Any:
    return call("PUT", "/content_items", json_body=items)


def test_content_items_bulk_creates_and_replaces_item_by_item(call):
    # Given an item that exists, with its first created_on
    first = call("PUT", f"/content_items/{ITEM_A}", json_body={"model": "Post"}).json

    # When a bulk write replaces it (no created_on given) and creates another
    reply = _bulk(call, [{"id": ITEM_A, "model": "Page"}, {"id": ITEM_B, "model": "Post", "tags": ["x"]}])

    # Then each is answered in order, and stored as the single PUT stores it
    assert reply.status == 200, reply.body
    body = reply.json
    assert (body["created"], body["replaced"], body["refused"], body["failed"]) == (1, 1, 0, 0)
    assert [(r["index"], r["id"], r["status"], r["errors"]) for r in body["results"]] == [
        (0, ITEM_A, "replaced", []),
        (1, ITEM_B, "created", []),
    ]
    replaced = call("GET", f"/content_items/{ITEM_A}").json
    assert replaced["model"] == "Page"
    assert replaced["created_on"] == first["created_on"] == body["results"][0]["created_on"]
    assert call("GET", f"/content_items/{ITEM_B}").json["tags"] == ["x"]


@pytest.mark.parametrize("replace", [False, True], ids=["create", "replace"])
def test_content_items_bulk_stores_the_bytes_the_single_put_stores(call, stack, tenant, replace):
    # Given the same item written by the single PUT (after an earlier version when replacing)
    if replace:
        assert call("PUT", f"/content_items/{ITEM_A}", json_body={"model": "Old"}).status == 201
    single = call("PUT", f"/content_items/{ITEM_A}", json_body=FULL_BODY)
    assert single.status == (200 if replace else 201)
    by_single = _raw(stack, tenant["tenant_id"], ITEM_A)
    assert call("DELETE", f"/content_items/{ITEM_A}").status == 204

    # When the bulk route writes it again, with the same history
    if replace:
        assert call("PUT", f"/content_items/{ITEM_A}", json_body={"model": "Old"}).status == 201
    reply = _bulk(call, [{"id": ITEM_A, **FULL_BODY}])

    # Then the stored record (keys, index entry, payload text) is identical
    assert reply.json["results"][0]["status"] == ("replaced" if replace else "created")
    assert by_single
    assert _raw(stack, tenant["tenant_id"], ITEM_A) == by_single


def test_content_items_bulk_keeps_created_on_of_the_replaced_item_as_the_single_put_does(call):
    created = call("PUT", f"/content_items/{ITEM_A}", json_body={"model": "Post"}).json["created_on"]

    reply = _bulk(call, [{"id": ITEM_A, "model": "Page"}])

    assert reply.json["results"][0]["created_on"] == created
    assert call("GET", f"/content_items/{ITEM_A}").json["created_on"] == created


@pytest.mark.parametrize(
    "bad",
    [
        {"tags": ["a"]},
        {"model": "Post", "colour": "red"},
        {"model": "Post", "tags": "not-a-list"},
        {"model": "Post", "created_on": "yesterday"},
        {"model": "Post", "payload": {"big": "x" * (256 * 1024)}},
    ],
    ids=["no-model", "unknown-field", "tags-not-list", "bad-time", "payload-too-big"],
)
def test_content_items_bulk_refuses_an_item_with_the_single_puts_messages(call, bad):
    # Given what the single PUT answers for that body
    single = call("PUT", f"/content_items/{ITEM_C}", json_body=bad)
    assert single.status == 422

    # When the same body is one of three in a bulk write
    reply = _bulk(
        call, [{"id": ITEM_A, "model": "Post"}, {"id": ITEM_C, **bad}, {"id": ITEM_B, "model": "Post"}]
    )

    # Then only it is refused, with the same errors, and the others are stored
    assert reply.status == 200, reply.body
    results = reply.json["results"]
    assert [r["status"] for r in results] == ["created", "refused", "created"]
    assert results[1]["errors"] == single.json["errors"]
    assert call("GET", f"/content_items/{ITEM_C}").status == 404
    assert call("GET", f"/content_items/{ITEM_B}").status == 200


@pytest.mark.parametrize(
    ("element", "field", "message"),
    [
        ({"model": "Post"}, "id", "is required: each item of a bulk write names its id"),
        ({"id": "not-a-uuid", "model": "Post"}, "id", None),
        ("a string", "body", "must be a JSON object (a content item)"),
        ({"id": ITEM_A, "model": "Again"}, "id", "repeats the id of item 0 of this request"),
    ],
    ids=["no-id", "bad-id", "not-object", "repeated-id"],
)
def test_content_items_bulk_refuses_an_element_naming_its_problem(call, element, field, message):
    reply = _bulk(call, [{"id": ITEM_A, "model": "Post"}, element])

    assert reply.status == 200, reply.body
    first, second = reply.json["results"]
    assert first["status"] == "created"
    assert second["status"] == "refused"
    assert [e["field"] for e in second["errors"]] == [field]
    if message is not None:
        assert second["errors"][0]["message"] == message
    assert call("GET", f"/content_items/{ITEM_A}").json["model"] == "Post"


@pytest.mark.parametrize(
    "body",
    [{"id": ITEM_A, "model": "Post"}, [], "text", [{"model": "Post"}] * (MAX_BULK_ITEMS + 1)],
    ids=["object", "empty", "string", "over-cap"],
)
def test_content_items_bulk_refuses_a_body_not_a_list_of_1_to_100(call, body):
    reply = _bulk(call, body)

    assert reply.status == 422, reply.body
    assert [e["field"] for e in reply.json["errors"]] == ["body"]
    assert reply.json["errors"][0]["message"]
    assert call("GET", "/content_items").json["total"] == 0


def test_content_items_bulk_writes_100_items_in_one_request(call):
    ids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(MAX_BULK_ITEMS)]

    reply = _bulk(call, [{"id": i, "model": "Post", "tags": [str(n % 3)]} for n, i in enumerate(ids)])

    assert reply.status == 200, reply.body
    assert reply.json["created"] == MAX_BULK_ITEMS
    assert [r["id"] for r in reply.json["results"]] == ids
    assert call("GET", "/content_items?limit=1").json["total"] == MAX_BULK_ITEMS


def test_content_items_bulk_of_another_tenant_touches_only_its_own_items(api, tenant, other_tenant, stack):
    # Given an item of the owner, as stored
    owner = tenant["token"]
    assert (
        api.request("PUT", f"/content_items/{ITEM_A}", token=owner, json_body={"model": "Mine"}).status == 201
    )
    stored = _raw(stack, tenant["tenant_id"], ITEM_A)

    # When another tenant bulk-writes the same id
    reply = api.request(
        "PUT", "/content_items", token=other_tenant["token"], json_body=[{"id": ITEM_A, "model": "Theirs"}]
    )

    # Then it creates its own item, and the owner's is untouched
    assert reply.json["results"][0]["status"] == "created"
    assert stored
    assert _raw(stack, tenant["tenant_id"], ITEM_A) == stored
    assert api.request("GET", f"/content_items/{ITEM_A}", token=owner).json["model"] == "Mine"
    theirs = api.request("GET", f"/content_items/{ITEM_A}", token=other_tenant["token"]).json
    assert theirs["model"] == "Theirs"


def test_content_items_bulk_without_credentials_is_401(api):
    reply = api.request("PUT", "/content_items", json_body=[{"id": ITEM_A, "model": "Post"}])

    assert reply.status == 401


def test_content_items_bulk_read_left_unprocessed_is_503_and_writes_nothing(call, monkeypatch):
    # Given DynamoDB keeps the BatchGetItem's keys unprocessed through every retry
    from webhook_resend.aws.dynamodb import Store, StoreBusyError

    def busy(self: Any, tenant_id: str, item_ids: Any) -> Any:
        raise StoreBusyError("2 keys still unprocessed after 6 rounds")

    monkeypatch.setattr(Store, "get_items", busy)

    # When a bulk write comes
    reply = _bulk(call, [{"id": ITEM_A, "model": "Post"}, {"id": ITEM_B, "model": "Post"}])

    # Then it is a 503 to retry, and nothing was written
    assert reply.status == 503, reply.body
    assert reply.json["errors"][0]["field"] == "service"
    monkeypatch.undo()
    assert call("GET", "/content_items").json["total"] == 0


def test_content_items_bulk_write_dynamodb_did_not_take_is_failed_item_by_item(call, monkeypatch):
    # Given DynamoDB takes the first item of a bulk write but not the second
    from webhook_resend.aws.dynamodb import Store

    real = Store.put_items

    def half(self: Any, tenant_id: str, items: Any) -> set[str]:
        real(self, tenant_id, items[:1])
        return {i.id for i in items[1:]}

    monkeypatch.setattr(Store, "put_items", half)

    reply = _bulk(call, [{"id": ITEM_A, "model": "Post"}, {"id": ITEM_B, "model": "Post"}])

    assert reply.status == 200, reply.body
    assert (reply.json["created"], reply.json["failed"]) == (1, 1)
    failed = reply.json["results"][1]
    assert failed["status"] == "failed"
    assert failed["errors"] == [
        {"field": "service", "message": "the service is busy; send this item again shortly"}
    ]
    assert call("GET", f"/content_items/{ITEM_B}").status == 404
