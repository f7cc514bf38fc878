"""A job whose start dies before queuing what it counted is resumed by the waker's sweep (SPEC §11;
resends/outbox.py), in-process on moto: a Prepr page, a native resend by ids and a native resend
by filter, each dying mid-way through its queuing, end with every pair delivered once and exact
counts; a start that queued everything, or that took refused pairs out of its job, leaves nothing
for the sweep.

The start "dies" by raising LambdaDied, a BaseException that no handler catches (as a Lambda killed
by its timeout runs nothing more), from the SQS publisher after it sent some of its messages.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import Api, LocalAws, Receiver
from tests.counters import assert_counters_add_up
from webhook_resend import clock
from webhook_resend.aws import clients, dynamodb, publisher
from webhook_resend.resends import outbox

BULK = "/content_items/bulk/webhooks"
EVENT = "content_item.changed"
WAKER = "WakerFunction"


class LambdaDied(BaseException):
    """The start's Lambda stopped here (its timeout, its sandbox): nothing after runs."""


@pytest.fixture
def local_env() -> dict[str, str]:
    return {"ALLOW_PRIVATE_URLS": "true"}


# -- helpers ------------------------------------------------------------------------------------------
def _item_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def _items(api: Api, token: str, count: int) -> list[str]:
    for n in range(count):
        body = {"model": "Post", "created_on": f"2024-01-01T00:00:{n:02d}Z", "payload": {"n": n}}
        reply = api.request("PUT", f"/content_items/{_item_id(n)}", json_body=body, token=token)
        assert reply.status == 201, reply.body
    return [_item_id(n) for n in range(count)]


def _webhook(api: Api, token: str, url: str) -> str:
    reply = api.request("POST", "/webhooks", json_body={"urls": [url], "events": [EVENT]}, token=token)
    assert reply.status == 201, reply.body
    return str(reply.json["id"])


def _bulk(api: Api, token: str, item_ids: list[str], webhook_id: str) -> Any:
    params = {"event": EVENT, "id": [{"in": item_ids}], "webhook_id": [{"in": [webhook_id]}], "limit": 1000}
    return api.request("GET", BULK, json_body=params, token=token)


def _jobs(api: Api, token: str) -> list[dict[str, Any]]:
    reply = api.request("GET", "/resends", token=token)
    assert reply.status == 200, reply.body
    for job in reply.json["data"]:
        assert_counters_add_up(job)
    return list(reply.json["data"])


def _job(api: Api, token: str, job_id: str) -> dict[str, Any]:
    reply = api.request("GET", f"/resends/{job_id}", token=token)
    assert reply.status == 200, reply.body
    assert_counters_add_up(reply.json)
    return dict(reply.json)


def _per_item(receiver: Receiver) -> Counter[int]:
    return Counter(int(json.loads(r.body)["payload"]["n"]) for r in receiver.to("/hook"))


def _dies_after(monkeypatch: pytest.MonkeyPatch, sent: int) -> None:
    """The next publish sends its first `sent` messages, then the Lambda dies."""
    real = publisher.SqsPublisher.publish
    left = {"calls": 1}

    def publish(self: publisher.SqsPublisher, messages: Sequence[Any]) -> Any:
        if not left["calls"]:
            return real(self, messages)
        left["calls"] -= 1
        real(self, list(messages)[:sent])
        raise LambdaDied

    monkeypatch.setattr(publisher.SqsPublisher, "publish", publish)


def _later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    real = clock.now
    monkeypatch.setattr(clock, "now", lambda: real() + timedelta(seconds=seconds))


def _sweep(stack: LocalAws) -> dict[str, Any]:
    return dict(stack.invoke(WAKER, {})["outboxes"])


def _native(api: Api, token: str, body: dict[str, Any], item_ids: list[str], webhook_id: str) -> Any:
    """POST /resends of `body` for the webhook (`"item_ids": "all"`: every item given)."""
    request = {"event": EVENT, "webhook_ids": [webhook_id], **body}
    if request.get("item_ids") == "all":
        request["item_ids"] = item_ids
    return api.request("POST", "/resends", json_body=request, token=token)


def _end(api: Api, token: str, job_id: str) -> tuple[str, int, int, int]:
    job = _job(api, token, job_id)
    return job["status"], job["total_queued"], job["delivered"], job["pending"]


# -- a start that dies --------------------------------------------------------------------------------
def test_outbox_prepr_page_whose_start_died_mid_queue_is_resumed_and_delivered_once(
    api: Api,
    tenant: dict[str, Any],
    token: str,
    receiver: Receiver,
    stack: LocalAws,
    deliveries: Callable[..., int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a Prepr page of 4 items whose Lambda dies after queuing 2 of its 4 pairs
    item_ids = _items(api, token, 4)
    webhook_id = _webhook(api, token, f"{receiver.url}/hook")
    _dies_after(monkeypatch, 2)
    with pytest.raises(LambdaDied):
        _bulk(api, token, item_ids, webhook_id)
    [job] = _jobs(api, token)
    assert (job["total_queued"], job["pending"]) == (4, 4)

    # When what was queued is delivered, the job is stuck with 2 pending, and no sweep finds it early
    deliveries()
    assert (_job(api, token, job["id"])["delivered"], _job(api, token, job["id"])["pending"]) == (2, 2)
    assert _sweep(stack)["found"] == 0

    # And the waker runs once the outbox is due: its page goes on the fan-out queue
    _later(monkeypatch, outbox.GRACE_SECONDS + 1)
    swept = _sweep(stack)
    assert (swept["found"], swept["resumed"], swept["messages"], swept["not_sent"]) == (1, 1, 1, 0)
    deliveries()

    # Then every pair is delivered once and the job completes; the outbox is gone
    assert _end(api, token, job["id"]) == ("completed", 4, 4, 0)
    assert _per_item(receiver) == Counter({0: 1, 1: 1, 2: 1, 3: 1})
    assert clients.store().get_outbox(tenant["tenant_id"], job["id"]) is None
    assert _sweep(stack)["found"] == 0


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"item_ids": "all"}, id="by-ids"),
        pytest.param({"filter": {"model": {"eq": "Post"}}}, id="by-filter"),
    ],
)
def test_outbox_native_resend_whose_start_died_before_queuing_is_resumed_and_delivered_once(
    body: dict[str, Any],
    api: Api,
    tenant: dict[str, Any],
    token: str,
    receiver: Receiver,
    stack: LocalAws,
    deliveries: Callable[..., int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a native resend of 3 items whose Lambda dies before its page (by ids) or the first
    # step of its selection (by filter) is queued
    item_ids = _items(api, token, 3)
    webhook_id = _webhook(api, token, f"{receiver.url}/hook")
    _dies_after(monkeypatch, 0)
    with pytest.raises(LambdaDied):
        _native(api, token, body, item_ids, webhook_id)
    [job] = _jobs(api, token)
    deliveries()
    assert _job(api, token, job["id"])["delivered"] == 0
    assert clients.store().get_outbox(tenant["tenant_id"], job["id"]) is not None

    # When the waker runs once the outbox is due, and what it queued is worked
    _later(monkeypatch, outbox.GRACE_SECONDS + 1)
    assert _sweep(stack)["resumed"] == 1
    deliveries()

    # Then every pair is delivered once and the job completes
    assert _end(api, token, job["id"]) == ("completed", 3, 3, 0)
    assert _per_item(receiver) == Counter({0: 1, 1: 1, 2: 1})
    assert clients.store().get_outbox(tenant["tenant_id"], job["id"]) is None


# -- a start that lives ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "start",
    [
        pytest.param("prepr", id="prepr"),
        pytest.param({"item_ids": "all"}, id="by-ids"),
        pytest.param({"filter": {"model": {"eq": "Post"}}}, id="by-filter"),
    ],
)
def test_outbox_start_that_queued_everything_leaves_nothing_to_sweep(
    start: Any,
    api: Api,
    tenant: dict[str, Any],
    token: str,
    receiver: Receiver,
    stack: LocalAws,
    deliveries: Callable[..., int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    item_ids = _items(api, token, 2)
    webhook_id = _webhook(api, token, f"{receiver.url}/hook")
    if start == "prepr":
        assert _bulk(api, token, item_ids, webhook_id).status == 200
    else:
        assert _native(api, token, start, item_ids, webhook_id).status == 202
    [job] = _jobs(api, token)

    assert clients.store().get_outbox(tenant["tenant_id"], job["id"]) is None
    _later(monkeypatch, outbox.GRACE_SECONDS + 1)
    assert _sweep(stack)["found"] == 0
    deliveries()
    assert _per_item(receiver) == Counter({0: 1, 1: 1})


def test_outbox_goes_with_the_pairs_sqs_refused_so_the_sweep_never_queues_them(
    api: Api,
    tenant: dict[str, Any],
    token: str,
    receiver: Receiver,
    stack: LocalAws,
    deliveries: Callable[..., int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given SQS answering one pair's entry as Failed on every call
    item_ids = _items(api, token, 3)
    webhook_id = _webhook(api, token, f"{receiver.url}/hook")
    client = clients.boto_client("sqs")
    real = client.send_message_batch

    def send_message_batch(*, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        keep = [e for e in Entries if json.loads(e["MessageBody"]).get("subject_id") != item_ids[0]]
        answer = real(QueueUrl=QueueUrl, Entries=keep) if keep else {"Successful": []}
        failed = [
            {"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in Entries if e not in keep
        ]
        return {"Successful": answer.get("Successful", []), "Failed": failed}

    client.send_message_batch = send_message_batch

    # When a Prepr page is asked for: the refused pair leaves the job, and its outbox with it
    reply = _bulk(api, token, item_ids, webhook_id)
    assert reply.status == 503, reply.body
    job_id = reply.json["resend_id"]
    assert clients.store().get_outbox(tenant["tenant_id"], job_id) is None

    # Then a sweep once it would have been due queues nothing, and the job ends on what was queued
    _later(monkeypatch, outbox.GRACE_SECONDS + 1)
    assert _sweep(stack)["found"] == 0
    deliveries()
    assert _end(api, token, job_id) == ("completed", 2, 2, 0)
    assert _per_item(receiver) == Counter({1: 1, 2: 1})


def test_outbox_whose_delete_fails_leaves_the_sweep_of_the_others_whole(
    api: Api,
    tenant: dict[str, Any],
    token: str,
    receiver: Receiver,
    stack: LocalAws,
    deliveries: Callable[..., int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given two Prepr pages whose starts died before queuing, and DynamoDB failing the first
    # delete of a swept outbox
    item_ids = _items(api, token, 2)
    webhook_id = _webhook(api, token, f"{receiver.url}/hook")
    for item_id in item_ids:
        _dies_after(monkeypatch, 0)
        with pytest.raises(LambdaDied):
            _bulk(api, token, [item_id], webhook_id)
    real = dynamodb.Store.sweep_outbox
    failures = {"left": 1}

    def sweep_outbox(self: dynamodb.Store, box: Any) -> bool:
        if failures["left"]:
            failures["left"] -= 1
            raise ClientError({"Error": {"Code": "InternalServerError", "Message": "x"}}, "DeleteItem")
        return real(self, box)

    monkeypatch.setattr(dynamodb.Store, "sweep_outbox", sweep_outbox)

    # When the waker sweeps once both are due
    _later(monkeypatch, outbox.GRACE_SECONDS + 1)
    swept = _sweep(stack)

    # Then both jobs were resumed; the one outbox not deleted is swept again by the next run, and
    # each item is delivered once all the same
    assert (swept["found"], swept["resumed"], failures["left"]) == (2, 2, 0)
    assert _sweep(stack)["found"] == 1
    deliveries()
    assert _per_item(receiver) == Counter({0: 1, 1: 1})
    assert [job["status"] for job in _jobs(api, token)] == ["completed", "completed"]
