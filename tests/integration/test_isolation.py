"""Tenant isolation through the emulated HTTP API (SPEC §3): another tenant's id answers exactly
as an id that does not exist, lists and selections never cross tenants, and nothing another
tenant does changes the owner's records."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from webhook_resend.aws import keys

ITEM_ID = "3f2c9a1e-6b7d-4c2a-9e8f-0a1b2c3d4e5f"
TASK_ID = "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
# An id no tenant has: what "unknown" answers look like.
UNKNOWN_ID = "7e6d5c4b-3a29-4817-9a6b-5c4d3e2f1a0b"
EVENT = "content_item.published"
WEBHOOK_BODY = {"urls": ["https://hooks.example.com/in"], "events": [EVENT]}


@dataclass
class Client:
    """One tenant's side of the API."""

    api: Any
    credentials: dict[str, Any]

    @property
    def tenant_id(self) -> str:
        return self.credentials["tenant_id"]

    def __call__(self, method: str, target: str, **kwargs: Any) -> Any:
        return self.api.request(method, target, token=self.credentials["token"], **kwargs)


@pytest.fixture
def owner(api, tenant) -> Client:
    return Client(api, tenant)


@pytest.fixture
def intruder(api, other_tenant) -> Client:
    return Client(api, other_tenant)


def _ok(reply: Any, status: int = 200) -> dict[str, Any]:
    assert reply.status == status, reply.body
    return reply.json


def _create_item(client: Client) -> str:
    _ok(client("PUT", f"/content_items/{ITEM_ID}", json_body={"model": "Post", "tags": ["a"]}), 201)
    return ITEM_ID


def _create_task(client: Client) -> str:
    body = {"data": {"keyword": "shoes", "pingback_url": "https://cb.example.com/?id=$id"}, "result": [1]}
    _ok(client("PUT", f"/tasks/{TASK_ID}", json_body=body), 201)
    return TASK_ID


def _create_webhook(client: Client) -> str:
    return _ok(client("POST", "/webhooks", json_body=WEBHOOK_BODY), 201)["id"]


def _create_resend(client: Client) -> str:
    _create_webhook(client)
    _create_item(client)
    job = _ok(client("POST", "/content_items/bulk/webhooks", json_body={"event": EVENT}))
    assert job["total_queued"] == 1
    return job["resend_id"]


@dataclass(frozen=True)
class Kind:
    """A kind of record: how its owner creates one, and where it is read and replaced."""

    create: Callable[[Client], str]
    path: str  # with {id}
    replacement: dict[str, Any] | None = None  # a PUT body, where PUT replaces
    key: Callable[[str, str], dict[str, str]] | None = None  # its DynamoDB key (tenant id, id)


KINDS = {
    "content_item": Kind(
        _create_item, "/content_items/{id}", {"model": "Hijacked", "tags": ["x"]}, keys.item
    ),
    "task": Kind(_create_task, "/tasks/{id}", {"data": {"keyword": "hijacked"}}, keys.task),
    "webhook": Kind(
        _create_webhook,
        "/webhooks/{id}",
        {"urls": ["https://evil.example.net/"], "events": [EVENT]},
        keys.webhook,
    ),
    "resend": Kind(_create_resend, "/resends/{id}"),
    "resend_deliveries": Kind(_create_resend, "/resends/{id}/deliveries"),
}
REPLACEABLE = [name for name, kind in KINDS.items() if kind.replacement is not None]
DELETABLE = ["content_item", "task", "webhook"]


def _raw_record(stack: Any, key: dict[str, str]) -> dict[str, Any]:
    client = boto3.client("dynamodb")
    answer = client.get_item(
        TableName=stack.stack.ref("DataTable"), Key={k: {"S": v} for k, v in key.items()}, ConsistentRead=True
    )
    return answer.get("Item", {})


# ---------------------------------------------------------------------------------------------
# Reads, replacements and deletions of another tenant's ids
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind_name", list(KINDS))
def test_isolation_other_tenants_id_reads_like_an_unknown_id(owner, intruder, kind_name):
    # Given a record of the owner
    kind = KINDS[kind_name]
    record_id = kind.create(owner)
    before = _ok(owner("GET", kind.path.format(id=record_id)))

    # When the intruder reads it, and reads an id nobody has
    theirs = intruder("GET", kind.path.format(id=record_id))
    unknown = intruder("GET", kind.path.format(id=UNKNOWN_ID))

    # Then both answers are the same 404, and the owner's record is as it was
    assert theirs.status == unknown.status == 404
    assert theirs.json == unknown.json
    assert _ok(owner("GET", kind.path.format(id=record_id))) == before


@pytest.mark.parametrize("kind_name", DELETABLE)
def test_isolation_other_tenants_id_deletes_like_an_unknown_id(owner, intruder, kind_name):
    kind = KINDS[kind_name]
    record_id = kind.create(owner)
    before = _ok(owner("GET", kind.path.format(id=record_id)))

    theirs = intruder("DELETE", kind.path.format(id=record_id))
    unknown = intruder("DELETE", kind.path.format(id=UNKNOWN_ID))

    assert theirs.status == unknown.status == 404
    assert theirs.json == unknown.json
    assert _ok(owner("GET", kind.path.format(id=record_id))) == before


def test_isolation_other_tenants_resend_refuses_delete_like_an_unknown_id(owner, intruder):
    job_id = _create_resend(owner)

    theirs = intruder("DELETE", f"/resends/{job_id}")
    unknown = intruder("DELETE", f"/resends/{UNKNOWN_ID}")

    assert (theirs.status, theirs.json) == (unknown.status, unknown.json)
    assert owner("GET", f"/resends/{job_id}").status == 200


def _without_generated(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in ("id", "created_on", "changed_on", "secret")}


@pytest.mark.parametrize("kind_name", REPLACEABLE)
def test_isolation_other_tenants_id_put_answers_like_an_unknown_id(owner, intruder, kind_name):
    # Given a record of the owner
    kind = KINDS[kind_name]
    record_id = kind.create(owner)

    # When the intruder PUTs that id, and an id nobody has
    theirs = intruder("PUT", kind.path.format(id=record_id), json_body=kind.replacement)
    unknown = intruder("PUT", kind.path.format(id=UNKNOWN_ID), json_body=kind.replacement)

    # Then both create a record of the intruder's own, alike
    assert theirs.status == unknown.status == 201
    assert theirs.json["id"] == record_id
    assert _without_generated(theirs.json) == _without_generated(unknown.json)
    assert set(theirs.json) == set(unknown.json)


@pytest.mark.parametrize("kind_name", REPLACEABLE)
def test_isolation_other_tenants_put_leaves_the_owners_record_unchanged(owner, intruder, stack, kind_name):
    # Given a record of the owner, as read and as stored
    kind = KINDS[kind_name]
    record_id = kind.create(owner)
    before = _ok(owner("GET", kind.path.format(id=record_id)))
    owner_key = kind.key(owner.tenant_id, record_id)
    stored_before = _raw_record(stack, owner_key)

    # When the intruder PUTs the same id
    _ok(intruder("PUT", kind.path.format(id=record_id), json_body=kind.replacement), 201)

    # Then the owner's record is untouched (a webhook's secret too), and the intruder has its own
    assert _ok(owner("GET", kind.path.format(id=record_id))) == before
    assert stored_before
    assert _raw_record(stack, owner_key) == stored_before
    theirs = _ok(intruder("GET", kind.path.format(id=record_id)))
    assert {k: theirs[k] for k in kind.replacement} == kind.replacement


def test_isolation_other_tenants_delete_of_a_shared_id_removes_only_its_own(owner, intruder):
    # Given the same item id held by both tenants
    _create_item(owner)
    _create_item(intruder)
    before = _ok(owner("GET", f"/content_items/{ITEM_ID}"))

    # When the intruder deletes its item
    assert intruder("DELETE", f"/content_items/{ITEM_ID}").status == 204

    # Then the owner's item is still there, unchanged
    assert _ok(owner("GET", f"/content_items/{ITEM_ID}")) == before
    assert intruder("GET", f"/content_items/{ITEM_ID}").status == 404


# ---------------------------------------------------------------------------------------------
# Lists and selections
# ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "target",
    [
        "/content_items",
        f"/content_items?id[eq]={ITEM_ID}",
        "/content_items?model[eq]=Post",
        "/webhooks",
    ],
)
def test_isolation_lists_never_include_other_tenants_records(owner, intruder, target):
    # Given the owner's item and webhook
    _create_item(owner)
    _create_webhook(owner)

    reply = intruder("GET", target)

    assert _ok(reply) == {"items": [], "total": 0}


def test_isolation_lists_show_each_tenant_only_its_own(owner, intruder):
    _create_item(owner)
    _create_item(intruder)
    owner_webhook = _create_webhook(owner)
    intruder_webhook = _create_webhook(intruder)

    assert [w["id"] for w in _ok(owner("GET", "/webhooks"))["items"]] == [owner_webhook]
    assert [w["id"] for w in _ok(intruder("GET", "/webhooks"))["items"]] == [intruder_webhook]
    assert _ok(owner("GET", "/content_items"))["total"] == 1
    assert _ok(intruder("GET", "/content_items"))["total"] == 1


def test_isolation_bulk_resend_selects_only_own_items_and_webhooks(owner, intruder):
    # Given the owner's item and subscribed webhook, and the intruder's own webhook
    _create_item(owner)
    _create_webhook(owner)
    intruder_webhook = _create_webhook(intruder)

    # When the intruder resends every item
    reply = intruder("POST", "/content_items/bulk/webhooks", json_body={"event": EVENT})

    # Then nothing of the owner's is selected
    answer = _ok(reply)
    assert (answer["queued"], answer["total_items"], answer["total_queued"]) == ([], 0, 0)
    assert list(answer["webhooks"]) == [intruder_webhook]


def test_isolation_bulk_resend_never_sends_to_other_tenants_webhooks(owner, intruder):
    # Given the owner's subscribed webhook, and the intruder's item
    _create_webhook(owner)
    _create_item(intruder)

    reply = intruder("POST", "/content_items/bulk/webhooks", json_body={"event": EVENT})

    answer = _ok(reply)
    assert (answer["queued"], answer["total_queued"], answer["webhooks"]) == ([], 0, {})


def json_with(value: Any, old: str, new: str) -> Any:
    """`value` with every occurrence of `old` in its strings replaced by `new`."""
    if isinstance(value, str):
        return value.replace(old, new)
    if isinstance(value, list):
        return [json_with(v, old, new) for v in value]
    if isinstance(value, dict):
        return {json_with(k, old, new): json_with(v, old, new) for k, v in value.items()}
    return value


@pytest.mark.parametrize(
    "selector",
    [
        pytest.param(lambda wid: [{"eq": wid}], id="eq"),
        pytest.param(lambda wid: [{"in": [wid]}], id="in"),
        pytest.param(lambda wid: {"eq": wid}, id="object-form"),
    ],
)
def test_isolation_bulk_resend_with_other_tenants_webhook_id_is_422_like_an_unknown_id(
    owner, intruder, selector
):
    # Given the owner's webhook, and an item of the intruder's
    owner_webhook = _create_webhook(owner)
    _create_item(intruder)

    # When the intruder names the owner's webhook, and a webhook id nobody has
    theirs = intruder(
        "POST",
        "/content_items/bulk/webhooks",
        json_body={"event": EVENT, "webhook_id": selector(owner_webhook)},
    )
    unknown = intruder(
        "POST", "/content_items/bulk/webhooks", json_body={"event": EVENT, "webhook_id": selector(UNKNOWN_ID)}
    )

    # Then both are the same 422, naming the parameter (and the id that was given)
    assert theirs.status == unknown.status == 422
    assert theirs.json == json_with(unknown.json, UNKNOWN_ID, owner_webhook)
    assert all(error["field"].startswith("webhook_id") for error in theirs.json["errors"])
