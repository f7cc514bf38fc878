"""Tenant settings and operational events in-process on moto (SPEC §12 rate/eta, §13): the
notify_url stored, validated and isolated; resend.completed sent once per job, signed with the
tenant's callback_secret, with its counts and failure causes; webhook.deactivated on a 410; a
failing notify_url retried on its own record, never counted in a job.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.conftest import Api, LocalAws, Receiver
from tests.counters import assert_counters_add_up
from webhook_resend import clock

BULK = "/content_items/bulk/webhooks"
EVENT = "content_item.changed"


@pytest.fixture
def local_env() -> dict[str, str]:
    return {"ALLOW_PRIVATE_URLS": "true", "RETRY_SCHEDULE": "0,0,0", "DELIVERY_TIMEOUT_SECONDS": "2"}


# -- helpers ------------------------------------------------------------------------------------------
def _put_items(api: Api, token: str, count: int) -> list[str]:
    ids = []
    for n in range(count):
        item_id = f"00000000-0000-4000-8000-{n:012d}"
        body = {"model": "Post", "created_on": f"2024-01-01T00:00:{n:02d}Z", "payload": {"n": n}}
        reply = api.request("PUT", f"/content_items/{item_id}", json_body=body, token=token)
        assert reply.status == 201, reply.body
        ids.append(item_id)
    return ids


def _webhook(api: Api, token: str, urls: list[str]) -> dict[str, Any]:
    reply = api.request("POST", "/webhooks", json_body={"urls": urls, "events": [EVENT]}, token=token)
    assert reply.status == 201, reply.body
    return reply.json


def _resend(api: Api, token: str, webhook_id: str, ids: list[str]) -> dict[str, Any]:
    body = {"event": EVENT, "webhook_id": [{"eq": webhook_id}], "id": [{"in": ids}]}
    reply = api.request("GET", BULK, json_body=body, token=token)
    assert reply.status == 200, reply.body
    return reply.json


def _job(api: Api, token: str, job_id: str) -> dict[str, Any]:
    reply = api.request("GET", f"/resends/{job_id}", token=token)
    assert reply.status == 200, reply.body
    assert_counters_add_up(reply.json)
    return reply.json


def _set_notify_url(api: Api, token: str, url: str | None) -> None:
    reply = api.request("PUT", "/settings", json_body={"notify_url": url}, token=token)
    assert reply.status == 200, reply.body
    assert reply.json == {"notify_url": url}


def _events(api: Api, token: str) -> list[dict[str, Any]]:
    reply = api.request("GET", "/settings/events?limit=100", token=token)
    assert reply.status == 200, reply.body
    return list(reply.json["data"])


def _verified(secret: str, request: Any) -> dict[str, Any]:
    """The event as the standardwebhooks verifier accepts it with the tenant's callback_secret."""
    return Webhook(secret).verify(request.body, request.headers)  # type: ignore[no-any-return]


# -- settings -----------------------------------------------------------------------------------------
def test_settings_are_stored_and_null_clears_the_notify_url(api: Api, token: str) -> None:
    assert api.request("GET", "/settings", token=token).json == {"notify_url": None}

    _set_notify_url(api, token, "https://ops.example.com/events")
    assert api.request("GET", "/settings", token=token).json == {
        "notify_url": "https://ops.example.com/events"
    }

    _set_notify_url(api, token, None)
    assert api.request("GET", "/settings", token=token).json == {"notify_url": None}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"notify_url": "ftp://ops.example.com/events"}, "notify_url"),
        ({"notify_url": "not a url"}, "notify_url"),
        ({"notify_url": 42}, "notify_url"),
        ({}, "notify_url"),
        ({"notify_url": None, "colour": "blue"}, "colour"),
    ],
)
def test_settings_refuse_a_bad_body_with_a_422_naming_the_field(
    api: Api, token: str, body: dict[str, Any], field: str
) -> None:
    _set_notify_url(api, token, "https://ops.example.com/events")

    reply = api.request("PUT", "/settings", json_body=body, token=token)

    assert reply.status == 422, reply.body
    assert field in {problem["field"] for problem in reply.json["errors"]}, reply.json
    # nothing was written
    assert api.request("GET", "/settings", token=token).json == {
        "notify_url": "https://ops.example.com/events"
    }


def test_settings_refuse_a_private_notify_url_like_a_webhook_url(
    api: Api, token: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from webhook_resend.aws import clients

    monkeypatch.setenv("ALLOW_PRIVATE_URLS", "false")
    clients.reset(clients=False)

    reply = api.request("PUT", "/settings", json_body={"notify_url": "http://169.254.169.254/x"}, token=token)
    webhook = api.request(
        "POST", "/webhooks", json_body={"urls": ["http://169.254.169.254/x"], "events": [EVENT]}, token=token
    )

    assert reply.status == 422, reply.body
    assert [p["field"] for p in reply.json["errors"]] == ["notify_url"]
    assert webhook.status == 422
    assert api.request("GET", "/settings", token=token).json == {"notify_url": None}


def test_settings_need_credentials(api: Api) -> None:
    assert api.request("GET", "/settings").status == 401
    assert api.request("PUT", "/settings", json_body={"notify_url": None}).status == 401


def test_settings_each_tenant_sees_only_its_own(
    api: Api, tenant: dict[str, Any], other_tenant: dict[str, Any]
) -> None:
    _set_notify_url(api, tenant["token"], "https://acme.example.com/events")
    _set_notify_url(api, other_tenant["token"], "https://globex.example.com/events")
    _set_notify_url(api, other_tenant["token"], None)

    assert api.request("GET", "/settings", token=tenant["token"]).json == {
        "notify_url": "https://acme.example.com/events"
    }
    assert api.request("GET", "/settings", token=other_tenant["token"]).json == {"notify_url": None}


def test_settings_answers_never_show_the_callback_secret(api: Api, tenant: dict[str, Any]) -> None:
    _set_notify_url(api, tenant["token"], "https://acme.example.com/events")

    for reply in (
        api.request("GET", "/settings", token=tenant["token"]),
        api.request("GET", "/settings/events", token=tenant["token"]),
    ):
        assert reply.status == 200
        assert tenant["callback_secret"] not in reply.body.decode()
        assert tenant["callback_secret"].removeprefix("whsec_") not in reply.body.decode()


def test_settings_events_refuse_an_unknown_parameter_or_a_foreign_cursor(api: Api, token: str) -> None:
    unknown = api.request("GET", "/settings/events?colour=blue", token=token)
    cursor = api.request(
        "GET", "/settings/events?cursor=eyJwayI6eyJTIjoieCJ9LCJzayI6eyJTIjoieSJ9fQ==", token=token
    )
    limit = api.request("GET", "/settings/events?limit=0", token=token)

    assert (unknown.status, [p["field"] for p in unknown.json["errors"]]) == (422, ["colour"])
    assert (cursor.status, [p["field"] for p in cursor.json["errors"]]) == (422, ["cursor"])
    assert (limit.status, [p["field"] for p in limit.json["errors"]]) == (422, ["limit"])


# -- resend.completed ---------------------------------------------------------------------------------
def test_events_completion_is_sent_once_signed_with_counts_and_causes(
    api: Api, tenant: dict[str, Any], receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    # Given a notify_url, and a resend of 3 items to a good webhook and a webhook answering 404
    token = tenant["token"]
    _set_notify_url(api, token, f"{receiver.url}/ops")
    receiver.script("/gone-astray", [404])
    ids = _put_items(api, token, 3)
    good = _webhook(api, token, [f"{receiver.url}/hook"])
    bad = _webhook(api, token, [f"{receiver.url}/gone-astray"])
    first = _resend(api, token, good["id"], ids)
    second = _resend(api, token, bad["id"], ids)

    # When everything is delivered
    deliveries()

    # Then each job's completion arrives once, verified with the tenant's callback_secret
    events = [_verified(tenant["callback_secret"], r) for r in receiver.to("/ops")]
    by_job = {e["data"]["job"]["id"]: e for e in events}
    assert len(events) == 2, events
    assert set(by_job) == {first["resend_id"], second["resend_id"]}
    for event in events:
        assert set(event) == {"type", "created_on", "data"}
        assert event["type"] == "resend.completed"
        assert set(event["data"]) == {"job", "duration_seconds", "failure_causes"}
        assert event["data"]["duration_seconds"] >= 0
        assert event["data"]["job"] == _job(api, token, event["data"]["job"]["id"])
    good_job, bad_job = by_job[first["resend_id"]]["data"], by_job[second["resend_id"]]["data"]
    assert (good_job["job"]["delivered"], good_job["job"]["failed"], good_job["job"]["status"]) == (
        3,
        0,
        "completed",
    )
    assert good_job["failure_causes"] == []
    assert (bad_job["job"]["delivered"], bad_job["job"]["failed"]) == (0, 3)
    assert bad_job["failure_causes"] == [{"cause": "404", "count": 3}]
    # and the events' records say they were delivered, once each
    records = _events(api, token)
    assert (
        sorted((r["type"], r["status"], r["attempts"]) for r in records)
        == [("resend.completed", "delivered", 1)] * 2
    )


def test_events_nothing_is_sent_without_a_notify_url(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    ids = _put_items(api, token, 2)
    job = _resend(api, token, _webhook(api, token, [f"{receiver.url}/hook"])["id"], ids)

    deliveries()

    assert _job(api, token, job["resend_id"])["status"] == "completed"
    assert _events(api, token) == []
    assert [r.path for r in receiver.requests] == ["/hook", "/hook"]


class _Interleaving:
    """The store's DynamoDB client, wrapped to force the race: a read of the job item waits until
    every batch got there (so each reads after all of them committed: all see nothing pending),
    and a claim of the job's end waits until every batch got there (so each claims after all of
    them read: none sees another's claim). Counts the claims made.

    Every write then goes one at a time (the claims after their barrier): DynamoDB evaluates an
    item's condition and writes it atomically, and isolates transactions, which moto's
    in-process backend does not do for two threads: on a loaded machine both claims could pass
    the condition before either writes, and two commits could each read the job's `pending`
    before the other wrote it, so that one batch never saw its job end (the server the local
    stack runs takes DynamoDB requests one at a time for the same reason: devstack.aws)."""

    _WRITES = frozenset({"transact_write_items", "batch_write_item", "put_item", "delete_item"})

    def __init__(self, client: Any, parties: int) -> None:
        self._client = client
        self._read = threading.Barrier(parties, timeout=20)
        self._claim = threading.Barrier(parties, timeout=20)
        self.claims = 0
        self._lock = threading.Lock()
        self._atomic = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        call = getattr(self._client, name)
        if name not in self._WRITES:
            return call

        def one_at_a_time(**kwargs: Any) -> Any:
            with self._atomic:
                return call(**kwargs)

        return one_at_a_time

    def get_item(self, **kwargs: Any) -> Any:
        if kwargs["Key"]["sk"] == {"S": "JOB"} and kwargs.get("ConsistentRead"):
            self._read.wait()
        return self._client.get_item(**kwargs)

    def update_item(self, **kwargs: Any) -> Any:
        if "end_notified" in kwargs.get("UpdateExpression", ""):
            with self._lock:
                self.claims += 1
            self._claim.wait()
        with self._atomic:
            return self._client.update_item(**kwargs)


def test_events_two_batches_finishing_a_job_at_once_send_one_completion(
    api: Api,
    tenant: dict[str, Any],
    stack: LocalAws,
    sqs: Any,
    queue: str,
    receiver: Receiver,
    deliveries: Callable[..., int],
) -> None:
    from webhook_resend.aws import clients
    from webhook_resend.aws.dynamodb import Store
    from webhook_resend.delivery.deliverer import Deliverer, Incoming
    from webhook_resend.delivery.events import Notifier
    from webhook_resend.delivery.sender import HttpSender, default_transport

    # Given a job of two pairs, whose two messages are worked by two batches at the same time
    token = tenant["token"]
    _set_notify_url(api, token, f"{receiver.url}/ops")
    ids = _put_items(api, token, 2)
    job = _resend(api, token, _webhook(api, token, [f"{receiver.url}/hook"])["id"], ids)
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=600)["Messages"]
    assert len(received) == 2
    settings = clients.settings()
    client = _Interleaving(clients.boto_client("dynamodb"), parties=2)
    store = Store(client, settings.table_name)
    # Made before the threads: boto3's sessions are not thread-safe, and the two batches would
    # otherwise create the same cached client at the same moment.
    publisher = clients.event_publisher()

    def batch(message: dict[str, Any]) -> None:
        deliverer = Deliverer(
            store,
            settings,
            lambda: HttpSender(2.0, transport_factory=lambda: default_transport(True), allow_private=True),
            notifier=Notifier(store, publisher),
        )
        asyncio.run(
            deliverer.run([Incoming(message["MessageId"], message["ReceiptHandle"], message["Body"])])
        )

    # When both commit, then both read the job (each sees nothing pending), then both claim
    with ThreadPoolExecutor(max_workers=2) as pool:
        batches = [pool.submit(batch, message) for message in received]
    # (each batch's own error, if any: a broken barrier in one says only that the other failed)
    assert [b.exception() for b in batches] == [None, None]
    deliveries()  # the events queue

    # Then both tried to claim the completion, and exactly one event was sent
    assert client.claims == 2
    # One event: a retry of it (an attempt that timed out on a loaded machine) carries the same
    # webhook-id, which is how a receiver tells a repeat from a second event
    requests = receiver.to("/ops")
    assert len({r.headers["webhook-id"] for r in requests}) == 1, [r.headers for r in requests]
    request = requests[-1]
    event = _verified(tenant["callback_secret"], request)
    assert event["type"] == "resend.completed"
    assert event["data"]["job"]["id"] == job["resend_id"]
    assert (event["data"]["job"]["delivered"], event["data"]["job"]["pending"]) == (2, 0)
    assert [r["type"] for r in _events(api, token)] == ["resend.completed"]
    assert _job(api, token, job["resend_id"])["delivered"] == 2


class _Calls:
    """The store's DynamoDB client, counting the calls made through it by operation."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.made: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._client, name)
        if name == "exceptions" or not callable(attribute):
            return attribute

        def call(**kwargs: Any) -> Any:
            self.made.append((name, kwargs))
            return attribute(**kwargs)

        return call


def _one_batch(store: Any, messages: list[dict[str, Any]]) -> Any:
    """Run the consumer's Deliverer on these messages as one batch, through `store`."""
    from webhook_resend.aws import clients
    from webhook_resend.delivery.deliverer import Deliverer, Incoming
    from webhook_resend.delivery.events import Notifier
    from webhook_resend.delivery.sender import HttpSender, default_transport

    deliverer = Deliverer(
        store,
        clients.settings(),
        lambda: HttpSender(2.0, transport_factory=lambda: default_transport(True), allow_private=True),
        notifier=Notifier(store, clients.event_publisher()),
    )
    batch = [Incoming(m["MessageId"], m["ReceiptHandle"], m["Body"]) for m in messages]
    return asyncio.run(deliverer.run(batch))


def test_events_a_batch_completing_its_job_claims_its_end_on_what_it_read_first(
    api: Api,
    tenant: dict[str, Any],
    sqs: Any,
    queue: str,
    receiver: Receiver,
    deliveries: Callable[..., int],
) -> None:
    from webhook_resend.aws import clients, keys
    from webhook_resend.aws.dynamodb import ENDED_PREFIX, Store

    # Given a notify_url and a job of two pairs, both messages in one batch
    token = tenant["token"]
    _set_notify_url(api, token, f"{receiver.url}/ops")
    ids = _put_items(api, token, 2)
    job = _resend(api, token, _webhook(api, token, [f"{receiver.url}/hook"])["id"], ids)
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=600)["Messages"]
    assert len(received) == 2
    table = clients.settings().table_name
    client = _Calls(clients.boto_client("dynamodb"))

    # When the batch runs: it counts both pairs, so it completes the job
    result = _one_batch(Store(client, table), received)
    deliveries()  # the events queue

    # Then the tenant and the job were read once, with the batch's subjects (one BatchGetItem),
    # and the job's end claimed at once on that read: no GetItem of either after the commit (the
    # PutItem: the event's record, written by `notify`)
    assert result.failed_message_ids == []
    assert [name for name, _ in client.made] == [
        "batch_get_item",
        "transact_write_items",
        "update_item",
        "put_item",
    ]
    read_keys = client.made[0][1]["RequestItems"][table]["Keys"]
    for key in (keys.tenant(tenant["tenant_id"]), keys.job(tenant["tenant_id"], job["resend_id"])):
        assert {k: {"S": v} for k, v in key.items()} in read_keys
    claim = client.made[2][1]
    assert "end_notified" in claim["UpdateExpression"]
    assert "pending <= :zero" in claim["ConditionExpression"]
    # and its completion arrived at the notify_url it read, signed with its callback_secret
    event = _verified(tenant["callback_secret"], receiver.to("/ops")[-1])
    assert event["type"] == "resend.completed"
    assert (event["data"]["job"]["id"], event["data"]["job"]["delivered"]) == (job["resend_id"], 2)
    assert [r["type"] for r in _events(api, token)] == ["resend.completed"]
    # and the claim removed the progress window the commit wrote: the ended job shows no rate
    record = clients.store().job_record(tenant["tenant_id"], job["resend_id"])
    assert record is not None
    assert record["end_notified"] == "resend.completed"
    assert [name for name in record if name.startswith(ENDED_PREFIX)] == []
    assert _job(api, token, job["resend_id"])["status"] == "completed"


def test_events_a_batch_that_leaves_pairs_pending_claims_nothing_and_the_last_one_announces(
    api: Api,
    tenant: dict[str, Any],
    sqs: Any,
    queue: str,
    receiver: Receiver,
    deliveries: Callable[..., int],
) -> None:
    from webhook_resend.aws import clients
    from webhook_resend.aws.dynamodb import Store

    # Given a job of two pairs, worked by two batches one after the other
    token = tenant["token"]
    _set_notify_url(api, token, f"{receiver.url}/ops")
    ids = _put_items(api, token, 2)
    job = _resend(api, token, _webhook(api, token, [f"{receiver.url}/hook"])["id"], ids)
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=600)["Messages"]
    assert len(received) == 2
    table = clients.settings().table_name
    first, second = _Calls(clients.boto_client("dynamodb")), _Calls(clients.boto_client("dynamodb"))

    # When the first batch counts one pair: the job it read had two pending
    _one_batch(Store(first, table), received[:1])
    # Then it reads the job consistently after its commit, sees one pending, and claims nothing
    assert [name for name, _ in first.made] == ["batch_get_item", "transact_write_items", "get_item"]

    # When the second batch counts the other: the job it read (after the first commit) had one
    _one_batch(Store(second, table), received[1:])
    deliveries()
    # Then it claims the end at once, and the completion is sent once
    assert [name for name, _ in second.made] == [
        "batch_get_item",
        "transact_write_items",
        "update_item",
        "put_item",
    ]
    events = [_verified(tenant["callback_secret"], r) for r in receiver.to("/ops")]
    assert [(e["type"], e["data"]["job"]["delivered"]) for e in events] == [("resend.completed", 2)]
    assert _job(api, token, job["resend_id"])["status"] == "completed"


# -- webhook.deactivated ------------------------------------------------------------------------------
def test_events_a_410_sends_webhook_deactivated_with_the_url_and_the_answer(
    api: Api, tenant: dict[str, Any], receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    token = tenant["token"]
    _set_notify_url(api, token, f"{receiver.url}/ops")
    receiver.script("/gone", [410])
    ids = _put_items(api, token, 2)
    hook = _webhook(api, token, [f"{receiver.url}/gone"])
    job = _resend(api, token, hook["id"], ids)

    deliveries()

    events = [_verified(tenant["callback_secret"], r) for r in receiver.to("/ops")]
    deactivated = [e for e in events if e["type"] == "webhook.deactivated"]
    # both pairs got the 410 (one batch or two): the webhook was turned inactive once
    assert len(deactivated) == 1, events
    data = deactivated[0]["data"]
    assert data["webhook"]["id"] == hook["id"]
    assert data["webhook"]["active"] is False
    assert "secret" not in data["webhook"]
    assert data["url"] == f"{receiver.url}/gone"
    assert data["answer"] == {"status_code": 410, "body": "received"}
    assert api.request("GET", f"/webhooks/{hook['id']}", token=token).json["active"] is False
    # and the job's end still came, its cause the 410
    [completed] = [e for e in events if e["type"] == "resend.completed"]
    assert completed["data"]["job"]["id"] == job["resend_id"]
    assert completed["data"]["failure_causes"] == [{"cause": "410", "count": 2}]


# -- a notify_url that fails ----------------------------------------------------------------------------
def test_events_a_failing_notify_url_is_retried_and_never_touches_the_job(
    api: Api, tenant: dict[str, Any], receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    token = tenant["token"]
    _set_notify_url(api, token, f"{receiver.url}/ops")
    receiver.script("/ops", [503, "reset", 200])
    ids = _put_items(api, token, 2)
    job = _resend(api, token, _webhook(api, token, [f"{receiver.url}/hook"])["id"], ids)

    deliveries()

    # three tries of the same event (the same webhook-id), the last one verified and delivered
    tries = receiver.to("/ops")
    assert len(tries) == 3
    assert len({r.headers["webhook-id"] for r in tries}) == 1
    assert _verified(tenant["callback_secret"], tries[-1])["type"] == "resend.completed"
    [record] = _events(api, token)
    assert (record["status"], record["attempts"], record["last_status_code"]) == ("delivered", 3, 200)
    # the job counts its two pairs, and nothing else
    after = _job(api, token, job["resend_id"])
    assert (after["total_queued"], after["delivered"], after["failed"], after["pending"]) == (2, 2, 0, 0)
    listed = api.request("GET", f"/resends/{job['resend_id']}/deliveries", token=token).json["data"]
    assert len(listed) == 2
    assert {d["url"] for d in listed} == {f"{receiver.url}/hook"}


def test_events_a_notify_url_that_keeps_failing_ends_failed_on_its_record(
    api: Api, tenant: dict[str, Any], receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    token = tenant["token"]
    _set_notify_url(api, token, f"{receiver.url}/ops")
    receiver.script("/ops", [500])
    ids = _put_items(api, token, 1)
    job = _resend(api, token, _webhook(api, token, [f"{receiver.url}/hook"])["id"], ids)

    deliveries()

    # RETRY_SCHEDULE has three waits: four tries, then the record says why it gave up
    assert len(receiver.to("/ops")) == 4
    [record] = _events(api, token)
    assert record["status"] == "failed"
    assert record["attempts"] == 4
    assert record["last_error"] == "HTTP 500 (gave up after 4 attempts)"
    assert json.dumps(record["event"]["data"]["job"]["id"]) == json.dumps(job["resend_id"])
    after = _job(api, token, job["resend_id"])
    assert (after["delivered"], after["failed"], after["pending"]) == (1, 0, 0)


def test_events_are_listed_only_to_their_tenant(
    api: Api,
    tenant: dict[str, Any],
    other_tenant: dict[str, Any],
    receiver: Receiver,
    deliveries: Callable[..., int],
) -> None:
    _set_notify_url(api, tenant["token"], f"{receiver.url}/ops")
    _set_notify_url(api, other_tenant["token"], f"{receiver.url}/other-ops")
    ids = _put_items(api, tenant["token"], 1)
    _resend(api, tenant["token"], _webhook(api, tenant["token"], [f"{receiver.url}/hook"])["id"], ids)

    deliveries()

    assert len(_events(api, tenant["token"])) == 1
    assert _events(api, other_tenant["token"]) == []
    assert receiver.to("/other-ops") == []


def test_events_a_wait_of_hours_is_a_delayed_copy_never_a_message_in_flight(
    api: Api,
    tenant: dict[str, Any],
    receiver: Receiver,
    stack: LocalAws,
    sqs: Any,
    deliveries: Callable[..., int],
    sqs_clock: Callable[[float], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a notify_url that answers 503 with an hour's Retry-After, then 200
    token = tenant["token"]
    _set_notify_url(api, token, f"{receiver.url}/ops")
    receiver.script("/ops", [(503, {"Retry-After": "3600"}), 200])
    job = _resend(api, token, _webhook(api, token, [f"{receiver.url}/hook"])["id"], _put_items(api, token, 1))
    events_queue = str(stack.stack.ref("EventsQueue"))

    def depth() -> tuple[int, int, int]:
        names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ]
        found = sqs.get_queue_attributes(QueueUrl=events_queue, AttributeNames=names)["Attributes"]
        return (int(found[names[0]]), int(found[names[1]]), int(found[names[2]]))

    # When the job completes and its event is tried once
    deliveries()

    # Then the event waits as a copy SQS delays 15 minutes (none in flight), its record retrying
    assert len(receiver.to("/ops")) == 1
    assert depth() == (0, 0, 1)
    [record] = _events(api, token)
    assert (record["status"], record["attempts"]) == ("retrying", 1)

    # And when the copy comes back with the hour still ahead, it is sent on again, not tried
    sqs_clock(901)
    deliveries()
    assert len(receiver.to("/ops")) == 1
    assert depth() == (0, 0, 1)

    # And once the hour has passed, the next copy is tried and the event delivered
    real_now = clock.now
    monkeypatch.setattr(clock, "now", lambda: real_now() + timedelta(seconds=3601))
    sqs_clock(901)
    deliveries()
    assert len(receiver.to("/ops")) == 2
    [record] = _events(api, token)
    assert (record["status"], record["attempts"]) == ("delivered", 2)
    assert depth() == (0, 0, 0)
    assert _job(api, token, job["resend_id"])["status"] == "completed"
