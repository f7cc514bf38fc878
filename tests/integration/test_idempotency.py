"""`Idempotency-Key` on every resend route, in-process on moto (SPEC §5.3): `POST /resends`,
`GET` and `POST /content_items/bulk/webhooks` and `POST /v3/appendix/webhook_resend`.

The same key with the same request answers the first answer again and queues nothing more; with
a different request it is a 422 that names the header; keys are per tenant (and per route); a
request that failed validation is not remembered; and every record in the idempotency table is
keyed under its tenant's id.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import pytest

from tests.conftest import Api, LocalAws, Receiver, Reply

EVENT = "content_item.changed"
HEADER = "Idempotency-Key"


# -- what each tenant has -------------------------------------------------------------------------------
@dataclass
class World:
    """A tenant's token, two content items, a webhook and two tasks with a pingback."""

    tenant_id: str
    token: str
    items: list[str]
    tasks: list[str]


def _put_item(api: Api, token: str, n: int) -> str:
    item_id = f"00000000-0000-4000-8000-{n:012d}"
    body = {"model": "Post", "created_on": f"2024-01-01T00:00:{n:02d}Z", "payload": {"n": n}}
    reply = api.request("PUT", f"/content_items/{item_id}", json_body=body, token=token)
    assert reply.status == 201, reply.body
    return item_id


def _put_task(api: Api, token: str, url: str) -> str:
    task_id = str(uuid.uuid4())
    body = {"data": {"api": "serp", "keyword": "k", "pingback_url": f"{url}?id=$id"}}
    reply = api.request("PUT", f"/tasks/{task_id}", json_body=body, token=token)
    assert reply.status == 201, reply.body
    return task_id


def _world(api: Api, credentials: dict[str, Any], receiver: Receiver) -> World:
    token = str(credentials["token"])
    reply = api.request(
        "POST", "/webhooks", json_body={"urls": [f"{receiver.url}/hook"], "events": [EVENT]}, token=token
    )
    assert reply.status == 201, reply.body
    items = [_put_item(api, token, n) for n in (1, 2)]
    tasks = [_put_task(api, token, f"{receiver.url}/ping") for _ in range(2)]
    return World(str(credentials["tenant_id"]), token, items, tasks)


@pytest.fixture
def world(api: Api, tenant: dict[str, Any], receiver: Receiver) -> World:
    return _world(api, tenant, receiver)


@pytest.fixture
def other_world(api: Api, other_tenant: dict[str, Any], receiver: Receiver) -> World:
    return _world(api, other_tenant, receiver)


# -- the three routes (bulk by GET and by POST) ----------------------------------------------------------
@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str
    status: int  # of an answer that queued something

    def first(self, world: World) -> Any:
        """A request that queues something."""
        if self.path == "/resends":
            return {"event": EVENT, "item_ids": world.items[:1]}
        if self.path.startswith("/content_items"):
            return {"event": EVENT, "limit": 25}
        return [{"id": world.tasks[0]}]

    def second(self, world: World) -> Any:
        """Another request that queues something else."""
        if self.path == "/resends":
            return {"event": EVENT, "item_ids": world.items}
        if self.path.startswith("/content_items"):
            return {"event": EVENT, "limit": 1}
        return [{"id": world.tasks[0]}, {"id": world.tasks[1]}]

    def invalid(self, world: World) -> Any:
        """A request refused before anything is queued."""
        if self.path == "/resends":
            return {"event": EVENT, "item_ids": world.items[:1], "colour": "red"}
        if self.path.startswith("/content_items"):
            return {"event": EVENT, "colour": [{"eq": "red"}]}
        return [{"id": str(uuid.uuid4())} for _ in range(101)]  # over DataForSEO's 100

    def refused(self, reply: Reply) -> bool:
        if self.path.startswith("/v3/"):
            # DataForSEO's request-level errors keep HTTP 200 and carry the code in the envelope.
            return reply.status == 200 and reply.json["status_code"] == 40006 and reply.json["tasks"] == []
        return reply.status == 422

    def call(self, api: Api, world: World, body: Any, key: str | None = None) -> Reply:
        headers = {HEADER: key} if key is not None else None
        return api.request(self.method, self.path, json_body=body, token=world.token, headers=headers)

    def accepted(self, reply: Reply) -> bool:
        if reply.status != self.status:
            return False
        if self.path.startswith("/v3/"):
            return reply.json["status_code"] == 20000 and reply.json["tasks"][0]["status_code"] == 20100
        return True

    def job_id(self, reply: Reply) -> str:
        return str(reply.json["id"] if self.path == "/resends" else reply.json["resend_id"])


NATIVE = Route("native", "POST", "/resends", 202)
BULK_GET = Route("bulk-get", "GET", "/content_items/bulk/webhooks", 200)
BULK_POST = Route("bulk-post", "POST", "/content_items/bulk/webhooks", 200)
DATAFORSEO = Route("dataforseo", "POST", "/v3/appendix/webhook_resend", 200)
ROUTES = [pytest.param(route, id=route.name) for route in (NATIVE, BULK_GET, BULK_POST, DATAFORSEO)]


# -- what was queued ------------------------------------------------------------------------------------
def _depth(stack: LocalAws, queue: str) -> int:
    answer = boto3.client("sqs").get_queue_attributes(
        QueueUrl=stack.stack.ref(queue),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(answer["ApproximateNumberOfMessages"]) + int(answer["ApproximateNumberOfMessagesNotVisible"])


def _scan(table: str) -> list[dict[str, Any]]:
    # A Scan is fine in a test: it sees everything that was written.
    client = boto3.client("dynamodb")
    request: dict[str, Any] = {"TableName": table}
    found: list[dict[str, Any]] = []
    while True:
        answer = client.scan(**request)
        found += answer["Items"]
        if "LastEvaluatedKey" not in answer:
            return found
        request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


@dataclass(frozen=True)
class Queued:
    jobs: frozenset[str]
    messages: int


def _queued(stack: LocalAws, tenant_id: str | None = None) -> Queued:
    jobs = frozenset(
        item["pk"]["S"]
        for item in _scan(stack.stack.ref("DataTable"))
        if item["sk"]["S"] == "JOB" and (tenant_id is None or item["pk"]["S"].startswith(f"{tenant_id}#"))
    )
    return Queued(jobs, _depth(stack, "FanoutQueue") + _depth(stack, "DeliveryQueue"))


def _key() -> str:
    return f"nightly-{uuid.uuid4()}"


def _names_the_key(reply: Reply) -> bool:
    return reply.status == 422 and [e["field"] for e in reply.json["errors"]] == [HEADER]


# -- same key ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("route", ROUTES)
def test_idempotency_same_key_and_request_answers_the_first_answer(
    api: Api, stack: LocalAws, world: World, route: Route
) -> None:
    key = _key()
    first = route.call(api, world, route.first(world), key)
    assert route.accepted(first), first.body
    queued = _queued(stack)

    again = route.call(api, world, route.first(world), key)

    assert (again.status, again.json) == (first.status, first.json)
    assert _queued(stack) == queued
    assert len(queued.jobs) == 1


@pytest.mark.parametrize("route", ROUTES)
def test_idempotency_same_key_with_another_request_is_422_naming_the_key(
    api: Api, stack: LocalAws, world: World, route: Route
) -> None:
    key = _key()
    first = route.call(api, world, route.first(world), key)
    assert route.accepted(first), first.body
    queued = _queued(stack)

    other = route.call(api, world, route.second(world), key)

    assert _names_the_key(other), other.body
    assert "different request" in other.json["errors"][0]["message"]
    assert _queued(stack) == queued


@pytest.mark.parametrize("route", ROUTES)
def test_idempotency_without_a_key_every_request_queues_again(
    api: Api, stack: LocalAws, world: World, route: Route
) -> None:
    first = route.call(api, world, route.first(world))
    again = route.call(api, world, route.first(world))

    assert route.accepted(first), first.body
    assert route.accepted(again), again.body
    assert route.job_id(first) != route.job_id(again)
    assert len(_queued(stack).jobs) == 2


@pytest.mark.parametrize("route", ROUTES)
def test_idempotency_keys_of_different_tenants_are_independent(
    api: Api, stack: LocalAws, world: World, other_world: World, route: Route
) -> None:
    key = _key()

    mine = route.call(api, world, route.first(world), key)
    theirs = route.call(api, other_world, route.second(other_world), key)

    assert route.accepted(mine), mine.body
    assert route.accepted(theirs), theirs.body
    assert route.job_id(mine) != route.job_id(theirs)
    assert len(_queued(stack, world.tenant_id).jobs) == 1
    assert len(_queued(stack, other_world.tenant_id).jobs) == 1


def test_idempotency_keys_of_different_routes_are_independent(
    api: Api, stack: LocalAws, world: World
) -> None:
    key = _key()

    answers = [route.call(api, world, route.first(world), key) for route in (NATIVE, BULK_GET, DATAFORSEO)]

    assert [r.status for r in answers] == [202, 200, 200], [r.body for r in answers]
    assert len(_queued(stack).jobs) == 3


def test_idempotency_bulk_get_and_post_share_a_key(api: Api, stack: LocalAws, world: World) -> None:
    key = _key()
    by_get = BULK_GET.call(api, world, BULK_GET.first(world), key)
    queued = _queued(stack)

    by_post = BULK_POST.call(api, world, BULK_POST.first(world), key)

    assert by_get.status == by_post.status == 200, (by_get.body, by_post.body)
    assert by_post.json == by_get.json
    assert _queued(stack) == queued


def test_idempotency_replay_answers_202_for_a_native_resend(api: Api, world: World) -> None:
    key = _key()
    NATIVE.call(api, world, NATIVE.first(world), key)

    again = NATIVE.call(api, world, NATIVE.first(world), key)

    assert again.status == 202
    assert again.json["pending"] == again.json["total_queued"] == 1


def test_idempotency_replays_the_first_answer_not_the_current_state(
    api: Api, world: World, deliveries: Callable[..., int]
) -> None:
    key = _key()
    first = NATIVE.call(api, world, NATIVE.first(world), key)
    deliveries()

    again = NATIVE.call(api, world, NATIVE.first(world), key)
    now = api.request("GET", f"/resends/{first.json['id']}", token=world.token)

    assert again.json == first.json
    assert (now.json["status"], again.json["status"]) == ("completed", "running")


# -- failed requests are not remembered -----------------------------------------------------------------
@pytest.mark.parametrize("route", ROUTES)
def test_idempotency_request_that_failed_validation_can_be_retried_with_the_same_key(
    api: Api, stack: LocalAws, world: World, route: Route
) -> None:
    key = _key()
    refused = route.call(api, world, route.invalid(world), key)
    assert route.refused(refused), refused.body
    assert _queued(stack).jobs == frozenset()

    retried = route.call(api, world, route.first(world), key)

    assert route.accepted(retried), retried.body
    assert len(_queued(stack).jobs) == 1


def test_idempotency_native_resend_of_a_missing_item_succeeds_once_it_exists(
    api: Api, stack: LocalAws, world: World
) -> None:
    key = _key()
    body = {"event": EVENT, "item_ids": ["00000000-0000-4000-8000-000000000003"]}
    refused = NATIVE.call(api, world, body, key)
    assert refused.status == 422, refused.body
    assert [e["field"] for e in refused.json["errors"]] == ["item_ids"]
    _put_item(api, world.token, 3)

    retried = NATIVE.call(api, world, body, key)
    again = NATIVE.call(api, world, body, key)

    assert retried.status == 202, retried.body
    assert (again.status, again.json) == (202, retried.json)
    assert len(_queued(stack).jobs) == 1


def test_idempotency_bulk_with_an_unknown_webhook_succeeds_once_the_selection_is_valid(
    api: Api, stack: LocalAws, world: World
) -> None:
    key = _key()
    refused = BULK_GET.call(api, world, {"event": EVENT, "webhook_id": [{"eq": str(uuid.uuid4())}]}, key)
    assert refused.status == 422, refused.body

    retried = BULK_GET.call(api, world, BULK_GET.first(world), key)

    assert retried.status == 200, retried.body
    assert len(_queued(stack).jobs) == 1


# -- the key itself ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("route", ROUTES)
def test_idempotency_over_long_key_is_422_naming_the_key(
    api: Api, stack: LocalAws, world: World, route: Route
) -> None:
    reply = route.call(api, world, route.first(world), "k" * 256)

    assert _names_the_key(reply), reply.body
    assert "255" in reply.json["errors"][0]["message"]
    assert _queued(stack).jobs == frozenset()
    assert _queued(stack).messages == 0


@pytest.mark.parametrize("route", ROUTES)
def test_idempotency_key_of_255_characters_is_accepted(
    api: Api, stack: LocalAws, world: World, route: Route
) -> None:
    key = uuid.uuid4().hex + "k" * 223

    first = route.call(api, world, route.first(world), key)
    again = route.call(api, world, route.first(world), key)

    assert route.accepted(first), first.body
    assert again.json == first.json
    assert len(_queued(stack).jobs) == 1


def test_idempotency_blank_key_is_422_naming_the_key(api: Api, stack: LocalAws, world: World) -> None:
    reply = NATIVE.call(api, world, NATIVE.first(world), "   ")

    assert _names_the_key(reply), reply.body
    assert _queued(stack).jobs == frozenset()


# -- where the records live -----------------------------------------------------------------------------
def test_idempotency_records_are_keyed_under_the_tenant_id(
    api: Api, stack: LocalAws, world: World, other_world: World
) -> None:
    key = _key()
    for owner in (world, other_world):
        for route in (NATIVE, BULK_GET, DATAFORSEO):
            assert route.accepted(route.call(api, owner, route.first(owner), key))

    ids = [item["id"]["S"] for item in _scan(stack.stack.ref("IdempotencyTable"))]

    assert len(ids) == 6
    assert len([i for i in ids if i.startswith(f"{world.tenant_id}#")]) == 3
    assert len([i for i in ids if i.startswith(f"{other_world.tenant_id}#")]) == 3
    assert key not in "".join(ids)  # the key is hashed, never stored as given
