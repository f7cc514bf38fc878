"""Parked pairs on moto (SPEC §10): a wait longer than PARK_AFTER_SECONDS is parked in DynamoDB and
its message done; the waker puts what is due back on the delivery queue and deletes the parked
items; a park that could not be written leaves the message on the queue.

Faults are injected on the very clients the handlers use (`clients.boto_client(...)`), by
replacing one API method on that object; the waker is driven with a clock of the test's choosing
(`parking.wake(now=...)`), and through its handler where the real clock will do.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devstack import lambdas
from devstack.sqs import sqs_event
from tests.conftest import Api, LocalAws, Receiver
from tests.parked import all_due_parked
from webhook_resend import clock
from webhook_resend.aws import clients, keys
from webhook_resend.delivery import parking
from webhook_resend.models.messages import PairMessage

BULK = "/content_items/bulk/webhooks"
EVENT = "content_item.changed"
HOUR = 3600


@pytest.fixture
def local_env() -> dict[str, str]:
    return {"ALLOW_PRIVATE_URLS": "true", "RETRY_SCHEDULE": "0,0,0", "DELIVERY_TIMEOUT_SECONDS": "1"}


@pytest.fixture
def visibility_changes(stack: LocalAws) -> list[int]:
    """Every VisibilityTimeout the handlers ask SQS for, recorded on their own client."""
    client = clients.boto_client("sqs")
    real = client.change_message_visibility_batch
    seen: list[int] = []

    def change_message_visibility_batch(**kwargs: Any) -> Any:
        seen.extend(int(entry["VisibilityTimeout"]) for entry in kwargs["Entries"])
        return real(**kwargs)

    client.change_message_visibility_batch = change_message_visibility_batch
    return seen


# -- helpers ------------------------------------------------------------------------------------------
def _one_pair(api: Api, token: str, url: str) -> str:
    """One item resent to one webhook of one URL; the job id."""
    item_id = "00000000-0000-4000-8000-000000000001"
    body = {"model": "Post", "created_on": "2024-01-01T00:00:01Z", "payload": {"n": 1}}
    assert api.request("PUT", f"/content_items/{item_id}", json_body=body, token=token).status == 201
    reply = api.request("POST", "/webhooks", json_body={"urls": [url], "events": [EVENT]}, token=token)
    assert reply.status == 201, reply.body
    params = {"event": EVENT, "webhook_id": [{"eq": reply.json["id"]}]}
    reply = api.request("GET", BULK, json_body=params, token=token)
    assert reply.status == 200, reply.body
    assert reply.json["total_queued"] == 1
    return str(reply.json["resend_id"])


def _worked_on_receive(stack: LocalAws, sqs: Any, queue: str, receive: int) -> tuple[str, list[str]]:
    """The one queued pair message worked by the deliver function as if SQS received it for the
    `receive`th time; (its message id, the ids the function reported not done)."""
    [message] = sqs.receive_message(QueueUrl=queue, AttributeNames=["All"])["Messages"]
    message["Attributes"]["ApproximateReceiveCount"] = str(receive)
    event = sqs_event([message], str(stack.stack.get_att("DeliveryQueue", "Arn")))
    answer = stack.invoke("DeliverFunction", event)
    return message["MessageId"], [f["itemIdentifier"] for f in answer["batchItemFailures"]]


def _job(api: Api, token: str, job_id: str) -> dict[str, Any]:
    reply = api.request("GET", f"/resends/{job_id}", token=token)
    assert reply.status == 200, reply.body
    job = dict(reply.json)
    assert job["delivered"] + job["failed"] + job["pending"] == job["total_queued"], job
    return job


def _record(api: Api, token: str, job_id: str) -> dict[str, Any]:
    reply = api.request("GET", f"/resends/{job_id}/deliveries", token=token)
    assert reply.status == 200, reply.body
    [record] = reply.json["data"]
    return dict(record)


def _depth(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, in flight) messages of the queue."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(attributes[names[0]]), int(attributes[names[1]])


def _drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    """Every visible message's body, received and deleted."""
    bodies: list[dict[str, Any]] = []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for message in batch:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def _message(subject_id: str | None = None, tenant_id: str = "tn00000000000000000000000a") -> PairMessage:
    return PairMessage(
        tenant_id=tenant_id,
        job_id=str(uuid.uuid4()),
        subject_id=subject_id or str(uuid.uuid4()),
        webhook_id=str(uuid.uuid4()),
        event=EVENT,
        created_on="2026-01-01T00:00:00.000Z",
    )


def _park(*waits: tuple[PairMessage, datetime]) -> None:
    left = parking.park(clients.store(), [parking.Wait(m, due) for m, due in waits], "retry", keep_days=30)
    assert left == []


def _wake(now: datetime, **options: Any) -> parking.WakeReport:
    time_left = options.pop("time_left", lambda: 60.0)
    return parking.wake(clients.store(), clients.publisher(), now=now, time_left=time_left, **options)


def _shard_of(m: PairMessage) -> int:
    return keys.parked_shard(m.tenant_id, m.job_id, m.subject_id, m.webhook_id)


def _in_shard(shard: int, count: int) -> list[PairMessage]:
    found: list[PairMessage] = []
    while len(found) < count:
        m = _message()
        if _shard_of(m) == shard:
            found.append(m)
    return found


def _subjects(bodies: list[dict[str, Any]]) -> list[str]:
    return sorted(body["subject_id"] for body in bodies)


# -- the consumer parks long waits ---------------------------------------------------------------------
def test_parking_a_503_with_an_hours_retry_after_parks_the_pair_and_completes_the_message(
    api: Api,
    token: str,
    receiver: Receiver,
    sqs: Any,
    queue: str,
    visibility_changes: list[int],
    deliveries: Callable[..., int],
) -> None:
    # Given a receiver that answers 503 with an hour's Retry-After
    receiver.script("/hook", [(503, {"Retry-After": str(HOUR)}), 200])
    before = clock.now()
    job_id = _one_pair(api, token, f"{receiver.url}/hook")

    # When the queue is worked
    deliveries()

    # Then the message was reported processed (deleted), with no visibility change past 15 minutes
    assert len(receiver.to("/hook")) == 1
    assert _depth(sqs, queue) == (0, 0)
    assert all(seconds <= 900 for seconds in visibility_changes), visibility_changes
    # And the pair waits in DynamoDB, due in an hour, and is still pending
    [parked] = all_due_parked(clock.now() + timedelta(hours=2))
    # (a 503 defers the pair without using up an attempt: SPEC §12)
    assert (parked.message.job_id, parked.reason) == (job_id, "deferred")
    due = clock.parse(parked.due_on)
    assert before + timedelta(seconds=HOUR) <= due <= clock.now() + timedelta(seconds=HOUR)
    record = _record(api, token, job_id)
    assert (record["status"], record["attempts"], record["next_attempt_on"]) == ("retrying", 1, parked.due_on)
    job = _job(api, token, job_id)
    assert (job["pending"], job["delivered"], job["failed"]) == (1, 0, 0)


@pytest.mark.parametrize(
    ("receive", "parked"),
    [
        pytest.param(1, False, id="first-receive"),
        pytest.param(17, False, id="three-receives-left"),
        pytest.param(18, True, id="two-receives-left"),
        pytest.param(20, True, id="last-receive"),
    ],
)
def test_parking_a_short_wait_on_the_messages_last_receives_parks_it_rather_than_dead_lettering(
    receive: int,
    parked: bool,
    api: Api,
    token: str,
    receiver: Receiver,
    stack: LocalAws,
    sqs: Any,
    queue: str,
    visibility_changes: list[int],
) -> None:
    # Given a receiver answering 429 with a minute's Retry-After, and the pair's message received
    # for the `receive`th time of the queue's 20 (DeliveryMaxReceiveCount) before the dead-letter queue
    receiver.script("/hook", [(429, {"Retry-After": "60"}), 200])
    job_id = _one_pair(api, token, f"{receiver.url}/hook")
    assert clients.settings().delivery_max_receive_count == 20

    # When its batch is worked
    message_id, not_done = _worked_on_receive(stack, sqs, queue, receive)

    # Then a wait of a minute is the message's visibility while receives are left; on its last
    # two receives the pair is parked for that minute and its message is done: SQS never
    # dead-letters a pair that only waits (SPEC §12), and no attempt is used up either way
    due = all_due_parked(clock.now() + timedelta(minutes=2))
    if parked:
        assert (not_done, visibility_changes) == ([], [])
        assert [(p.message.job_id, p.reason) for p in due] == [(job_id, "deferred")]
    else:
        assert (not_done, visibility_changes) == ([message_id], [60])
        assert due == []
    record = _record(api, token, job_id)
    assert (record["status"], record["attempts"]) == ("retrying", 1)


@pytest.mark.parametrize(("receive", "parked"), [(1, False), (18, True)], ids=["first", "two-left"])
def test_parking_a_batch_out_of_time_on_the_messages_last_receives_parks_its_unattempted_pair(
    receive: int,
    parked: bool,
    api: Api,
    token: str,
    receiver: Receiver,
    stack: LocalAws,
    sqs: Any,
    queue: str,
    visibility_changes: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given an invocation with 2 s left, too little to start an attempt (its 1 s timeout plus the
    # commit's margin after the reads), on the pair message's `receive`th receive of 20
    job_id = _one_pair(api, token, f"{receiver.url}/hook")
    monkeypatch.setattr(lambdas.LambdaContext, "get_remaining_time_in_millis", lambda self: 2000)

    message_id, not_done = _worked_on_receive(stack, sqs, queue, receive)

    # Then nothing was sent; the pair comes back soon as its message, or, on its last receives,
    # parked (its message done): a batch out of time never dead-letters a pair either
    assert receiver.to("/hook") == []
    due = all_due_parked(clock.now() + timedelta(minutes=2))
    if parked:
        assert (not_done, visibility_changes) == ([], [])
        assert [(p.message.job_id, p.reason) for p in due] == [(job_id, "retry")]
    else:
        assert (not_done, due) == ([message_id], [])
        [seconds] = visibility_changes
        assert 5 <= seconds <= 10  # SOON, with its jitter
    assert _job(api, token, job_id)["pending"] == 1


def test_parking_a_wait_of_exactly_the_threshold_keeps_the_visibility_timeout(
    api: Api,
    token: str,
    receiver: Receiver,
    sqs: Any,
    queue: str,
    visibility_changes: list[int],
    deliveries: Callable[..., int],
) -> None:
    receiver.script("/hook", [(429, {"Retry-After": "900"}), 200])
    job_id = _one_pair(api, token, f"{receiver.url}/hook")

    deliveries()

    assert visibility_changes == [900]
    assert _depth(sqs, queue) == (0, 1)
    assert all_due_parked(clock.now() + timedelta(hours=1)) == []
    assert _record(api, token, job_id)["status"] == "retrying"


def test_parking_a_failed_park_write_leaves_the_message_in_the_queue(
    api: Api,
    token: str,
    receiver: Receiver,
    sqs: Any,
    queue: str,
    visibility_changes: list[int],
    deliveries: Callable[..., int],
) -> None:
    # Given DynamoDB failing every BatchWriteItem of the consumer (where parked items are written)
    receiver.script("/hook", [(503, {"Retry-After": str(HOUR)}), 200])
    job_id = _one_pair(api, token, f"{receiver.url}/hook")
    client = clients.boto_client("dynamodb", validate=False)
    failed_writes: list[int] = []

    def batch_write_item(**kwargs: Any) -> Any:
        failed_writes.append(len(kwargs["RequestItems"]))
        error = {"Error": {"Code": "InternalServerError", "Message": "injected"}}
        raise ClientError(error, "BatchWriteItem")  # type: ignore[arg-type]

    client.batch_write_item = batch_write_item

    # When the queue is worked
    deliveries()

    # Then the message stays on the queue, back within 15 minutes, and nothing is parked
    assert failed_writes
    assert visibility_changes == [900]
    assert _depth(sqs, queue) == (0, 1)
    assert all_due_parked(clock.now() + timedelta(hours=2)) == []
    # And the attempt is recorded, the pair still pending
    assert _record(api, token, job_id)["status"] == "retrying"
    assert _job(api, token, job_id)["pending"] == 1


def test_parking_then_waking_delivers_the_pair_and_completes_the_job(
    api: Api, token: str, receiver: Receiver, sqs: Any, queue: str, deliveries: Callable[..., int]
) -> None:
    # Given a pair parked for an hour by a 503
    receiver.script("/hook", [(503, {"Retry-After": str(HOUR)}), 200])
    job_id = _one_pair(api, token, f"{receiver.url}/hook")
    deliveries()
    assert _depth(sqs, queue) == (0, 0)

    # When the waker runs with a clock past its due time, and the queue is worked
    report = _wake(clock.now() + timedelta(seconds=HOUR + 60))
    deliveries()

    # Then it was woken once, delivered, and the job completed
    assert (report.woken, report.deleted) == (1, 1)
    assert len(receiver.to("/hook")) == 2
    record = _record(api, token, job_id)
    assert (record["status"], record["attempts"], record["next_attempt_on"]) == ("delivered", 2, None)
    job = _job(api, token, job_id)
    assert (job["delivered"], job["pending"], job["status"]) == (1, 0, "completed")
    assert all_due_parked(clock.now() + timedelta(days=1)) == []


# -- the waker ----------------------------------------------------------------------------------------
def test_waker_requeues_exactly_the_due_pairs_and_deletes_their_items(
    stack: LocalAws, sqs: Any, queue: str
) -> None:
    now = clock.now()
    due = [_message(), _message()]
    later = _message()
    _park((due[0], now - timedelta(minutes=5)), (due[1], now), (later, now + timedelta(seconds=1)))

    report = _wake(now)

    assert _subjects(_drain(sqs, queue)) == sorted(m.subject_id for m in due)
    assert (report.woken, report.deleted, report.not_sent, report.shards_done) == (2, 2, 0, keys.PARK_SHARDS)
    assert [p.message for p in all_due_parked(now + timedelta(days=1))] == [later]


def test_waker_sends_the_message_the_pair_was_parked_with(stack: LocalAws, sqs: Any, queue: str) -> None:
    message = _message()
    _park((message, clock.now() - timedelta(seconds=1)))

    _wake(clock.now())

    [body] = _drain(sqs, queue)
    assert PairMessage.model_validate(body) == message


def test_waker_wakes_a_pair_parked_twice_once(stack: LocalAws, sqs: Any, queue: str) -> None:
    # Given one pair parked twice (a duplicate message), with two due times both past
    now = clock.now()
    message = _message()
    _park((message, now - timedelta(minutes=2)))
    _park((message, now - timedelta(minutes=1)))
    assert len(all_due_parked(now)) == 1

    report = _wake(now)

    assert [body["subject_id"] for body in _drain(sqs, queue)] == [message.subject_id]
    assert report.woken == 1
    assert all_due_parked(now + timedelta(days=1)) == []


def test_waker_reads_every_shard(stack: LocalAws, sqs: Any, queue: str) -> None:
    # Given one due pair in each shard
    by_shard: dict[int, PairMessage] = {}
    while len(by_shard) < keys.PARK_SHARDS:
        m = _message()
        by_shard.setdefault(_shard_of(m), m)
    now = clock.now()
    _park(*((m, now - timedelta(seconds=1)) for m in by_shard.values()))

    report = _wake(now)

    assert _subjects(_drain(sqs, queue)) == sorted(m.subject_id for m in by_shard.values())
    assert (report.woken, report.shards_done) == (keys.PARK_SHARDS, keys.PARK_SHARDS)


def test_waker_stops_taking_pages_when_time_runs_low_and_the_next_run_continues(
    stack: LocalAws, sqs: Any, queue: str
) -> None:
    # Given three due pairs in the shard read first, one per page, and time for one page only
    now = clock.now()
    messages = _in_shard(0, 3)
    _park(*((m, now - timedelta(seconds=1)) for m in messages))
    time_left = iter([60.0])

    first = _wake(now, page_size=1, time_left=lambda: next(time_left, 0.0))

    assert (first.pages, first.woken, first.stopped_early) == (1, 1, True)
    assert len(_drain(sqs, queue)) == 1
    # When the next run has time
    second = _wake(now, page_size=1)
    assert (second.woken, second.stopped_early) == (2, False)
    assert len(_drain(sqs, queue)) == 2
    assert all_due_parked(now + timedelta(days=1)) == []


def test_waker_leaves_a_pair_that_sqs_did_not_take_parked(stack: LocalAws, sqs: Any, queue: str) -> None:
    now = clock.now()
    message = _message()
    _park((message, now - timedelta(seconds=1)))
    client = clients.boto_client("sqs")

    def send_message_batch(**kwargs: Any) -> Any:
        error = {"Error": {"Code": "AWS.SimpleQueueService.RequestThrottled", "Message": "injected"}}
        raise ClientError(error, "SendMessageBatch")  # type: ignore[arg-type]

    client.send_message_batch = send_message_batch

    report = _wake(now)

    assert (report.woken, report.not_sent) == (0, 1)
    assert _depth(sqs, queue) == (0, 0)
    assert [p.message for p in all_due_parked(now)] == [message]


def test_store_unpark_keeps_a_pair_parked_again_after_it_was_read(stack: LocalAws) -> None:
    # Given a due pair read by the waker, then parked again (its message ran meanwhile)
    now = clock.now()
    message = _message()
    _park((message, now - timedelta(seconds=1)))
    [read] = all_due_parked(now)
    _park((message, now + timedelta(hours=1)))

    # When the waker deletes the item it read
    outcome = clients.store().unpark([read])

    # Then the new park stays
    assert (outcome["deleted"], outcome["changed"]) == (0, 1)
    [kept] = all_due_parked(now + timedelta(hours=2))
    assert kept.due_on == clock.canonical(now + timedelta(hours=1))


def test_store_park_gives_the_item_a_ttl_beyond_its_due_time(stack: LocalAws) -> None:
    due = clock.now() + timedelta(hours=4)
    message = _message()
    _park((message, due))

    key = keys.parked(message.tenant_id, message.job_id, message.subject_id, message.webhook_id)
    item = boto3.client("dynamodb").get_item(
        TableName=str(stack.stack.ref("DataTable")), Key={k: {"S": v} for k, v in key.items()}
    )["Item"]

    assert int(item["expires_at"]["N"]) == clock.expires_at(30, start=due)
    assert item["reason"] == {"S": "retry"}


def test_waker_handler_wakes_what_is_due_and_reports_it(stack: LocalAws, sqs: Any, queue: str) -> None:
    message = _message()
    _park((message, clock.now() - timedelta(seconds=1)))

    answer = stack.invoke("WakerFunction", {})

    assert (answer["woken"], answer["deleted"], answer["stopped_early"]) == (1, 1, False)
    assert [body["subject_id"] for body in _drain(sqs, queue)] == [message.subject_id]
