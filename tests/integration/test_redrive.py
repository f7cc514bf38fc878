"""Redrive: dead-lettered delivery messages go back to the delivery queue, each exactly once.

On moto (and so under `make run`) SQS has no StartMessageMoveTask, so `redrive.redrive` falls
back to receive → send → delete; against a client that has it, the native task is used. The
queues are the template's own. Time in moto's SQS is moved forward by `sqs_clock` rather than
waited for, so visibility timeouts pass at once.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devstack.cfn import load_template
from devstack.lambdas import Invokers
from devstack.resources import create_resources, overrides_from_env
from tests.conftest import ADMIN_TOKEN, ROOT, Api, LocalAws, Receiver
from webhook_resend.aws import redrive
from webhook_resend.delivery import dead_letters, deliverer

BULK = "/content_items/bulk/webhooks"
EVENT = "content_item.changed"
MAX_RECEIVES = 2


@pytest.fixture
def local_env() -> dict[str, str]:
    return {
        "ALLOW_PRIVATE_URLS": "true",
        "RETRY_SCHEDULE": "0,0,0",
        "DELIVERY_TIMEOUT_SECONDS": "2",
        "DELIVERY_MAX_RECEIVE_COUNT": str(MAX_RECEIVES),
    }


@pytest.fixture
def stack(
    aws: None, monkeypatch: pytest.MonkeyPatch, local_env: dict[str, str], boto_session: boto3.Session
) -> Iterator[LocalAws]:
    """conftest's `stack`, but with `local_env` also applied as parameter overrides, the way
    `make run` applies them: conftest's creates the resources with the template's defaults, so
    DELIVERY_MAX_RECEIVE_COUNT would not reach the queue's RedrivePolicy."""
    from webhook_resend.aws import clients

    template = load_template(ROOT / "template.yaml")
    built = create_resources(
        template, parameter_overrides=overrides_from_env(template, local_env), session=boto_session
    )
    for name, value in {**built.environment(), "ADMIN_TOKEN": ADMIN_TOKEN, **local_env}.items():
        monkeypatch.setenv(name, value)
    clients.reset()
    try:
        yield LocalAws(built, Invokers.from_stack(built))
    finally:
        clients.reset()


@pytest.fixture
def dlq(stack: LocalAws) -> str:
    return str(stack.stack.ref("DeliveryDeadLetterQueue"))


# -- helpers ------------------------------------------------------------------------------------------
def _bodies(count: int) -> list[str]:
    """Distinct bodies plus two repeats, so a multiset comparison also counts copies."""
    distinct = [json.dumps({"n": n}) for n in range(count - 2)]
    return [*distinct, distinct[0], distinct[1]]


def _put(sqs: Any, url: str, bodies: list[str]) -> None:
    for start in range(0, len(bodies), 10):
        entries = [{"Id": str(i), "MessageBody": b} for i, b in enumerate(bodies[start : start + 10])]
        answer = sqs.send_message_batch(QueueUrl=url, Entries=entries)
        assert not answer.get("Failed"), answer


def _drain(sqs: Any, url: str) -> list[str]:
    """Every visible message's body, received and deleted."""
    found: list[str] = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get(
            "Messages", []
        )
        if not batch:
            return found
        found += [m["Body"] for m in batch]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )


def _depth(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, in flight) messages of the queue."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(attributes[names[0]]), int(attributes[names[1]])


def _refusing(sqs: Any, refused: set[str]) -> list[int]:
    """Make `send_message_batch` refuse (as SQS's `Failed`, not a sender fault) the entries whose
    body is in `refused`, and pass the rest on; the sizes of the batches sent."""
    real = sqs.send_message_batch
    calls: list[int] = []

    def send_message_batch(*, QueueUrl: str, Entries: list[dict[str, Any]], **kwargs: Any) -> dict[str, Any]:
        calls.append(len(Entries))
        accepted = [e for e in Entries if e["MessageBody"] not in refused]
        answer = real(QueueUrl=QueueUrl, Entries=accepted, **kwargs) if accepted else {"Successful": []}
        failed = [
            {"Id": e["Id"], "SenderFault": False, "Code": "InternalError", "Message": "try again"}
            for e in Entries
            if e["MessageBody"] in refused
        ]
        return {"Successful": answer.get("Successful", []), "Failed": failed}

    sqs.send_message_batch = send_message_batch
    return calls


# -- receive → send → delete on moto -------------------------------------------------------------------
def test_redrive_on_moto_falls_back_to_receive_send_delete(sqs: Any, dlq: str, queue: str) -> None:
    _put(sqs, dlq, _bodies(25))

    result = redrive.redrive(sqs, dlq, queue)

    assert result.method == "receive-send-delete"
    assert result.task_handle is None


def test_redrive_moves_every_message_exactly_once(sqs: Any, dlq: str, queue: str) -> None:
    # Given 25 dead-lettered messages (two bodies twice)
    bodies = _bodies(25)
    _put(sqs, dlq, bodies)

    # When they are redriven
    result = redrive.redrive(sqs, dlq, queue)

    # Then all 25 are in the delivery queue, once each, and the DLQ is empty
    assert result.moved == 25
    assert Counter(_drain(sqs, queue)) == Counter(bodies)
    assert _depth(sqs, dlq) == (0, 0)


def test_redrive_of_an_empty_dlq_moves_nothing(sqs: Any, dlq: str, queue: str) -> None:
    result = redrive.redrive(sqs, dlq, queue)

    assert result.moved == 0
    assert _depth(sqs, queue) == (0, 0)


def test_redrive_keeps_message_attributes(sqs: Any, dlq: str, queue: str) -> None:
    attributes = {"kind": {"DataType": "String", "StringValue": "item"}}
    sqs.send_message(QueueUrl=dlq, MessageBody="{}", MessageAttributes=attributes)

    redrive.redrive(sqs, dlq, queue)

    [message] = sqs.receive_message(QueueUrl=queue, MessageAttributeNames=["All"])["Messages"]
    assert message["MessageAttributes"]["kind"]["StringValue"] == "item"


def test_redrive_keeps_the_tenants_message_group(sqs: Any, dlq: str, queue: str) -> None:
    sqs.send_message(QueueUrl=dlq, MessageBody="{}", MessageGroupId="tenant-a")
    sqs.send_message(QueueUrl=dlq, MessageBody="[]")

    redrive.redrive(sqs, dlq, queue)

    moved = sqs.receive_message(
        QueueUrl=queue, MaxNumberOfMessages=10, MessageSystemAttributeNames=["MessageGroupId"]
    )["Messages"]
    groups = {m["Body"]: (m.get("Attributes") or {}).get("MessageGroupId") for m in moved}
    assert groups == {"{}": "tenant-a", "[]": None}


def test_redrive_leaves_what_the_target_refuses_in_the_dlq(
    sqs: Any, dlq: str, queue: str, sqs_clock: Callable[[float], None]
) -> None:
    # Given 25 dead-lettered messages and a target that refuses three of them
    bodies = _bodies(25)
    _put(sqs, dlq, bodies)
    refused = {json.dumps({"n": n}) for n in (4, 11, 20)}
    _refusing(sqs, refused)

    # When they are redriven
    result = redrive.redrive(sqs, dlq, queue)

    # Then what was moved is in the queue once, the rest (refused included) is still in the DLQ
    moved = _drain(sqs, queue)
    assert result.moved == len(moved)
    assert not refused & set(moved)
    sqs_clock(redrive.HOLD_SECONDS + 1)
    left = _drain(sqs, dlq)
    assert Counter(moved) + Counter(left) == Counter(bodies)
    assert refused <= set(left)


def test_redrive_after_refusals_moves_the_rest_once_the_target_takes_them(
    sqs: Any, dlq: str, queue: str, sqs_clock: Callable[[float], None]
) -> None:
    # Given a redrive whose target refused some messages
    bodies = _bodies(25)
    _put(sqs, dlq, bodies)
    real = sqs.send_message_batch
    _refusing(sqs, {json.dumps({"n": 7})})
    first = redrive.redrive(sqs, dlq, queue)

    # When the target takes everything again and, once the held messages are back, it is rerun
    sqs.send_message_batch = real
    sqs_clock(redrive.HOLD_SECONDS + 1)
    second = redrive.redrive(sqs, dlq, queue)

    # Then every message was moved exactly once over the two runs
    assert first.moved + second.moved == 25
    assert Counter(_drain(sqs, queue)) == Counter(bodies)
    assert _depth(sqs, dlq) == (0, 0)


def test_redrive_with_the_target_down_loses_nothing(
    sqs: Any, dlq: str, queue: str, sqs_clock: Callable[[float], None]
) -> None:
    bodies = _bodies(25)
    _put(sqs, dlq, bodies)

    def down(**kwargs: Any) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "down"}}, "SendMessageBatch")

    sqs.send_message_batch = down

    with pytest.raises(ClientError):
        redrive.redrive(sqs, dlq, queue)

    assert _depth(sqs, queue) == (0, 0)
    sqs_clock(redrive.HOLD_SECONDS + 1)
    assert Counter(_drain(sqs, dlq)) == Counter(bodies)


# -- the native task ----------------------------------------------------------------------------------
class NativeSqs:
    """A client whose StartMessageMoveTask works: records what it was asked, answers a handle."""

    def __init__(self) -> None:
        self.moves: list[dict[str, str]] = []
        self.received = 0

    def get_queue_attributes(self, *, QueueUrl: str, AttributeNames: list[str]) -> dict[str, Any]:
        name = QueueUrl.rsplit("/", 1)[1]
        return {"Attributes": {"QueueArn": f"arn:aws:sqs:us-east-1:123456789012:{name}"}}

    def start_message_move_task(self, *, SourceArn: str, DestinationArn: str) -> dict[str, str]:
        self.moves.append({"SourceArn": SourceArn, "DestinationArn": DestinationArn})
        return {"TaskHandle": "task-handle-1"}

    def receive_message(self, **kwargs: Any) -> dict[str, Any]:
        self.received += 1
        return {"Messages": []}


def test_redrive_uses_start_message_move_task_where_sqs_has_it() -> None:
    client = NativeSqs()
    base = "https://sqs.us-east-1.amazonaws.com/123456789012"

    result = redrive.redrive(client, f"{base}/deliveries-dlq", f"{base}/deliveries")

    assert result.method == "StartMessageMoveTask"
    assert result.task_handle == "task-handle-1"
    assert client.moves == [
        {
            "SourceArn": "arn:aws:sqs:us-east-1:123456789012:deliveries-dlq",
            "DestinationArn": "arn:aws:sqs:us-east-1:123456789012:deliveries",
        }
    ]
    assert client.received == 0


def test_redrive_by_hand_when_native_is_not_wanted() -> None:
    client = NativeSqs()
    base = "https://sqs.us-east-1.amazonaws.com/123456789012"

    result = redrive.redrive(client, f"{base}/dlq", f"{base}/q", prefer_native=False)

    assert result.method == "receive-send-delete"
    assert client.moves == []


def test_redrive_native_refusal_for_another_reason_is_raised() -> None:
    class Denied(NativeSqs):
        def start_message_move_task(self, **kwargs: Any) -> dict[str, str]:
            raise ClientError(
                {
                    "Error": {"Code": "AccessDenied", "Message": "no"},
                    "ResponseMetadata": {"HTTPStatusCode": 403},
                },
                "StartMessageMoveTask",
            )

    with pytest.raises(ClientError, match="AccessDenied"):
        redrive.redrive(Denied(), "https://sqs/1/dlq", "https://sqs/1/q")


# -- dead-lettered by the event source, then redriven ---------------------------------------------------
def test_redrive_stack_queue_has_the_overridden_max_receive_count(sqs: Any, queue: str, dlq: str) -> None:
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["RedrivePolicy", "QueueArn"])
    policy = json.loads(attributes["Attributes"]["RedrivePolicy"])

    assert int(policy["maxReceiveCount"]) == MAX_RECEIVES
    assert policy["deadLetterTargetArn"] == redrive.queue_arn(sqs, dlq)


def test_redrive_brings_back_a_message_the_consumer_could_not_process(
    api: Api,
    tenant: dict[str, Any],
    receiver: Receiver,
    deliveries: Callable[..., int],
    sqs: Any,
    queue: str,
    dlq: str,
    sqs_clock: Callable[[float], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = tenant["token"]
    # Given one queued pair whose batch makes the consumer raise every time
    item = api.request(
        "PUT",
        "/content_items/00000000-0000-4000-8000-000000000001",
        json_body={"model": "Post", "created_on": "2024-01-01T00:00:01Z", "payload": {"n": 1}},
        token=token,
    )
    assert item.status == 201, item.body
    hook = api.request(
        "POST", "/webhooks", json_body={"urls": [f"{receiver.url}/hook"], "events": [EVENT]}, token=token
    )
    assert hook.status == 201, hook.body
    sent = api.request("GET", BULK, json_body={"event": EVENT}, token=token)
    assert sent.status == 200, sent.body
    assert sent.json["total_queued"] == 1

    poisoned = {"on": True}
    real_run = deliverer.Deliverer.run

    async def crash(self: deliverer.Deliverer, batch: list[deliverer.Incoming]) -> deliverer.BatchResult:
        if poisoned["on"]:
            raise RuntimeError("poison")
        return await real_run(self, batch)

    monkeypatch.setattr(deliverer.Deliverer, "run", crash)
    # The dead-letter function, which would end the pair failed, has the same bug: the message
    # stays in the dead-letter queue, as one it cannot read does.
    real_end = dead_letters.DeadLetters.end

    def crash_too(self: dead_letters.DeadLetters, *args: Any) -> dead_letters.Ended:
        if poisoned["on"]:
            raise RuntimeError("poison")
        return real_end(self, *args)

    monkeypatch.setattr(dead_letters.DeadLetters, "end", crash_too)

    # When the event source works the queue, its visibility timeout passing after each crash
    visibility = int(
        sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["VisibilityTimeout"])["Attributes"][
            "VisibilityTimeout"
        ]
    )
    for _ in range(MAX_RECEIVES):
        assert deliveries(rounds=1) == 1
        sqs_clock(visibility + 1)
    deliveries(rounds=1)

    # Then the message is in the dead-letter queue (in flight after the dead-letter function's
    # failed receive, then visible), nothing was sent, and the pair is pending
    assert _depth(sqs, queue) == (0, 0)
    assert _depth(sqs, dlq) == (0, 1)
    dlq_visibility = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["VisibilityTimeout"])
    sqs_clock(int(dlq_visibility["Attributes"]["VisibilityTimeout"]) + 1)
    assert _depth(sqs, dlq) == (1, 0)
    assert receiver.requests == []
    job = api.request("GET", f"/resends/{sent.json['resend_id']}", token=token).json
    assert (job["delivered"], job["failed"], job["pending"]) == (0, 0, 1)

    # And once the consumer is fixed, a redrive brings it back and it is delivered once
    poisoned["on"] = False
    result = redrive.redrive(boto3.client("sqs"), dlq, queue)
    assert result.moved == 1
    deliveries()
    assert len(receiver.to("/hook")) == 1
    job = api.request("GET", f"/resends/{sent.json['resend_id']}", token=token).json
    assert (job["total_queued"], job["delivered"], job["failed"], job["pending"]) == (1, 1, 0, 0)
    assert job["status"] == "completed"
    assert _depth(sqs, dlq) == (0, 0)
