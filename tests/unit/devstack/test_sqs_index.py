"""devstack.sqs_index answers what unpatched moto answers, and finds a receipt handle's message
without walking the queue.

The same script (the calls the local stack's pollers and the functions make: SendMessage,
SendMessageBatch, ReceiveMessage with a visibility timeout, DeleteMessageBatch with a handle
deleted twice and one never given, ChangeMessageVisibility to 0 and past the 12 h limit (moto's own check), a
redrive to a dead-letter queue after maxReceiveCount, GetQueueAttributes; then message and system
attributes, binary ones, a batch with a failed entry, delays, ChangeMessageVisibilityBatch, a FIFO
queue: `_attributes_fifo_and_batches`) runs through moto's HTTP
application unpatched and patched, with moto's random numbers seeded alike; the answers are
compared with their millisecond timestamps masked.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from moto.backends import get_backend
from moto.moto_api._internal import mock_random
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.test import Client

from devstack import sqs_index
from tests.unit.devstack.compare import assert_same_answers

AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/sqs/aws4_request, "
    "SignedHeaders=host;x-amz-date;x-amz-target, Signature=0"
)
TIMESTAMP = re.compile(rb"\b1\d{9}(?:\d{3}|\.\d+)?\b")  # epoch milliseconds, or seconds


@pytest.fixture
def unpatched_at_first() -> Iterator[None]:
    was_installed = sqs_index.installed()
    sqs_index.uninstall()
    try:
        yield
    finally:
        if was_installed:
            sqs_index.install()
        else:
            sqs_index.uninstall()


def run() -> list[bytes]:
    get_backend("sqs").reset()
    mock_random.seed(19)
    client = Client(DomainDispatcherApplication(create_backend_app))
    answers: list[bytes] = []

    def call(target: str, body: dict[str, Any]) -> dict[str, Any]:
        response = client.post(
            "/",
            data=json.dumps(body),
            headers={
                "X-Amz-Target": f"AmazonSQS.{target}",
                "Content-Type": "application/x-amz-json-1.0",
                "Authorization": AUTH,
                "Host": "sqs.us-east-1.amazonaws.com",
            },
        )
        data = response.get_data()
        answers.append(str(response.status_code).encode() + b" " + TIMESTAMP.sub(b"T", data))
        return json.loads(data) if data else {}

    dlq = call("CreateQueue", {"QueueName": "dlq"})["QueueUrl"]
    dlq_arn = call("GetQueueAttributes", {"QueueUrl": dlq, "AttributeNames": ["QueueArn"]})["Attributes"][
        "QueueArn"
    ]
    queue = call(
        "CreateQueue",
        {
            "QueueName": "work",
            "Attributes": {
                "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2})
            },
        },
    )["QueueUrl"]
    for n in range(30):
        call("SendMessage", {"QueueUrl": queue, "MessageBody": f"m{n}", "MessageGroupId": f"t{n % 3}"})
    call(
        "SendMessageBatch",
        {"QueueUrl": queue, "Entries": [{"Id": str(i), "MessageBody": f"b{i}"} for i in range(10)]},
    )
    attributes = {"QueueUrl": queue, "AttributeNames": ["All"]}
    call("GetQueueAttributes", attributes)
    handles: list[str] = []
    for _ in range(3):
        got = call(
            "ReceiveMessage",
            {
                "QueueUrl": queue,
                "MaxNumberOfMessages": 10,
                "VisibilityTimeout": 30,
                "AttributeNames": ["All"],
            },
        )
        handles += [m["ReceiptHandle"] for m in got.get("Messages", [])]
    call("GetQueueAttributes", attributes)
    entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles[:8])]
    call("DeleteMessageBatch", {"QueueUrl": queue, "Entries": entries})
    call(
        "DeleteMessageBatch",
        {"QueueUrl": queue, "Entries": [*entries[:2], {"Id": "x", "ReceiptHandle": "nope"}]},
    )
    call("DeleteMessage", {"QueueUrl": queue, "ReceiptHandle": "never-given"})
    for handle in handles[8:14]:
        call("ChangeMessageVisibility", {"QueueUrl": queue, "ReceiptHandle": handle, "VisibilityTimeout": 0})
    call(
        "ChangeMessageVisibility",
        {"QueueUrl": queue, "ReceiptHandle": handles[14], "VisibilityTimeout": 43201},
    )
    call("ChangeMessageVisibility", {"QueueUrl": queue, "ReceiptHandle": handles[0], "VisibilityTimeout": 5})
    call(
        "ChangeMessageVisibility", {"QueueUrl": queue, "ReceiptHandle": "never-given", "VisibilityTimeout": 5}
    )
    # The six made visible again are received a second time, then a third receive moves them on
    again = []
    for _ in range(2):
        got = call("ReceiveMessage", {"QueueUrl": queue, "MaxNumberOfMessages": 10, "VisibilityTimeout": 0})
        again += [m["ReceiptHandle"] for m in got.get("Messages", [])]
    call("ReceiveMessage", {"QueueUrl": queue, "MaxNumberOfMessages": 10, "VisibilityTimeout": 30})
    call("GetQueueAttributes", attributes)
    moved = call("ReceiveMessage", {"QueueUrl": dlq, "MaxNumberOfMessages": 10, "VisibilityTimeout": 30})
    for message in moved.get("Messages", []):
        call("DeleteMessage", {"QueueUrl": dlq, "ReceiptHandle": message["ReceiptHandle"]})
    for handle in again[:3]:  # an old handle still deletes its message (moto keeps every handle)
        call("DeleteMessage", {"QueueUrl": queue, "ReceiptHandle": handle})
    call("GetQueueAttributes", attributes)
    call("GetQueueAttributes", {"QueueUrl": dlq, "AttributeNames": ["All"]})
    _attributes_fifo_and_batches(call)
    get_backend("sqs").reset()
    return answers


def _attributes_fifo_and_batches(call: Callable[[str, dict[str, Any]], dict[str, Any]]) -> None:
    """Message attributes (string, number, binary) and system attributes, a batch with a failed
    entry, a delayed message, ChangeMessageVisibilityBatch with failures, a FIFO queue's sequence
    numbers, deduplication and group ids, empty receives: the answers devstack.sqs_json compiles
    its walk for, and ones it leaves to moto's (binary values)."""
    kind = {
        "kind": {"DataType": "String", "StringValue": "pair"},
        "n": {"DataType": "Number", "StringValue": "7"},
    }
    trace = {
        "AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"}
    }
    queue = call("CreateQueue", {"QueueName": "attrs"})["QueueUrl"]
    call("SendMessage", {"QueueUrl": queue, "MessageBody": "with attributes", "MessageAttributes": kind})
    call(
        "SendMessage",
        {"QueueUrl": queue, "MessageBody": "traced", "MessageSystemAttributes": trace, "DelaySeconds": 0},
    )
    call(
        "SendMessageBatch",
        {
            "QueueUrl": queue,
            "Entries": [
                {"Id": "a", "MessageBody": "bé☃", "MessageAttributes": kind},
                {"Id": "b", "MessageBody": "plain", "MessageGroupId": "tn-1"},
                {"Id": "c", "MessageBody": "too late", "DelaySeconds": 901},
                {"Id": "d", "MessageBody": '{"json": [1, 2]}', "DelaySeconds": 0},
            ],
        },
    )
    call(
        "ReceiveMessage",
        {
            "QueueUrl": queue,
            "MaxNumberOfMessages": 10,
            "MessageAttributeNames": ["All"],
            "VisibilityTimeout": 0,
        },
    )
    call("SendMessage", {"QueueUrl": queue, "MessageBody": "late", "DelaySeconds": 600})
    got = call(
        "ReceiveMessage",
        {
            "QueueUrl": queue,
            "MaxNumberOfMessages": 10,
            "AttributeNames": ["All"],
            "MessageAttributeNames": ["All"],
            "VisibilityTimeout": 0,
        },
    )
    handles = [m["ReceiptHandle"] for m in got.get("Messages", [])]
    call(
        "ChangeMessageVisibilityBatch",
        {
            "QueueUrl": queue,
            "Entries": [
                {"Id": "ok", "ReceiptHandle": handles[0], "VisibilityTimeout": 30},
                {"Id": "too-long", "ReceiptHandle": handles[1], "VisibilityTimeout": 43201},
                {"Id": "unknown", "ReceiptHandle": "never-given", "VisibilityTimeout": 30},
            ],
        },
    )
    call(
        "ReceiveMessage",
        {
            "QueueUrl": queue,
            "MaxNumberOfMessages": 2,
            "MessageSystemAttributeNames": ["SenderId", "SentTimestamp"],
        },
    )
    call(
        "DeleteMessageBatch",
        {"QueueUrl": queue, "Entries": [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles)]},
    )
    blob = {"blob": {"DataType": "Binary", "BinaryValue": "AAEC/w=="}}
    call("SendMessage", {"QueueUrl": queue, "MessageBody": "binary", "MessageAttributes": {**kind, **blob}})
    call(
        "SendMessageBatch",
        {"QueueUrl": queue, "Entries": [{"Id": "x", "MessageBody": "binary too", "MessageAttributes": blob}]},
    )
    call("ReceiveMessage", {"QueueUrl": queue, "MaxNumberOfMessages": 10, "MessageAttributeNames": ["All"]})
    call("ReceiveMessage", {"QueueUrl": queue, "MaxNumberOfMessages": 10})  # nothing visible: {}
    call("GetQueueAttributes", {"QueueUrl": queue, "AttributeNames": ["All"]})
    call("GetQueueAttributes", {"QueueUrl": queue, "AttributeNames": ["DelaySeconds", "VisibilityTimeout"]})

    fifo = call("CreateQueue", {"QueueName": "ordered.fifo", "Attributes": {"FifoQueue": "true"}})["QueueUrl"]
    call(
        "SendMessageBatch",
        {
            "QueueUrl": fifo,
            "Entries": [
                {
                    "Id": f"f{i}",
                    "MessageBody": f"f{i}",
                    "MessageGroupId": f"g{i % 2}",
                    "MessageDeduplicationId": f"d{i}",
                }
                for i in range(4)
            ],
        },
    )
    call(
        "SendMessage",
        {"QueueUrl": fifo, "MessageBody": "again", "MessageGroupId": "g0", "MessageDeduplicationId": "d0"},
    )
    call(
        "SendMessage",
        {
            "QueueUrl": fifo,
            "MessageBody": "one",
            "MessageGroupId": "g1",
            "MessageDeduplicationId": "d9",
            "MessageAttributes": kind,
        },
    )
    got = call("ReceiveMessage", {"QueueUrl": fifo, "MaxNumberOfMessages": 10, "AttributeNames": ["All"]})
    call(
        "DeleteMessageBatch",
        {
            "QueueUrl": fifo,
            "Entries": [
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got["Messages"])
            ],
        },
    )
    call("GetQueueAttributes", {"QueueUrl": fifo, "AttributeNames": ["All"]})


def test_answers_are_unpatched_moto_s(unpatched_at_first: None) -> None:
    expected = run()
    sqs_index.install()
    answered = run()

    assert any(b"ReceiptHandleIsInvalid" in a for a in expected)
    assert any(b"maximum visibility timeout is 43200" in a for a in expected)
    assert any(b'"ApproximateNumberOfMessagesNotVisible": "22"' in a for a in expected)
    assert_same_answers(expected, answered)


def test_receive_send_and_delete_do_not_walk_the_queue(unpatched_at_first: None) -> None:
    from moto.sqs.models import Message, Queue

    sqs_index.install()
    get_backend("sqs").reset()
    backend = get_backend("sqs")["123456789012"]["us-east-1"]
    backend.create_queue("deep")
    for n in range(2000):
        backend.send_message("deep", f"m{n}")
    counted = 0
    delayed = Queue.__dict__["approximate_number_of_messages_delayed"]

    def counting_delayed(self: Queue) -> Any:
        nonlocal counted
        counted += 1
        return delayed.fget(self)  # type: ignore[misc]

    # One of the counts (a walk of the queue) moto's `attributes` makes.
    class CountingList(list):  # type: ignore[type-arg]
        """The queue's messages, counting how many a walk reads."""

        read = 0

        def __iter__(self) -> Iterator[Any]:
            for message in super().__iter__():
                CountingList.read += 1
                yield message

    queue = backend.get_queue("deep")
    queue._messages = CountingList(queue._messages)
    Queue.approximate_number_of_messages_delayed = property(counting_delayed)  # type: ignore[method-assign,assignment]
    try:
        received = backend.receive_message("deep", 10, 0, 30)
        backend.send_message("deep", "one more")
    finally:
        Queue.approximate_number_of_messages_delayed = delayed  # type: ignore[method-assign]
    assert len(received) == 10
    assert counted == 0  # unpatched: 3 times a message received, once a send
    assert CountingList.read == 10  # unpatched: the 2,000 of the queue
    walked = 0
    original = Message.had_receipt_handle

    def counting(self: Message, receipt_handle: str) -> bool:
        nonlocal walked
        walked += 1
        return original(self, receipt_handle)

    Message.had_receipt_handle = counting  # type: ignore[method-assign]
    try:
        for message in received:
            backend.delete_message("deep", message.receipt_handle)
    finally:
        Message.had_receipt_handle = original  # type: ignore[method-assign]
    assert len(backend.get_queue("deep")._messages) == 1991
    assert walked == len(received) == 10
    get_backend("sqs").reset()


def test_patched_receive_and_visibility_read_moto_s_own_clock(
    unpatched_at_first: None, sqs_clock: Any
) -> None:
    # Given the patches installed (as a local stack alive on the same test worker leaves them)
    sqs_index.install()
    get_backend("sqs").reset()
    backend = get_backend("sqs")["123456789012"]["us-east-1"]
    backend.create_queue("clocked")
    backend.send_message("clocked", "m")
    first = backend.receive_message("clocked", 1, 0, 30)
    assert len(first) == 1
    assert backend.receive_message("clocked", 1, 0, 30) == []

    # When moto's SQS clock (the one the tests' sqs_clock moves) passes the visibility timeout
    sqs_clock(31)

    # Then the patched receive sees the message again, and a visibility change counts from that clock
    again = backend.receive_message("clocked", 1, 0, 30)
    assert [m.body for m in again] == ["m"]
    backend.change_message_visibility("clocked", again[0].receipt_handle, 10)
    assert backend.receive_message("clocked", 1, 0, 30) == []
    sqs_clock(11)
    assert [m.body for m in backend.receive_message("clocked", 1, 0, 30)] == ["m"]
    get_backend("sqs").reset()


def _redrive_to_fifo_dlq() -> tuple[list[str], list[str], str]:
    """A FIFO queue whose message moves to its FIFO dead-letter queue inside a receive (moto's
    add_message reads the DLQ's attributes, which count its messages)."""
    get_backend("sqs").reset()
    backend = get_backend("sqs")["123456789012"]["us-east-1"]
    dlq = backend.create_queue("dead.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    backend.create_queue(
        "work.fifo",
        FifoQueue="true",
        ContentBasedDeduplication="true",
        RedrivePolicy=json.dumps({"deadLetterTargetArn": dlq.queue_arn, "maxReceiveCount": 1}),
    )
    backend.send_message("work.fifo", "m", group_id="g")
    first = [m.body for m in backend.receive_message("work.fifo", 10, 0, 0)]
    second = [m.body for m in backend.receive_message("work.fifo", 10, 0, 0)]
    count = backend.get_queue("dead.fifo").attributes["ApproximateNumberOfMessages"]
    get_backend("sqs").reset()
    return first, second, str(count)


def test_a_receive_that_redrives_to_a_fifo_dead_letter_queue(unpatched_at_first: None) -> None:
    expected = _redrive_to_fifo_dlq()
    sqs_index.install()

    assert _redrive_to_fifo_dlq() == expected
    assert expected == (["m"], [], "1")


def test_a_long_poll_of_an_empty_queue_waits(unpatched_at_first: None) -> None:
    """A receive with a wait time on an empty queue sleeps until it ends (the walk a receive
    makes lazily must not answer the long poll's 'any messages?' with a generator, always true)."""
    from moto.sqs.models import Queue

    sqs_index.install()
    get_backend("sqs").reset()
    backend = get_backend("sqs")["123456789012"]["us-east-1"]
    backend.create_queue("empty")
    listed = 0
    messages = Queue.__dict__["messages"]

    def counting(self: Queue) -> Any:
        nonlocal listed
        listed += 1
        return messages.fget(self)  # type: ignore[misc]

    Queue.messages = property(counting)  # type: ignore[method-assign,assignment]
    try:
        assert backend.receive_message("empty", 10, 1, 30) == []
    finally:
        Queue.messages = messages  # type: ignore[method-assign]
        get_backend("sqs").reset()
    assert listed < 10  # moto's own: a few; a spinning wait: tens of thousands
