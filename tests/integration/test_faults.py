"""Fault injection: SQS and DynamoDB failing under the resend API and the delivery consumer, the
consumer dying mid-batch, and receivers misbehaving. Whatever fails, a job's counters end exactly
right (SPEC §5.4, §6) and a request that could not be done is answered clearly (SPEC §9).

Faults are injected on the very clients the handlers use (`clients.boto_client(...)`, created on
first use and cached per stack), by replacing one API method on that object. Time in moto's SQS is
moved forward by `sqs_clock` instead of being waited for, so visibility timeouts pass at once.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectTimeoutError, ReadTimeoutError

from devstack.sqs import sqs_event
from tests.conftest import Api, LocalAws, Receiver, closed_port_url
from tests.counters import assert_counters_add_up
from webhook_resend.aws import clients, dynamodb
from webhook_resend.resends import jobs

BULK = "/content_items/bulk/webhooks"
EVENT = "content_item.changed"
DELIVER = "DeliverFunction"
RETRIES = 3  # entries of RETRY_SCHEDULE below: a delivery gets 1 + 3 attempts


@pytest.fixture
def local_env() -> dict[str, str]:
    return {"ALLOW_PRIVATE_URLS": "true", "RETRY_SCHEDULE": "0,0,0", "DELIVERY_TIMEOUT_SECONDS": "1"}


@pytest.fixture
def fast_receiver(receiver: Receiver) -> Receiver:
    # A "timeout" answer only has to outlast the 1 s attempt timeout.
    receiver.hold_seconds = 1.5
    return receiver


# -- helpers ------------------------------------------------------------------------------------------
def _item_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def _items(api: Api, token: str, numbers: Sequence[int]) -> list[str]:
    ids = []
    for n in numbers:
        body = {
            "model": "Post",
            "created_on": f"2024-01-01T00:{n // 60:02d}:{n % 60:02d}Z",
            "payload": {"n": n},
        }
        reply = api.request("PUT", f"/content_items/{_item_id(n)}", json_body=body, token=token)
        assert reply.status == 201, reply.body
        ids.append(_item_id(n))
    return ids


def _webhook(api: Api, token: str, urls: list[str]) -> dict[str, Any]:
    reply = api.request("POST", "/webhooks", json_body={"urls": urls, "events": [EVENT]}, token=token)
    assert reply.status == 201, reply.body
    return dict(reply.json)


def _bulk(api: Api, token: str, item_ids: list[str], webhook_ids: list[str]) -> Any:
    params = {
        "event": EVENT,
        "id": [{"in": item_ids}],
        "webhook_id": [{"in": webhook_ids}],
        "limit": 1000,
    }
    return api.request("GET", BULK, json_body=params, token=token)


def _resend(api: Api, token: str, item_ids: list[str], webhook_ids: list[str]) -> dict[str, Any]:
    reply = _bulk(api, token, item_ids, webhook_ids)
    assert reply.status == 200, reply.body
    assert reply.json["total_queued"] == len(item_ids) * len(webhook_ids)
    return dict(reply.json)


def _job(api: Api, token: str, job_id: str) -> dict[str, Any]:
    reply = api.request("GET", f"/resends/{job_id}", token=token)
    assert reply.status == 200, reply.body
    job = dict(reply.json)
    assert_counters_add_up(job)
    return job


def _records(api: Api, token: str, job_id: str) -> list[dict[str, Any]]:
    reply = api.request("GET", f"/resends/{job_id}/deliveries?limit=1000", token=token)
    assert reply.status == 200, reply.body
    assert reply.json["next_cursor"] is None
    return list(reply.json["data"])


def _depth(sqs: Any, url: str) -> tuple[int, int]:
    """(visible, in flight) messages of the queue."""
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return int(attributes[names[0]]), int(attributes[names[1]])


def _receive(sqs: Any, url: str, count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while len(found) < count:
        batch = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get(
            "Messages", []
        )
        if not batch:
            break
        found += batch
    assert len(found) == count, found
    return found


def _invoke(stack: LocalAws, messages: Sequence[dict[str, Any]]) -> list[str]:
    """Run the deliver function on the batch; the ids it reported not done (checked as Lambda
    checks them: a missing, empty or unknown id would fail the whole batch)."""
    response = stack.invoke(DELIVER, sqs_event(messages, stack.stack.get_att("DeliveryQueue", "Arn")))
    assert isinstance(response, dict), response
    assert set(response) == {"batchItemFailures"}, response
    ids = [failure.get("itemIdentifier") for failure in response["batchItemFailures"]]
    assert all(isinstance(i, str) and i for i in ids), response
    assert set(ids) <= {m["MessageId"] for m in messages}, response
    return ids


def _job_of(message: dict[str, Any]) -> str:
    return str(json.loads(message["Body"])["job_id"])


def _n(request: Any) -> int:
    return int(json.loads(request.body)["payload"]["n"])


def _per_item(receiver: Receiver, path: str) -> Counter[int]:
    return Counter(_n(r) for r in receiver.to(path))


def _client_error(code: str, operation: str, status: int = 400) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"{code} (injected)"},
            "ResponseMetadata": {"HTTPStatusCode": status},
        },
        operation,
    )


class SendFaults:
    """`send_message_batch` of the handlers' SQS client, failing the calls `fails(entries)` picks
    (raising the exception it returns) and passing the others on; records what got through."""

    def __init__(self, fails: Callable[[list[dict[str, Any]]], Exception | None]) -> None:
        self.client = clients.boto_client("sqs")
        self._real = self.client.send_message_batch
        self._fails = fails
        self._lock = threading.Lock()
        self.calls = 0
        self.failed_calls = 0
        self.sent: list[dict[str, Any]] = []

    def __call__(self, **kwargs: Any) -> dict[str, Any]:
        with self._lock:
            self.calls += 1
        error = self._fails(kwargs["Entries"])
        if error is not None:
            with self._lock:
                self.failed_calls += 1
            raise error
        answer: dict[str, Any] = self._real(**kwargs)
        by_id = {e["Id"]: e for e in kwargs["Entries"]}
        with self._lock:
            self.sent += [json.loads(by_id[ok["Id"]]["MessageBody"]) for ok in answer.get("Successful", [])]
        return answer

    def install(self) -> SendFaults:
        self.client.send_message_batch = self
        return self


def _subjects(entries: list[dict[str, Any]]) -> set[str]:
    return {json.loads(e["MessageBody"])["subject_id"] for e in entries}


# -- (a) SQS failing under the bulk resend ---------------------------------------------------------------
SQS_ERRORS = {
    "throttled": lambda: _client_error("AWS.SimpleQueueService.RequestThrottled", "SendMessageBatch"),
    "throttling-exception": lambda: _client_error("ThrottlingException", "SendMessageBatch"),
    "connect-timeout": lambda: ConnectTimeoutError(endpoint_url="https://sqs.us-east-1.amazonaws.com/"),
    "internal-error": lambda: _client_error("InternalError", "SendMessageBatch", 500),
    "read-timeout": lambda: ReadTimeoutError(endpoint_url="https://sqs.us-east-1.amazonaws.com/"),
}
AMBIGUOUS_SQS_ERRORS = {"internal-error", "read-timeout"}


@pytest.mark.parametrize("kind", sorted(SQS_ERRORS))
def test_faults_sqs_failing_some_batches_answers_503_with_what_was_queued(
    kind: str,
    api: Api,
    token: str,
    fast_receiver: Receiver,
    sqs: Any,
    queue: str,
    deliveries: Callable[..., int],
) -> None:
    # Given 30 items x 1 webhook (3 batches of 10) and SQS failing every call for the middle batch
    item_ids = _items(api, token, range(30))
    hook = _webhook(api, token, [f"{fast_receiver.url}/hook"])
    poisoned = item_ids[15]
    faults = SendFaults(
        lambda entries: SQS_ERRORS[kind]() if poisoned in _subjects(entries) else None
    ).install()

    # When the bulk resend runs
    reply = _bulk(api, token, item_ids, [hook["id"]])

    # Then it answers 503 naming how many pairs were queued and the job that counts them
    assert reply.status == 503, reply.body
    assert reply.headers.get("retry-after")
    body = reply.json
    queued = len(faults.sent)
    assert queued == 20
    # A 5xx says nothing of what SQS took: those 10 stay counted, ended failed, never sent.
    ended = 10 if kind in AMBIGUOUS_SQS_ERRORS else 0
    assert body["total_queued"] == queued + ended
    assert f"could not queue {30 - queued} of 30 pairs" in body["errors"][0]["message"]
    assert str(queued) in body["errors"][0]["message"]
    # And the job counts exactly what is in the queue, all of it pending
    job = _job(api, token, body["resend_id"])
    assert _depth(sqs, queue) == (queued, 0)
    assert (job["total_queued"], job["pending"], job["delivered"], job["failed"]) == (
        queued + ended,
        queued,
        0,
        ended,
    )
    assert poisoned not in {m["subject_id"] for m in faults.sent}

    # And once delivered, every queued pair is counted and nothing else
    deliveries()
    job = _job(api, token, body["resend_id"])
    assert job["delivered"] + job["failed"] == job["total_queued"] == queued + ended
    assert (job["pending"], job["status"], job["failed"]) == (0, "completed", ended)
    delivered_items = {_item_id(n) for n in _per_item(fast_receiver, "/hook")}
    assert delivered_items == {m["subject_id"] for m in faults.sent}


def test_faults_sqs_taking_a_batch_without_answering_ends_its_pairs_failed_once_never_sent(
    api: Api, token: str, fast_receiver: Receiver, sqs: Any, queue: str, deliveries: Callable[..., int]
) -> None:
    # Given SQS that takes every message of a call and then loses the answer (a read timeout)
    item_ids = _items(api, token, range(4))
    hook = _webhook(api, token, [f"{fast_receiver.url}/hook"])
    client = clients.boto_client("sqs")
    real = client.send_message_batch

    def send_message_batch(**kwargs: Any) -> dict[str, Any]:
        real(**kwargs)
        raise ReadTimeoutError(endpoint_url="https://sqs.us-east-1.amazonaws.com/")

    client.send_message_batch = send_message_batch

    # When the bulk resend runs
    reply = _bulk(api, token, item_ids, [hook["id"]])

    # Then the pairs, maybe queued, stay counted and end failed, saying why
    assert reply.status == 503, reply.body
    assert reply.json["total_queued"] == 4
    job_id = reply.json["resend_id"]
    job = _job(api, token, job_id)
    assert (job["total_queued"], job["failed"], job["pending"], job["status"]) == (4, 4, 0, "completed")
    records = _records(api, token, job_id)
    assert len(records) == 4
    assert all(r["status"] == "failed" and "SQS did not answer" in r["last_error"] for r in records)
    # And the copies that did reach the queue (three calls' worth) are never sent nor counted again
    assert _depth(sqs, queue)[0] == 4 * 3
    deliveries()
    job = _job(api, token, job_id)
    assert (job["delivered"], job["failed"], job["pending"]) == (0, 4, 0)
    assert fast_receiver.requests == []


def test_faults_sqs_failing_batches_of_several_webhooks_counts_exactly_the_queued_pairs(
    api: Api, token: str, fast_receiver: Receiver, sqs: Any, queue: str, deliveries: Callable[..., int]
) -> None:
    # Given 25 items x 2 webhooks (5 batches) and two of the batches throttled or timing out
    item_ids = _items(api, token, range(25))
    hooks = [_webhook(api, token, [f"{fast_receiver.url}/{name}"]) for name in ("a", "b")]
    errors = {item_ids[3]: SQS_ERRORS["throttled"], item_ids[22]: SQS_ERRORS["connect-timeout"]}

    def fails(entries: list[dict[str, Any]]) -> Exception | None:
        hit = sorted(_subjects(entries) & set(errors))
        return errors[hit[0]]() if hit else None

    faults = SendFaults(fails).install()

    reply = _bulk(api, token, item_ids, [h["id"] for h in hooks])

    assert reply.status == 503, reply.body
    queued = len(faults.sent)
    assert 0 < queued < 50
    assert reply.json["total_queued"] == queued
    assert _depth(sqs, queue) == (queued, 0)
    job = _job(api, token, reply.json["resend_id"])
    assert (job["total_queued"], job["pending"]) == (queued, queued)
    deliveries()
    job = _job(api, token, reply.json["resend_id"])
    assert (job["delivered"], job["failed"], job["pending"]) == (queued, 0, 0)
    assert len(fast_receiver.requests) == queued


def test_faults_sqs_throttling_once_per_batch_is_absorbed_by_retries(
    api: Api, token: str, fast_receiver: Receiver, sqs: Any, queue: str
) -> None:
    # Given SQS throttling the first call of every batch
    item_ids = _items(api, token, range(30))
    hook = _webhook(api, token, [f"{fast_receiver.url}/hook"])
    seen: set[frozenset[str]] = set()
    lock = threading.Lock()

    def first_call_of_each_batch(entries: list[dict[str, Any]]) -> Exception | None:
        key = frozenset(_subjects(entries))
        with lock:
            if key in seen:
                return None
            seen.add(key)
        return SQS_ERRORS["throttled"]()

    faults = SendFaults(first_call_of_each_batch).install()

    reply = _bulk(api, token, item_ids, [hook["id"]])

    assert reply.status == 200, reply.body
    assert reply.json["total_queued"] == 30
    assert faults.failed_calls == 3
    assert _depth(sqs, queue) == (30, 0)
    job = _job(api, token, reply.json["resend_id"])
    assert (job["total_queued"], job["pending"]) == (30, 30)


def test_faults_sqs_refusing_entries_is_retried_then_reported(
    api: Api, token: str, fast_receiver: Receiver, sqs: Any, queue: str
) -> None:
    # Given SQS answering some entries as Failed (a server-side fault) on every call
    item_ids = _items(api, token, range(12))
    hook = _webhook(api, token, [f"{fast_receiver.url}/hook"])
    refused = {item_ids[0], item_ids[11]}
    client = clients.boto_client("sqs")
    real = client.send_message_batch

    def send_message_batch(*, QueueUrl: str, Entries: list[dict[str, Any]]) -> dict[str, Any]:
        keep = [e for e in Entries if json.loads(e["MessageBody"])["subject_id"] not in refused]
        answer = real(QueueUrl=QueueUrl, Entries=keep) if keep else {"Successful": []}
        failed = [
            {"Id": e["Id"], "SenderFault": False, "Code": "InternalError"} for e in Entries if e not in keep
        ]
        return {"Successful": answer.get("Successful", []), "Failed": failed}

    client.send_message_batch = send_message_batch

    reply = _bulk(api, token, item_ids, [hook["id"]])

    assert reply.status == 503, reply.body
    assert reply.json["total_queued"] == 10
    assert _depth(sqs, queue) == (10, 0)
    job = _job(api, token, reply.json["resend_id"])
    assert (job["total_queued"], job["pending"]) == (10, 10)


def test_faults_sqs_failing_entirely_answers_503_and_the_job_counts_nothing(
    api: Api, token: str, fast_receiver: Receiver, sqs: Any, queue: str
) -> None:
    item_ids = _items(api, token, range(12))
    hook = _webhook(api, token, [f"{fast_receiver.url}/hook"])
    faults = SendFaults(lambda entries: SQS_ERRORS["connect-timeout"]()).install()

    reply = _bulk(api, token, item_ids, [hook["id"]])

    assert reply.status == 503, reply.body
    assert reply.json["total_queued"] == 0
    assert "could not queue 12 of 12 pairs" in reply.json["errors"][0]["message"]
    assert faults.sent == []
    assert _depth(sqs, queue) == (0, 0)
    job = _job(api, token, reply.json["resend_id"])
    assert (job["total_queued"], job["pending"], job["delivered"], job["failed"]) == (0, 0, 0, 0)
    # Nothing could be queued: rejected, saying why (SPEC §11), and listed so
    assert (job["status"], job["reason"]) == ("rejected", jobs.REFUSED)
    listed = api.request("GET", "/resends?status=rejected", token=token)
    assert [j["id"] for j in listed.json["data"]] == [job["id"]]
    assert api.request("GET", "/resends?status=completed", token=token).json["data"] == []


def test_faults_sqs_failing_under_the_dataforseo_route_reports_it(
    api: Api, tenant: dict[str, Any], fast_receiver: Receiver, sqs: Any, queue: str
) -> None:
    # Given a task with a pingback and SQS down
    task_id = "11111111-1111-4111-8111-111111111111"
    task = {"data": {"api": "serp", "pingback_url": f"{fast_receiver.url}/ping?id=$id"}, "result": {"ok": 1}}
    put = api.request("PUT", f"/tasks/{task_id}", json_body=task, token=tenant["token"])
    assert put.status in (200, 201), put.body
    SendFaults(lambda entries: SQS_ERRORS["connect-timeout"]()).install()

    reply = api.request(
        "POST",
        "/v3/appendix/webhook_resend",
        json_body=[{"id": task_id}],
        basic=(tenant["login"], tenant["password"]),
    )

    # Then the task is answered with DataForSEO's internal error, and the job counts nothing
    assert _depth(sqs, queue) == (0, 0)
    assert reply.status == 200, reply.body
    answer = reply.json
    assert (answer["status_code"], answer["tasks_count"], answer["tasks_error"]) == (20000, 1, 1)
    [entry] = answer["tasks"]
    assert (entry["id"], entry["status_code"]) == (task_id, 50000)
    job = _job(api, tenant["token"], answer["resend_id"])
    assert (job["total_queued"], job["pending"]) == (0, 0)


# -- (b) DynamoDB throttling the consumer's transactions ----------------------------------------------------
def _touches_job(items: list[dict[str, Any]], job_id: str) -> bool:
    for operation in items:
        for kind in operation.values():
            key = kind.get("Item") or kind.get("Key") or {}
            if f"#JOB#{job_id}" in key.get("pk", {}).get("S", ""):
                return True
    return False


class TransactFaults:
    """`transact_write_items` of the handlers' DynamoDB client, raising `error()` for every
    transaction that touches `job_id` while `on`."""

    def __init__(self, job_id: str, error: Callable[[Any], Exception], *, times: int | None = None) -> None:
        self.client = clients.boto_client("dynamodb", validate=False)  # clients.delivery_store()'s
        self._real = self.client.transact_write_items
        self._job_id = job_id
        self._error = error
        self._times = times
        self.on = True
        self.raised = 0

    def __call__(self, **kwargs: Any) -> Any:
        budget_left = self._times is None or self.raised < self._times
        if self.on and budget_left and _touches_job(kwargs["TransactItems"], self._job_id):
            self.raised += 1
            raise self._error(self.client)
        return self._real(**kwargs)

    def install(self) -> TransactFaults:
        self.client.transact_write_items = self
        return self


DYNAMO_THROTTLES = {
    "read-timeout": lambda client: ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com/"),
    "provisioned-throughput": lambda client: client.exceptions.ProvisionedThroughputExceededException(
        {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
        "TransactWriteItems",
    ),
    "throttling": lambda client: _client_error("ThrottlingException", "TransactWriteItems"),
    "cancelled-by-throttling": lambda client: client.exceptions.TransactionCanceledException(
        {
            "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
            "CancellationReasons": [{"Code": "ThrottlingError", "Message": "Throughput exceeds the limit"}],
        },
        "TransactWriteItems",
    ),
}


class ReadFaults:
    """`batch_get_item` of the consumer's DynamoDB client: raises `error()`, or answers every key
    unprocessed (throttling), for the next `times` calls."""

    def __init__(self, error: Callable[[], Exception] | None, times: int) -> None:
        self.client = clients.boto_client("dynamodb", validate=False)
        self._real = self.client.batch_get_item
        self._error = error
        self.times = times
        self.calls = 0

    def __call__(self, **kwargs: Any) -> Any:
        self.calls += 1
        if self.times <= 0:
            return self._real(**kwargs)
        self.times -= 1
        if self._error is not None:
            raise self._error()
        return {"Responses": {}, "UnprocessedKeys": kwargs["RequestItems"]}

    def install(self) -> ReadFaults:
        self.client.batch_get_item = self
        return self


READ_FAULTS = {
    "throttled": lambda: _client_error("ProvisionedThroughputExceededException", "BatchGetItem"),
    "read-timeout": lambda: ReadTimeoutError(endpoint_url="https://dynamodb.us-east-1.amazonaws.com/"),
    "unprocessed-keys": None,
}


@pytest.mark.parametrize("kind", sorted(READ_FAULTS))
def test_faults_dynamodb_failing_the_batch_read_reports_every_message_and_sends_nothing(
    kind: str, api: Api, token: str, fast_receiver: Receiver, stack: LocalAws, two_jobs: dict[str, Any]
) -> None:
    # Given DynamoDB failing every read of the consumer (or keeping every key unprocessed)
    faults = ReadFaults(READ_FAULTS[kind], times=100).install()

    # When a batch arrives: no exception, every message reported back, nothing sent
    failed = _invoke(stack, two_jobs["messages"])

    assert sorted(failed) == sorted(m["MessageId"] for m in two_jobs["messages"])
    assert fast_receiver.requests == []
    assert faults.calls >= 1

    # And once DynamoDB answers again, the same messages end every pair once
    faults.times = 0
    assert _invoke(stack, two_jobs["messages"]) == []
    for name in ("a", "b"):
        job = _job(api, token, two_jobs[name])
        assert (job["total_queued"], job["delivered"], job["pending"]) == (3, 3, 0)
    assert len(fast_receiver.requests) == 6


def test_faults_dynamodb_unprocessed_keys_for_a_while_are_read_again_after_a_pause(
    api: Api, token: str, fast_receiver: Receiver, stack: LocalAws, two_jobs: dict[str, Any]
) -> None:
    faults = ReadFaults(None, times=2).install()

    assert _invoke(stack, two_jobs["messages"]) == []

    assert faults.calls >= 3
    assert len(fast_receiver.requests) == 6


def test_faults_sqs_failing_the_visibility_change_leaves_the_batch_recorded(
    api: Api, token: str, fast_receiver: Receiver, stack: LocalAws, two_jobs: dict[str, Any]
) -> None:
    # Given receivers that answer 503 (retry later) and SQS failing every visibility change
    fast_receiver.script("/a", [503])
    fast_receiver.script("/b", [503])
    client = clients.boto_client("sqs")

    def change_message_visibility_batch(**kwargs: Any) -> Any:
        raise ReadTimeoutError(endpoint_url="https://sqs.us-east-1.amazonaws.com/")

    client.change_message_visibility_batch = change_message_visibility_batch

    # When a batch is worked: the retries are recorded and reported, no exception
    failed = _invoke(stack, two_jobs["messages"])

    assert sorted(failed) == sorted(m["MessageId"] for m in two_jobs["messages"])
    records = _records(api, token, two_jobs["a"])
    assert [r["status"] for r in records] == ["retrying"] * 3


@pytest.fixture
def two_jobs(api: Api, token: str, fast_receiver: Receiver, sqs: Any, queue: str) -> dict[str, Any]:
    """Two jobs of three pairs each (`a` to /a, `b` to /b), their six messages received."""
    hook_a = _webhook(api, token, [f"{fast_receiver.url}/a"])
    hook_b = _webhook(api, token, [f"{fast_receiver.url}/b"])
    job_a = _resend(api, token, _items(api, token, [0, 1, 2]), [hook_a["id"]])["resend_id"]
    job_b = _resend(api, token, _items(api, token, [3, 4, 5]), [hook_b["id"]])["resend_id"]
    messages = _receive(sqs, queue, 6)
    return {
        "a": job_a,
        "b": job_b,
        "messages": messages,
        "a_ids": sorted(m["MessageId"] for m in messages if _job_of(m) == job_a),
    }


@pytest.mark.parametrize("kind", sorted(DYNAMO_THROTTLES))
def test_faults_dynamodb_throttled_commit_reports_exactly_the_affected_messages(
    kind: str, api: Api, token: str, fast_receiver: Receiver, stack: LocalAws, two_jobs: dict[str, Any]
) -> None:
    # Given DynamoDB throttling every transaction of job a
    faults = TransactFaults(two_jobs["a"], DYNAMO_THROTTLES[kind]).install()

    # When one batch holds the messages of both jobs
    failed = _invoke(stack, two_jobs["messages"])

    # Then exactly job a's messages are reported, and only job b moved
    assert sorted(failed) == two_jobs["a_ids"]
    assert faults.raised > 0
    job_a, job_b = _job(api, token, two_jobs["a"]), _job(api, token, two_jobs["b"])
    assert (job_a["delivered"], job_a["failed"], job_a["pending"]) == (0, 0, 3)
    assert (job_b["delivered"], job_b["failed"], job_b["pending"]) == (3, 0, 0)


@pytest.mark.parametrize("kind", sorted(DYNAMO_THROTTLES))
def test_faults_dynamodb_throttling_that_stops_leaves_counters_exact(
    kind: str, api: Api, token: str, fast_receiver: Receiver, stack: LocalAws, two_jobs: dict[str, Any]
) -> None:
    # Given a batch whose job-a writes were throttled
    faults = TransactFaults(two_jobs["a"], DYNAMO_THROTTLES[kind]).install()
    failed = set(_invoke(stack, two_jobs["messages"]))

    # When the throttling stops and SQS hands back the reported messages
    faults.on = False
    again = [m for m in two_jobs["messages"] if m["MessageId"] in failed]
    assert _invoke(stack, again) == []

    # Then both jobs end exactly right, and no URL got more than two requests
    for name in ("a", "b"):
        job = _job(api, token, two_jobs[name])
        assert (job["total_queued"], job["delivered"], job["failed"], job["pending"]) == (3, 3, 0, 0)
        assert job["status"] == "completed"
    assert _per_item(fast_receiver, "/a") == Counter({0: 2, 1: 2, 2: 2})
    assert _per_item(fast_receiver, "/b") == Counter({3: 1, 4: 1, 5: 1})
    # (The first attempts' records went with the throttled write: only the replay's is kept.)
    for record in _records(api, token, two_jobs["a"]):
        assert record["status"] == "delivered", record


def test_faults_dynamodb_throttling_briefly_is_absorbed_by_the_commit(
    api: Api, token: str, fast_receiver: Receiver, stack: LocalAws, two_jobs: dict[str, Any]
) -> None:
    faults = TransactFaults(two_jobs["a"], DYNAMO_THROTTLES["provisioned-throughput"], times=2).install()

    assert _invoke(stack, two_jobs["messages"]) == []

    assert faults.raised == 2
    job = _job(api, token, two_jobs["a"])
    assert (job["delivered"], job["pending"]) == (3, 0)
    assert _per_item(fast_receiver, "/a") == Counter({0: 1, 1: 1, 2: 1})


def test_faults_dynamodb_throttling_under_the_event_source_ends_exactly_right(
    api: Api,
    token: str,
    fast_receiver: Receiver,
    sqs: Any,
    queue: str,
    deliveries: Callable[..., int],
    sqs_clock: Callable[[float], None],
) -> None:
    # Given a job of five pairs and DynamoDB throttling its writes
    hook = _webhook(api, token, [f"{fast_receiver.url}/hook"])
    job_id = _resend(api, token, _items(api, token, range(5)), [hook["id"]])["resend_id"]
    faults = TransactFaults(job_id, DYNAMO_THROTTLES["provisioned-throughput"]).install()

    # When the event source works the queue: the messages come back, not deleted
    deliveries(rounds=1)
    assert _depth(sqs, queue) == (0, 5)
    assert _job(api, token, job_id)["pending"] == 5

    # And the throttling stops and their visibility passes
    faults.on = False
    sqs_clock(60)
    deliveries()

    # Then every pair is counted once, each URL requested at most twice
    job = _job(api, token, job_id)
    assert (job["total_queued"], job["delivered"], job["failed"], job["pending"]) == (5, 5, 0, 0)
    assert _depth(sqs, queue) == (0, 0)
    assert set(_per_item(fast_receiver, "/hook").values()) <= {1, 2}
    assert set(_per_item(fast_receiver, "/hook")) == set(range(5))


# -- (c) DynamoDB throttling the resend API's job write ------------------------------------------------------
def _throttle_job_puts() -> list[dict[str, Any]]:
    # A job is written alone, or in one transaction with its outbox (resends/outbox.py).
    client = clients.boto_client("dynamodb")
    real_put, real_transaction = client.put_item, client.transact_write_items
    refused: list[dict[str, Any]] = []

    def throttled(operation: str, kwargs: dict[str, Any]) -> Exception:
        refused.append(kwargs)
        return client.exceptions.ProvisionedThroughputExceededException(
            {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}}, operation
        )

    def put_item(**kwargs: Any) -> Any:
        if kwargs["Item"].get("sk", {}).get("S") == "JOB":
            raise throttled("PutItem", kwargs)
        return real_put(**kwargs)

    def transact_write_items(**kwargs: Any) -> Any:
        puts = [a["Put"]["Item"] for a in kwargs["TransactItems"] if "Put" in a]
        if any(item.get("sk", {}).get("S") == "JOB" for item in puts):
            raise throttled("TransactWriteItems", kwargs)
        return real_transaction(**kwargs)

    client.put_item = put_item
    client.transact_write_items = transact_write_items
    return refused


def test_faults_dynamodb_throttling_the_job_write_answers_a_clear_error_and_queues_nothing(
    api: Api, token: str, fast_receiver: Receiver, sqs: Any, queue: str
) -> None:
    # Given DynamoDB throttling the resend job's write
    item_ids = _items(api, token, range(3))
    hook = _webhook(api, token, [f"{fast_receiver.url}/hook"])
    refused = _throttle_job_puts()

    # When a bulk resend is asked for
    reply = _bulk(api, token, item_ids, [hook["id"]])

    # Then nothing was queued, and the answer says the service is busy, as JSON with a retry hint
    assert refused
    assert _depth(sqs, queue) == (0, 0)
    assert reply.status == 503, (reply.status, reply.body)
    assert reply.headers.get("retry-after")
    assert reply.json["errors"], reply.json
    assert "Traceback" not in reply.body.decode()


def test_faults_dynamodb_throttling_the_job_write_of_a_dataforseo_resend_queues_nothing(
    api: Api, tenant: dict[str, Any], fast_receiver: Receiver, sqs: Any, queue: str
) -> None:
    task_id = "11111111-1111-4111-8111-111111111112"
    task = {"data": {"api": "serp", "pingback_url": f"{fast_receiver.url}/ping"}, "result": {}}
    put = api.request("PUT", f"/tasks/{task_id}", json_body=task, token=tenant["token"])
    assert put.status in (200, 201), put.body
    _throttle_job_puts()

    reply = api.request(
        "POST",
        "/v3/appendix/webhook_resend",
        json_body=[{"id": task_id}],
        basic=(tenant["login"], tenant["password"]),
    )

    # Then nothing is queued, and the DataForSEO client gets its envelope (never API Gateway's
    # bare 500), with no task reported created
    assert _depth(sqs, queue) == (0, 0)
    assert reply.status in (200, 503), (reply.status, reply.body)
    answer = reply.json
    assert "status_code" in answer, answer
    assert not [t for t in answer.get("tasks") or [] if t.get("status_code") == 20100], answer


# -- (d) duplicates --------------------------------------------------------------------------------------
def test_faults_pair_published_twice_and_received_in_one_batch_is_sent_and_counted_once(
    api: Api, token: str, fast_receiver: Receiver, stack: LocalAws, sqs: Any, queue: str
) -> None:
    # Given one pair whose message SQS holds twice (a publisher retry after a lost answer)
    hook = _webhook(api, token, [f"{fast_receiver.url}/hook"])
    job_id = _resend(api, token, _items(api, token, [0]), [hook["id"]])["resend_id"]
    [original] = _receive(sqs, queue, 1)
    copy = sqs.send_message(QueueUrl=queue, MessageBody=original["Body"])
    [duplicate] = _receive(sqs, queue, 1)
    assert duplicate["MessageId"] == copy["MessageId"] != original["MessageId"]

    # When both copies arrive in one batch
    assert _invoke(stack, [original, duplicate]) == []

    # Then one request went out and the pair counts once
    assert len(fast_receiver.to("/hook")) == 1
    job = _job(api, token, job_id)
    assert (job["delivered"], job["failed"], job["pending"]) == (1, 0, 0)


def test_faults_same_message_twice_in_one_batch_is_sent_and_counted_once(
    api: Api, token: str, fast_receiver: Receiver, stack: LocalAws, sqs: Any, queue: str
) -> None:
    hook = _webhook(api, token, [f"{fast_receiver.url}/hook"])
    job_id = _resend(api, token, _items(api, token, [0, 1]), [hook["id"]])["resend_id"]
    messages = _receive(sqs, queue, 2)

    assert _invoke(stack, [messages[0], messages[1], messages[0]]) == []

    assert _per_item(fast_receiver, "/hook") == Counter({0: 1, 1: 1})
    job = _job(api, token, job_id)
    assert (job["delivered"], job["pending"]) == (2, 0)


def test_faults_pair_delivered_again_in_a_later_batch_is_neither_sent_nor_counted_again(
    api: Api, token: str, fast_receiver: Receiver, stack: LocalAws, sqs: Any, queue: str
) -> None:
    hook = _webhook(api, token, [f"{fast_receiver.url}/hook"])
    job_id = _resend(api, token, _items(api, token, [0, 1]), [hook["id"]])["resend_id"]
    messages = _receive(sqs, queue, 2)
    assert _invoke(stack, messages) == []

    # SQS delivering a message again, and a second copy published under another id
    sqs.send_message(QueueUrl=queue, MessageBody=messages[1]["Body"])
    [copy] = _receive(sqs, queue, 1)
    assert _invoke(stack, [messages[0]]) == []
    assert _invoke(stack, [copy, messages[1]]) == []

    assert _per_item(fast_receiver, "/hook") == Counter({0: 1, 1: 1})
    job = _job(api, token, job_id)
    assert (job["total_queued"], job["delivered"], job["failed"], job["pending"]) == (2, 2, 0, 0)


def test_faults_failed_pair_delivered_again_is_not_counted_again(
    api: Api, token: str, fast_receiver: Receiver, stack: LocalAws, sqs: Any, queue: str
) -> None:
    fast_receiver.script("/hook", [400])
    hook = _webhook(api, token, [f"{fast_receiver.url}/hook"])
    job_id = _resend(api, token, _items(api, token, [0]), [hook["id"]])["resend_id"]
    [message] = _receive(sqs, queue, 1)

    assert _invoke(stack, [message]) == []
    assert _invoke(stack, [message, message]) == []

    assert len(fast_receiver.to("/hook")) == 1
    job = _job(api, token, job_id)
    assert (job["delivered"], job["failed"], job["pending"]) == (0, 1, 0)


# -- (e) the consumer dying mid-batch -------------------------------------------------------------------
def test_faults_consumer_dying_after_its_attempts_counts_each_pair_once_when_messages_come_back(
    api: Api,
    token: str,
    fast_receiver: Receiver,
    sqs: Any,
    queue: str,
    deliveries: Callable[..., int],
    sqs_clock: Callable[[float], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a consumer that dies once, after its HTTP attempts and before its writes
    hook = _webhook(api, token, [f"{fast_receiver.url}/hook"])
    job_id = _resend(api, token, _items(api, token, range(4)), [hook["id"]])["resend_id"]
    real_commit = dynamodb.Store.commit
    deaths = {"left": 1}

    def dies_once(self: dynamodb.Store, *args: Any, **kwargs: Any) -> Any:
        if deaths["left"]:
            deaths["left"] -= 1
            raise RuntimeError("Lambda was killed")
        return real_commit(self, *args, **kwargs)

    monkeypatch.setattr(dynamodb.Store, "commit", dies_once)

    # When the event source works the queue: the batch fails as a whole, nothing is deleted
    assert deliveries(rounds=1) == 4
    assert deaths["left"] == 0
    assert _depth(sqs, queue) == (0, 4)
    assert len(fast_receiver.to("/hook")) == 4
    assert _job(api, token, job_id)["pending"] == 4

    # And the queue's visibility timeout passes: the messages come back and are worked again
    visibility = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["VisibilityTimeout"])
    sqs_clock(int(visibility["Attributes"]["VisibilityTimeout"]) + 1)
    deliveries()

    # Then each pair is counted once, its URL requested twice at most
    job = _job(api, token, job_id)
    assert (job["total_queued"], job["delivered"], job["failed"], job["pending"]) == (4, 4, 0, 0)
    assert _per_item(fast_receiver, "/hook") == Counter({0: 2, 1: 2, 2: 2, 3: 2})
    assert _depth(sqs, queue) == (0, 0)


def test_faults_consumer_dying_after_a_partial_write_counts_the_rest_once(
    api: Api,
    token: str,
    fast_receiver: Receiver,
    sqs: Any,
    queue: str,
    deliveries: Callable[..., int],
    sqs_clock: Callable[[float], None],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a consumer that writes the outcomes of one job and dies before writing the other's
    hooks = [_webhook(api, token, [f"{fast_receiver.url}/{name}"]) for name in ("a", "b")]
    job_a = _resend(api, token, _items(api, token, [0, 1]), [hooks[0]["id"]])["resend_id"]
    job_b = _resend(api, token, _items(api, token, [2, 3]), [hooks[1]["id"]])["resend_id"]
    real_commit = dynamodb.Store.commit
    deaths = {"left": 1}

    def dies_midway(self: dynamodb.Store, outcomes: Sequence[Any], *args: Any) -> Any:
        if deaths["left"]:
            deaths["left"] -= 1
            assert real_commit(self, [o for o in outcomes if o.job_id == job_a], *args) == []
            raise RuntimeError("Lambda was killed")
        return real_commit(self, outcomes, *args)

    monkeypatch.setattr(dynamodb.Store, "commit", dies_midway)

    deliveries(rounds=1)
    assert _job(api, token, job_a)["delivered"] == 2
    assert _job(api, token, job_b)["pending"] == 2
    sqs_clock(400)
    deliveries()

    for job_id in (job_a, job_b):
        job = _job(api, token, job_id)
        assert (job["total_queued"], job["delivered"], job["failed"], job["pending"]) == (2, 2, 0, 0)
    assert _per_item(fast_receiver, "/a") == Counter({0: 1, 1: 1})
    assert _per_item(fast_receiver, "/b") == Counter({2: 2, 3: 2})


# -- (f) receivers misbehaving -----------------------------------------------------------------------
RECEIVER_CASES = {
    # script: (status, attempts, last status code, words the last error holds)
    "500-then-200": ([500, 200], "delivered", 2, 200, None),
    "500-forever": ([500], "failed", 1 + RETRIES, 500, "gave up after 4 attempts"),
    "503-then-200": ([503, 200], "delivered", 2, 200, None),
    "408-then-200": ([408, 200], "delivered", 2, 200, None),
    "410": ([410], "failed", 1, 410, "deactivated"),
    "400": ([400], "failed", 1, 400, "HTTP 400"),
    "404": ([404], "failed", 1, 404, "HTTP 404"),
    "302": ([(302, {"Location": "http://127.0.0.1:9/elsewhere"})], "failed", 1, 302, "redirect"),
    "timeout-then-200": (["timeout", 200], "delivered", 2, 200, None),
    "timeout-forever": (["timeout"], "failed", 1 + RETRIES, None, "timed out"),
    "reset-then-200": (["reset", 200], "delivered", 2, 200, None),
    "reset-forever": (["reset"], "failed", 1 + RETRIES, None, "gave up"),
}


@pytest.mark.parametrize("case", sorted(RECEIVER_CASES))
def test_faults_receiver_answer_ends_the_delivery_as_the_spec_says(
    case: str, api: Api, token: str, fast_receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    script, status, attempts, code, error = RECEIVER_CASES[case]
    fast_receiver.script("/hook", list(script))
    hook = _webhook(api, token, [f"{fast_receiver.url}/hook"])
    job_id = _resend(api, token, _items(api, token, [0]), [hook["id"]])["resend_id"]

    deliveries()

    [record] = _records(api, token, job_id)
    assert (record["status"], record["attempts"], record["last_status_code"]) == (status, attempts, code), (
        record
    )
    assert len(fast_receiver.to("/hook")) == attempts
    if error is None:
        assert record["delivered_on"]
    else:
        assert error in (record["last_error"] or ""), record
    job = _job(api, token, job_id)
    expected = (1, 0, 0) if status == "delivered" else (0, 1, 0)
    assert (job["delivered"], job["failed"], job["pending"]) == expected
    assert job["status"] == "completed"


def test_faults_receiver_answering_410_deactivates_the_webhook(
    api: Api, token: str, fast_receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    fast_receiver.script("/hook", [410])
    hook = _webhook(api, token, [f"{fast_receiver.url}/hook"])
    _resend(api, token, _items(api, token, [0, 1]), [hook["id"]])

    deliveries()

    webhook = api.request("GET", f"/webhooks/{hook['id']}", token=token)
    assert webhook.json["active"] is False
    # A pair still queued for a deactivated webhook is failed, not sent.
    assert len(fast_receiver.to("/hook")) <= 2


def test_faults_receiver_refusing_connections_fails_after_the_schedule(
    api: Api, token: str, fast_receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    hook = _webhook(api, token, [closed_port_url("/gone")])
    job_id = _resend(api, token, _items(api, token, [0]), [hook["id"]])["resend_id"]

    deliveries()

    [record] = _records(api, token, job_id)
    assert (record["status"], record["attempts"]) == ("failed", 1 + RETRIES), record
    assert "connection" in record["last_error"].lower()
    assert _job(api, token, job_id)["failed"] == 1


def test_faults_receiver_answering_429_is_retried_after_its_retry_after(
    api: Api,
    token: str,
    fast_receiver: Receiver,
    sqs: Any,
    queue: str,
    deliveries: Callable[..., int],
    sqs_clock: Callable[[float], None],
) -> None:
    # Given a receiver asking for 10 minutes of quiet, and a zero retry schedule
    fast_receiver.script("/hook", [(429, {"Retry-After": "600"}), 200])
    hook = _webhook(api, token, [f"{fast_receiver.url}/hook"])
    job_id = _resend(api, token, _items(api, token, [0]), [hook["id"]])["resend_id"]

    # When the queue is worked: the message is held back, not retried at once
    deliveries()
    assert len(fast_receiver.to("/hook")) == 1
    assert _depth(sqs, queue) == (0, 1)
    [record] = _records(api, token, job_id)
    assert (record["status"], record["attempts"], record["last_status_code"]) == ("retrying", 1, 429)
    assert _job(api, token, job_id)["pending"] == 1

    # And nearly ten minutes later it is still held back
    sqs_clock(590)
    deliveries(rounds=1)
    assert len(fast_receiver.to("/hook")) == 1

    # Then after ten minutes it is delivered
    sqs_clock(11)
    deliveries()
    [record] = _records(api, token, job_id)
    assert (record["status"], record["attempts"]) == ("delivered", 2)
    job = _job(api, token, job_id)
    assert (job["delivered"], job["failed"], job["pending"], job["status"]) == (1, 0, 0, "completed")


def test_faults_mixed_receivers_counters_add_up_at_every_step(
    api: Api,
    token: str,
    fast_receiver: Receiver,
    sqs: Any,
    queue: str,
    deliveries: Callable[..., int],
    sqs_clock: Callable[[float], None],
) -> None:
    # Given one item sent to seven webhooks, each receiver misbehaving its own way
    scripts: dict[str, list[Any]] = {
        "/ok": [200],
        "/flaky": [500, 503, 200],
        "/down": [500],
        "/gone": [410],
        "/slow": ["timeout", 200],
        "/reset": ["reset", 200],
        "/busy": [(429, {"Retry-After": "120"}), 200],
    }
    hooks = {}
    for path, script in scripts.items():
        fast_receiver.script(path, list(script))
        hooks[path] = _webhook(api, token, [f"{fast_receiver.url}{path}"])
    job_id = _resend(api, token, _items(api, token, [0]), [h["id"] for h in hooks.values()])["resend_id"]

    # When the queue is worked until only the 429 is waiting
    deliveries()
    job = _job(api, token, job_id)
    assert (job["total_queued"], job["delivered"], job["failed"], job["pending"]) == (7, 4, 2, 1)
    assert job["status"] == "running"

    # And its Retry-After passes
    sqs_clock(121)
    deliveries()

    # Then every pair ended as SPEC §6 says and the counters add up
    job = _job(api, token, job_id)
    assert (job["total_queued"], job["delivered"], job["failed"], job["pending"]) == (7, 5, 2, 0)
    assert job["status"] == "completed"
    assert job["completed_on"]
    by_path = {
        record["url"].removeprefix(fast_receiver.url): record for record in _records(api, token, job_id)
    }
    assert {path: r["status"] for path, r in by_path.items()} == {
        "/ok": "delivered",
        "/flaky": "delivered",
        "/down": "failed",
        "/gone": "failed",
        "/slow": "delivered",
        "/reset": "delivered",
        "/busy": "delivered",
    }
    assert {path: len(fast_receiver.to(path)) for path in scripts} == {
        "/ok": 1,
        "/flaky": 3,
        "/down": 1 + RETRIES,
        "/gone": 1,
        "/slow": 2,
        "/reset": 2,
        "/busy": 2,
    }
    assert _depth(sqs, queue) == (0, 0)
