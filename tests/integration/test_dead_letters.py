"""The dead-letter function on moto: what SQS dead-letters from the delivery queue (one pair) or
the fan-out queue (a page of pairs) ends `failed`, is counted once, and its job completes
(SPEC §11); what it cannot read stays in its queue; what DynamoDB refuses comes back.

Messages are taken from the queues the API filled and handed to the function as Lambda's event
source would hand them from a dead-letter queue (`ApproximateReceiveCount` and all), except in
the tests that let moto's redrive policy and devstack's event sources do the whole trip.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from devstack.sqs import SqsEventSource, mappings_of, sqs_event
from tests.conftest import Api, LocalAws, Receiver
from tests.counters import assert_counters_add_up
from webhook_resend.aws import clients
from webhook_resend.models.messages import PageMessage
from webhook_resend.observability import logger as service_logger

BULK = "/content_items/bulk/webhooks"
EVENT = "content_item.changed"
DEAD_LETTER = "DeadLetterFunction"
RECEIVES = 21  # what the first receive from the DLQ reports after the default maxReceiveCount 20


@pytest.fixture
def service_log(stack: LocalAws, monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """What the service logger writes (Powertools' JSON lines), once the function is loaded."""
    stack.invokers[DEAD_LETTER].load()
    sink = io.StringIO()
    for handler in logging.getLogger(service_logger.name).handlers:
        if isinstance(handler, logging.StreamHandler):
            monkeypatch.setattr(handler, "stream", sink)
    return sink


# -- helpers ------------------------------------------------------------------------------------------
def _item(api: Api, token: str, n: int) -> str:
    item_id = f"00000000-0000-4000-8000-{n:012d}"
    body = {"model": "Post", "created_on": f"2024-01-01T00:00:{n:02d}Z", "payload": {"n": n}}
    reply = api.request("PUT", f"/content_items/{item_id}", json_body=body, token=token)
    assert reply.status == 201, reply.body
    return item_id


def _webhook(api: Api, token: str, urls: list[str]) -> dict[str, Any]:
    reply = api.request("POST", "/webhooks", json_body={"urls": urls, "events": [EVENT]}, token=token)
    assert reply.status == 201, reply.body
    return dict(reply.json)


def _bulk(api: Api, token: str, webhook_id: str) -> str:
    reply = api.request(
        "GET", BULK, json_body={"event": EVENT, "webhook_id": [{"eq": webhook_id}]}, token=token
    )
    assert reply.status == 200, reply.body
    return str(reply.json["resend_id"])


def _job(api: Api, token: str, job_id: str) -> dict[str, Any]:
    reply = api.request("GET", f"/resends/{job_id}", token=token)
    assert reply.status == 200, reply.body
    job = dict(reply.json)
    assert job["delivered"] + job["failed"] + job["pending"] == job["total_queued"], job
    return job


def _counts(job: dict[str, Any]) -> tuple[int, int, int, str]:
    return job["delivered"], job["failed"], job["pending"], job["status"]


def _records(api: Api, token: str, job_id: str) -> list[dict[str, Any]]:
    reply = api.request("GET", f"/resends/{job_id}/deliveries?limit=1000", token=token)
    assert reply.status == 200, reply.body
    assert reply.json["next_cursor"] is None
    return sorted(reply.json["data"], key=lambda r: (r["subject_id"], r["webhook_id"], r["url_index"]))


def _take(sqs: Any, stack: LocalAws, queue: str) -> list[str]:
    """Every message of a queue, received and deleted: its bodies."""
    url = stack.stack.ref(queue)
    bodies: list[str] = []
    while True:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not batch:
            return bodies
        bodies += [m["Body"] for m in batch]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)],
        )


def _dead_letters(stack: LocalAws, queue: str, bodies: list[str], receives: int = RECEIVES) -> dict[str, Any]:
    """The dead-letter function's answer to `bodies`, as Lambda hands them from `queue`."""
    messages = [
        {
            "MessageId": str(uuid.uuid4()),
            "ReceiptHandle": f"handle-{n}",
            "Body": body,
            "Attributes": {"ApproximateReceiveCount": str(receives)},
        }
        for n, body in enumerate(bodies)
    ]
    answer = stack.invoke(DEAD_LETTER, sqs_event(messages, stack.stack.get_att(queue, "Arn")))
    answer["ids"] = [m["MessageId"] for m in messages]
    return dict(answer)


def _failed_ids(answer: dict[str, Any]) -> list[str]:
    return [f["itemIdentifier"] for f in answer["batchItemFailures"]]


def _one_queued_pair(api: Api, token: str, sqs: Any, stack: LocalAws, urls: list[str]) -> tuple[str, str]:
    """One item × one webhook with `urls`, resent: (job id, the pair's message body), taken out
    of the delivery queue."""
    _item(api, token, 1)
    hook = _webhook(api, token, urls)
    job_id = _bulk(api, token, hook["id"])
    [body] = _take(sqs, stack, "DeliveryQueue")
    return job_id, body


def _pumps(stack: LocalAws, *functions: str) -> Callable[..., int]:
    """conftest's `deliveries`, for the event sources of `functions` only."""
    sources = [
        SqsEventSource(stack, dataclasses.replace(mapping, window_seconds=0), wait_seconds=0)
        for mapping in mappings_of(stack.stack)
        if mapping.function in functions
    ]

    def run(rounds: int = 3, max_polls: int = 200) -> int:
        handled = idle = 0
        for _ in range(max_polls):
            count = sum(source.poll_once() for source in sources)
            handled += count
            idle = 0 if count else idle + 1
            if idle >= rounds:
                break
        return handled

    return run


# -- a delivery dead letter: one pair -----------------------------------------------------------------
def test_dead_letter_of_a_pair_records_it_failed_and_completes_its_job(
    api: Api, token: str, sqs: Any, stack: LocalAws, receiver: Receiver
) -> None:
    # Given a queued pair whose message was never delivered
    job_id, body = _one_queued_pair(api, token, sqs, stack, [f"{receiver.url}/hook"])

    # When its message comes out of the delivery dead-letter queue
    answer = _dead_letters(stack, "DeliveryDeadLetterQueue", [body])

    # Then it is consumed, the pair failed and counted, and the job completed
    assert answer["batchItemFailures"] == []
    job = _job(api, token, job_id)
    assert _counts(job) == (0, 1, 0, "completed")
    assert job["completed_on"]
    [record] = _records(api, token, job_id)
    assert (record["status"], record["last_error"]) == ("failed", f"dead-lettered after {RECEIVES} receives")
    assert (record["url_index"], record["url"], record["attempts"]) == (0, f"{receiver.url}/hook", 0)
    assert receiver.requests == []


def test_dead_letter_of_a_pair_twice_counts_it_once(
    api: Api, token: str, sqs: Any, stack: LocalAws, receiver: Receiver
) -> None:
    job_id, body = _one_queued_pair(api, token, sqs, stack, [f"{receiver.url}/hook"])

    first = _dead_letters(stack, "DeliveryDeadLetterQueue", [body])
    second = _dead_letters(stack, "DeliveryDeadLetterQueue", [body], receives=RECEIVES + 1)
    both = _dead_letters(stack, "DeliveryDeadLetterQueue", [body, body])

    assert first["batchItemFailures"] == second["batchItemFailures"] == both["batchItemFailures"] == []
    assert _counts(_job(api, token, job_id)) == (0, 1, 0, "completed")
    [record] = _records(api, token, job_id)
    assert record["last_error"] == f"dead-lettered after {RECEIVES} receives"


def test_dead_letter_of_a_pair_of_a_cancelled_job_ends_it_cancelled_counted_once(
    api: Api, token: str, sqs: Any, stack: LocalAws, receiver: Receiver
) -> None:
    # Given a queued pair of two URLs whose job was cancelled before its message was handled
    job_id, body = _one_queued_pair(api, token, sqs, stack, [f"{receiver.url}/a", f"{receiver.url}/b"])
    assert api.request("POST", f"/resends/{job_id}/cancel", token=token).status == 200

    # When its message comes out of the delivery dead-letter queue, twice
    first = _dead_letters(stack, "DeliveryDeadLetterQueue", [body])
    again = _dead_letters(stack, "DeliveryDeadLetterQueue", [body], receives=RECEIVES + 1)

    # Then the pair ended cancelled, not failed, counted once, and its job is done
    assert first["batchItemFailures"] == again["batchItemFailures"] == []
    reply = api.request("GET", f"/resends/{job_id}", token=token)
    assert_counters_add_up(reply.json)
    job = reply.json
    assert (job["status"], job["cancelled"], job["failed"], job["delivered"], job["pending"]) == (
        "cancelled",
        1,
        0,
        0,
        0,
    )
    assert job["completed_on"] is not None
    records = _records(api, token, job_id)
    assert [(r["url_index"], r["status"]) for r in records] == [(0, "cancelled"), (1, "cancelled")]
    assert all(r["last_error"] == "the resend was cancelled before this was delivered" for r in records)
    assert receiver.requests == []


def test_dead_letter_of_a_pair_delivered_meanwhile_stays_delivered_and_is_not_counted_again(
    api: Api, token: str, sqs: Any, stack: LocalAws, receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    # Given a pair delivered by one copy of its message
    job_id, body = _one_queued_pair(api, token, sqs, stack, [f"{receiver.url}/hook"])
    sqs.send_message(QueueUrl=stack.stack.ref("DeliveryQueue"), MessageBody=body)
    deliveries()
    assert _counts(_job(api, token, job_id)) == (1, 0, 0, "completed")

    # When another copy of it is dead-lettered
    answer = _dead_letters(stack, "DeliveryDeadLetterQueue", [body])

    # Then it is consumed and nothing changes
    assert answer["batchItemFailures"] == []
    assert _counts(_job(api, token, job_id)) == (1, 0, 0, "completed")
    [record] = _records(api, token, job_id)
    assert (record["status"], record["last_error"]) == ("delivered", None)
    assert len(receiver.to("/hook")) == 1


def test_dead_letter_of_a_retrying_pair_fails_every_url_not_delivered_and_keeps_what_was(
    api: Api, token: str, sqs: Any, stack: LocalAws, receiver: Receiver
) -> None:
    # Given a two-URL pair whose first URL was delivered and whose second answered 500 and waits
    receiver.script("/broken", [500])
    job_id, body = _one_queued_pair(api, token, sqs, stack, [f"{receiver.url}/ok", f"{receiver.url}/broken"])
    sqs.send_message(QueueUrl=stack.stack.ref("DeliveryQueue"), MessageBody=body)
    _pumps(stack, "DeliverFunction")(rounds=1, max_polls=1)
    _take(sqs, stack, "DeliveryQueue")  # the retry, which SQS is to dead-letter instead
    before = _records(api, token, job_id)
    assert [(r["status"], r["last_status_code"]) for r in before] == [("delivered", 200), ("retrying", 500)]

    # When its message is dead-lettered
    answer = _dead_letters(stack, "DeliveryDeadLetterQueue", [body])

    # Then the delivered URL stays delivered, the other ends failed with its last answer kept,
    # and the pair counts failed, once
    assert answer["batchItemFailures"] == []
    ok, broken = _records(api, token, job_id)
    assert (ok["status"], ok["last_error"], ok["attempts"]) == ("delivered", None, 1)
    assert (broken["status"], broken["last_status_code"], broken["attempts"]) == ("failed", 500, 1)
    assert broken["last_error"] == f"dead-lettered after {RECEIVES} receives"
    assert _counts(_job(api, token, job_id)) == (0, 1, 0, "completed")


def test_dead_letter_of_a_pair_never_tried_records_every_url_of_its_webhook(
    api: Api, token: str, sqs: Any, stack: LocalAws, receiver: Receiver
) -> None:
    urls = [f"{receiver.url}/a", f"{receiver.url}/b"]
    job_id, body = _one_queued_pair(api, token, sqs, stack, urls)

    _dead_letters(stack, "DeliveryDeadLetterQueue", [body])

    records = _records(api, token, job_id)
    assert [(r["url_index"], r["url"], r["status"]) for r in records] == [
        (0, urls[0], "failed"),
        (1, urls[1], "failed"),
    ]
    assert _counts(_job(api, token, job_id)) == (0, 1, 0, "completed")


def test_dead_letter_of_a_pair_whose_webhook_is_gone_gets_a_first_record_without_url(
    api: Api, token: str, sqs: Any, stack: LocalAws, receiver: Receiver
) -> None:
    job_id, body = _one_queued_pair(api, token, sqs, stack, [f"{receiver.url}/hook"])
    webhook_id = json.loads(body)["webhook_id"]
    assert api.request("DELETE", f"/webhooks/{webhook_id}", token=token).status == 204

    _dead_letters(stack, "DeliveryDeadLetterQueue", [body])

    [record] = _records(api, token, job_id)
    assert (record["url_index"], record["url"], record["status"]) == (0, "", "failed")
    assert record["last_error"] == f"dead-lettered after {RECEIVES} receives"
    assert _counts(_job(api, token, job_id)) == (0, 1, 0, "completed")


def test_dead_letter_of_a_job_that_no_longer_exists_is_consumed_and_writes_nothing(
    api: Api, token: str, sqs: Any, stack: LocalAws, receiver: Receiver
) -> None:
    # Given a pair message whose job has expired
    job_id, body = _one_queued_pair(api, token, sqs, stack, [f"{receiver.url}/hook"])
    message = json.loads(body)
    table = stack.stack.ref("DataTable")
    dynamodb = boto3.client("dynamodb")
    job_key = {"pk": {"S": f"{message['tenant_id']}#JOB#{job_id}"}, "sk": {"S": "JOB"}}
    dynamodb.delete_item(TableName=table, Key=job_key)

    answer = _dead_letters(stack, "DeliveryDeadLetterQueue", [body])

    # Then it is consumed, and neither a job nor a delivery record appears
    assert answer["batchItemFailures"] == []
    assert "Item" not in dynamodb.get_item(TableName=table, Key=job_key)
    pair_pk = f"{message['tenant_id']}#JOB#{job_id}#S#{message['subject_id']}"
    found = dynamodb.query(
        TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": pair_pk}}
    )
    assert found["Items"] == []


def test_dead_letter_of_a_task_pair_records_its_pingback_and_postback(
    api: Api, token: str, sqs: Any, stack: LocalAws, receiver: Receiver
) -> None:
    task_id = str(uuid.uuid4())
    data = {
        "api": "serp",
        "se": "google",
        "keyword": "rashford",
        "tag": "t1",
        "pingback_url": f"{receiver.url}/ping?id=$id&tag=$tag",
        "postback_url": f"{receiver.url}/post",
    }
    reply = api.request("PUT", f"/tasks/{task_id}", json_body={"data": data, "result": []}, token=token)
    assert reply.status == 201, reply.body
    started = api.request("POST", "/resends", json_body={"task_ids": [task_id]}, token=token)
    assert started.status == 202, started.body
    job_id = started.json["id"]
    [page] = _take(sqs, stack, "FanoutQueue")
    [pair] = [m.model_dump_json() for m in PageMessage.model_validate_json(page).messages()]

    _dead_letters(stack, "DeliveryDeadLetterQueue", [pair])

    records = _records(api, token, job_id)
    assert [(r["url_index"], r["method"], r["url"], r["status"]) for r in records] == [
        (0, "GET", f"{receiver.url}/ping?id={task_id}&tag=t1", "failed"),
        (1, "POST", f"{receiver.url}/post", "failed"),
    ]
    assert _counts(_job(api, token, job_id)) == (0, 1, 0, "completed")


# -- a fan-out dead letter: a page of pairs -----------------------------------------------------------
def test_dead_letter_of_a_page_ends_every_pair_once_whoever_ends_it_first(
    api: Api, token: str, sqs: Any, stack: LocalAws, receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    # Given a native resend of 3 items × 2 webhooks whose page was dead-lettered, one of whose
    # pairs had been queued and delivered before the page failed
    items = [_item(api, token, n) for n in (1, 2, 3)]
    hooks = [_webhook(api, token, [f"{receiver.url}/{name}"])["id"] for name in ("a", "b")]
    started = api.request(
        "POST", "/resends", json_body={"event": EVENT, "item_ids": items, "webhook_ids": hooks}, token=token
    )
    assert started.status == 202, started.body
    job_id = started.json["id"]
    [page] = _take(sqs, stack, "FanoutQueue")
    pairs = PageMessage.model_validate_json(page).messages()
    assert len(pairs) == 6
    sqs.send_message(QueueUrl=stack.stack.ref("DeliveryQueue"), MessageBody=pairs[0].model_dump_json())
    deliveries()
    assert _counts(_job(api, token, job_id)) == (1, 0, 5, "running")

    # When the page comes out of the fan-out dead-letter queue, twice
    first = _dead_letters(stack, "FanoutDeadLetterQueue", [page], receives=6)
    again = _dead_letters(stack, "FanoutDeadLetterQueue", [page], receives=7)

    # Then every other pair ended failed, each counted once, and the job completed
    assert first["batchItemFailures"] == again["batchItemFailures"] == []
    assert _counts(_job(api, token, job_id)) == (1, 5, 0, "completed")
    records = _records(api, token, job_id)
    assert len(records) == 6
    delivered = [r for r in records if r["status"] == "delivered"]
    assert [(r["subject_id"], r["webhook_id"]) for r in delivered] == [
        (pairs[0].subject_id, pairs[0].webhook_id)
    ]
    assert {r["last_error"] for r in records if r["status"] == "failed"} == {"dead-lettered after 6 receives"}


# -- what cannot be read, and what AWS refuses --------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        "not json at all: tenant-data-1234",
        json.dumps({"v": 2, "tenant_id": "tn1", "note": "tenant-data-1234"}),
        json.dumps({"tenant_id": "tn1", "job_id": "j", "created_on": "x", "subject_ids": "tenant-data-1234"}),
    ],
    ids=["not-json", "unknown-version", "bad-page"],
)
def test_dead_letter_unreadable_stays_in_its_queue_and_is_logged_without_its_body(
    stack: LocalAws, sqs: Any, body: str, service_log: io.StringIO
) -> None:
    # Given a message in the delivery dead-letter queue that is neither a pair nor a page
    dlq = stack.stack.ref("DeliveryDeadLetterQueue")
    sqs.send_message(QueueUrl=dlq, MessageBody=body)

    # When the event source hands it to the dead-letter function
    handled = _pumps(stack, DEAD_LETTER)(rounds=1)

    # Then it was reported and is still in the queue (in flight until its visibility timeout),
    # and the log says so without what the body held
    assert handled == 1
    depth = sqs.get_queue_attributes(
        QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    assert (depth["ApproximateNumberOfMessages"], depth["ApproximateNumberOfMessagesNotVisible"]) == (
        "0",
        "1",
    )
    logged = service_log.getvalue()
    assert "unreadable dead letter left in its queue" in logged
    assert "tenant-data-1234" not in logged


def test_dead_letter_unreadable_beside_readable_fails_only_itself(
    api: Api, token: str, sqs: Any, stack: LocalAws, receiver: Receiver
) -> None:
    job_id, body = _one_queued_pair(api, token, sqs, stack, [f"{receiver.url}/hook"])

    answer = _dead_letters(stack, "DeliveryDeadLetterQueue", ["{}", body])

    assert _failed_ids(answer) == [answer["ids"][0]]
    assert _counts(_job(api, token, job_id)) == (0, 1, 0, "completed")


def _throttled(**kwargs: Any) -> Any:
    raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "Query")


def _unreachable(**kwargs: Any) -> Any:
    raise EndpointConnectionError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com")


@pytest.mark.parametrize(
    ("operation", "fault"),
    [("query", _throttled), ("transact_write_items", _unreachable), ("get_item", _unreachable)],
    ids=["query-throttled", "commit-unreachable", "job-read-unreachable"],
)
def test_dead_letter_aws_error_leaves_the_message_for_a_retry(
    api: Api,
    token: str,
    sqs: Any,
    stack: LocalAws,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
    operation: str,
    fault: Callable[..., Any],
) -> None:
    # Given a dead-lettered pair and DynamoDB failing one operation the function needs
    job_id, body = _one_queued_pair(api, token, sqs, stack, [f"{receiver.url}/hook"])
    client = clients.boto_client("dynamodb")
    monkeypatch.setattr(client, operation, fault)

    # When the function gets it, the message is reported, and nothing changed
    failed = _dead_letters(stack, "DeliveryDeadLetterQueue", [body])
    assert _failed_ids(failed) == failed["ids"]
    monkeypatch.undo()
    assert _counts(_job(api, token, job_id)) == (0, 0, 1, "running")

    # And its next receive, DynamoDB back, ends it
    retried = _dead_letters(stack, "DeliveryDeadLetterQueue", [body], receives=RECEIVES + 1)
    assert retried["batchItemFailures"] == []
    assert _counts(_job(api, token, job_id)) == (0, 1, 0, "completed")


def test_dead_letter_commit_refused_every_round_leaves_the_message_for_a_retry(
    api: Api, token: str, sqs: Any, stack: LocalAws, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Store.commit retries a refused transaction a few rounds, then answers what it could not write
    job_id, body = _one_queued_pair(api, token, sqs, stack, [f"{receiver.url}/hook"])

    def conflict(**kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "TransactionConflict", "Message": "busy"}}, "TransactWriteItems")

    monkeypatch.setattr(clients.boto_client("dynamodb"), "transact_write_items", conflict)

    answer = _dead_letters(stack, "DeliveryDeadLetterQueue", [body])

    assert _failed_ids(answer) == answer["ids"]
    monkeypatch.undo()
    assert _counts(_job(api, token, job_id)) == (0, 0, 1, "running")


# -- the whole trip on moto: redrive policy, event sources, both functions ----------------------------
@pytest.fixture
def local_env() -> dict[str, str]:
    return {
        "ALLOW_PRIVATE_URLS": "true",
        "RETRY_SCHEDULE": "0,0,0,0",
        "DELIVERY_TIMEOUT_SECONDS": "2",
        "DELIVERY_MAX_RECEIVE_COUNT": "2",
    }


def test_dead_letter_pair_that_sqs_dead_letters_ends_failed_and_its_job_completes(
    api: Api, token: str, stack: LocalAws, receiver: Receiver, deliveries: Callable[..., int], sqs: Any
) -> None:
    # Given a receiver that always fails, more retries scheduled than receives allowed (2)
    receiver.script("/hook", [500])
    for n in (1, 2):
        _item(api, token, n)
    hook = _webhook(api, token, [f"{receiver.url}/hook"])
    job_id = _bulk(api, token, hook["id"])

    # When the event sources work the queues until nothing is left
    deliveries()

    # Then each pair was tried twice, dead-lettered on its third receive, and ended failed
    assert len(receiver.to("/hook")) == 4
    records = _records(api, token, job_id)
    assert [(r["status"], r["attempts"], r["last_status_code"]) for r in records] == [("failed", 2, 500)] * 2
    assert {r["last_error"] for r in records} == {"dead-lettered after 3 receives"}
    assert _counts(_job(api, token, job_id)) == (0, 2, 0, "completed")
    for queue in ("DeliveryQueue", "DeliveryDeadLetterQueue"):
        depth = sqs.get_queue_attributes(
            QueueUrl=stack.stack.ref(queue),
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"]
        assert depth == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}, (
            queue
        )
