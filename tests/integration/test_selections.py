"""Asynchronous selection (SPEC §10, §11; resends/selections.py), in-process on moto: a resend by
filter or by outcome answers `202` with its job `selecting` and queues no pair; the fan-out
function's steps count, then select and queue, page by page, and the job ends `running` (then
`completed`) with exact counts, or `rejected` over the cap. A step delivered twice, a step copied
by a redelivered predecessor, a crash between the claim and the publish or between the publish
and the next step, SQS refusing or not answering: the counts stay exact. A step that SQS
dead-letters ends the selection. And the job list, `GET /resends`.

Steps are run one message at a time through the deployed handler (`Steps`), so a test can deliver
the same SQS message twice or run a step while a client of the handlers fails on purpose (the
real boto3 client wrapped; never the code under test).
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ReadTimeoutError

from devstack.sqs import sqs_event
from tests.conftest import Api, LocalAws, Receiver, Reply
from tests.counters import assert_counters_add_up
from webhook_resend.aws import clients
from webhook_resend.models.bodies import ResendIn
from webhook_resend.resends import native, selections
from webhook_resend.resends.jobs import DuplicateJobError

EVENT = "content_item.changed"
PUBLISHED = "content_item.published"
FANOUT = "FanoutFunction"


# -- helpers ------------------------------------------------------------------------------------------
def _item_id(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


def _put_item(api: Api, token: str, n: int, **fields: Any) -> str:
    body = {
        "model": "Post",
        "created_on": f"2024-01-01T00:{n // 60:02d}:{n % 60:02d}Z",
        "payload": {"n": n},
        **fields,
    }
    reply = api.request("PUT", f"/content_items/{_item_id(n)}", json_body=body, token=token)
    assert reply.status == 201, reply.body
    return _item_id(n)


def _webhook(api: Api, token: str, urls: list[str], events: list[str] | None = None) -> dict[str, Any]:
    reply = api.request(
        "POST", "/webhooks", json_body={"urls": urls, "events": events or [EVENT]}, token=token
    )
    assert reply.status == 201, reply.body
    return reply.json


def _resend(api: Api, token: str, body: dict[str, Any]) -> Reply:
    return api.request("POST", "/resends", json_body=body, token=token)


def _started(api: Api, token: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = _resend(api, token, body)
    assert reply.status == 202, reply.body
    assert_counters_add_up(reply.json)
    return reply.json


def _job(api: Api, token: str, job_id: str) -> dict[str, Any]:
    reply = api.request("GET", f"/resends/{job_id}", token=token)
    assert reply.status == 200, reply.body
    assert_counters_add_up(reply.json)
    return reply.json


def _records(api: Api, token: str, job_id: str) -> list[dict[str, Any]]:
    reply = api.request("GET", f"/resends/{job_id}/deliveries?limit=1000", token=token)
    assert reply.status == 200, reply.body
    assert reply.json["next_cursor"] is None
    return reply.json["data"]


def _canonical(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Queue:
    """A queue of the stack, read and emptied by the test's own client."""

    def __init__(self, stack: LocalAws, name: str) -> None:
        self.sqs = boto3.client("sqs")
        self.url = str(stack.stack.ref(name))
        self.arn = str(stack.stack.get_att(name, "Arn"))

    def depth(self) -> int:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        answer = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=names)["Attributes"]
        return sum(int(answer[n]) for n in names)

    def receive(self) -> dict[str, Any] | None:
        answer = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=1, AttributeNames=["All"])
        found = answer.get("Messages", [])
        return found[0] if found else None

    def drain(self) -> list[dict[str, Any]]:
        """Every message's body, deleting them."""
        bodies = []
        while (message := self.receive()) is not None:
            bodies.append(json.loads(message["Body"]))
            self.sqs.delete_message(QueueUrl=self.url, ReceiptHandle=message["ReceiptHandle"])
        return bodies


class Steps:
    """The fan-out queue's messages, run one at a time through the deployed handler."""

    def __init__(self, stack: LocalAws) -> None:
        self.stack = stack
        self.queue = Queue(stack, "FanoutQueue")
        self.runs = 0

    def take(self) -> dict[str, Any]:
        message = self.queue.receive()
        assert message is not None, "no step on the fan-out queue"
        return message

    def run(self, message: dict[str, Any]) -> bool:
        """Invoke the fan-out function on the message (again, if it ran already: a redelivery);
        True when it reported the message done."""
        self.runs += 1
        answer = self.stack.invoke(FANOUT, sqs_event([message], self.queue.arn))
        failed = {f["itemIdentifier"] for f in answer.get("batchItemFailures", [])}
        return message["MessageId"] not in failed

    def done(self, message: dict[str, Any]) -> None:
        self.queue.sqs.delete_message(QueueUrl=self.queue.url, ReceiptHandle=message["ReceiptHandle"])

    def advance(self, count: int) -> None:
        """Run and settle the next `count` steps."""
        for _ in range(count):
            message = self.take()
            assert self.run(message), json.loads(message["Body"])
            self.done(message)

    def walk(self, limit: int = 100) -> int:
        """Run and settle steps until the queue is empty; the number of steps run."""
        for count in range(limit):
            message = self.queue.receive()
            if message is None:
                return count
            assert self.run(message), json.loads(message["Body"])
            self.done(message)
        raise AssertionError("the selection never ended")


Real = Callable[..., dict[str, Any]]
Answer = Callable[[str, list[dict[str, Any]], Real], "dict[str, Any] | None"]


class SendFaults:
    """`send_message_batch` of the handlers' SQS client (the real one, wrapped): `answer(url,
    entries, real)` may raise, or answer itself (calling the real client for some entries, say);
    None passes the call on."""

    def __init__(self, answer: Answer) -> None:
        self.client = clients.boto_client("sqs")
        self._real = self.client.send_message_batch
        self._answer = answer
        self._lock = threading.Lock()
        self.sent: Counter[str] = Counter()  # queue URL → messages it took

    def __call__(self, **kwargs: Any) -> dict[str, Any]:
        faked = self._answer(kwargs["QueueUrl"], kwargs["Entries"], self._real)
        answer = faked if faked is not None else self._real(**kwargs)
        with self._lock:
            self.sent[kwargs["QueueUrl"]] += len(answer.get("Successful", []))
        return answer

    def __enter__(self) -> SendFaults:
        self.client.send_message_batch = self
        return self

    def __exit__(self, *exc: object) -> None:
        self.client.send_message_batch = self._real


class Crash(Exception):
    """The Lambda dying in the middle of a call (not an AWS error: nothing handles it)."""


def _crash_on(url: str, times: int | None = 1) -> Answer:
    """The function dying as it sends to `url`: the first `times` calls (None: every call)."""
    crashed = []

    def answer(queue_url: str, entries: list[dict[str, Any]], real: Real) -> dict[str, Any] | None:
        if queue_url == url and (times is None or len(crashed) < times):
            crashed.append(True)
            raise Crash("the function died here")
        return None

    return answer


@pytest.fixture
def steps(stack: LocalAws) -> Steps:
    return Steps(stack)


@pytest.fixture
def delivery_queue(stack: LocalAws) -> Queue:
    return Queue(stack, "DeliveryQueue")


@pytest.fixture
def small_pages(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(selections, "PAGE_SUBJECTS", 4)
    return 4


@pytest.fixture
def two_hooks(api: Api, token: str, receiver: Receiver) -> list[dict[str, Any]]:
    return [_webhook(api, token, [f"{receiver.url}/a"]), _webhook(api, token, [f"{receiver.url}/b"])]


def _ten_items(api: Api, token: str) -> list[str]:
    posts = [_put_item(api, token, n) for n in range(10)]
    for n in range(100, 103):
        _put_item(api, token, n, model="Page")
    return posts


POSTS = {"event": EVENT, "filter": {"model": {"eq": "Post"}}}
FIRE = "5a0c9a53-3c1e-5b7d-8f2a-6e4d3c2b1a09"  # a job id derived from a schedule's fire


# -- the answer ---------------------------------------------------------------------------------------
def test_selection_filter_resend_answers_202_selecting_with_no_pair_queued(
    api: Api, token: str, two_hooks: list[dict[str, Any]], stack: LocalAws, delivery_queue: Queue
) -> None:
    _ten_items(api, token)

    job = _started(api, token, POSTS)

    assert (job["status"], job["reason"], job["completed_on"]) == ("selecting", None, None)
    assert (job["total_items"], job["total_queued"], job["pending"]) == (0, 0, 0)
    assert _job(api, token, job["id"]) == job
    assert delivery_queue.depth() == 0
    [step] = Queue(stack, "FanoutQueue").drain()
    assert step == {
        "v": 1,
        "tenant_id": step["tenant_id"],
        "job_id": job["id"],
        "step": 0,
        "phase": "count",
        "start": None,
    }


def test_selection_outcome_resend_answers_202_selecting(api: Api, token: str, delivery_queue: Queue) -> None:
    job = _started(api, token, {"delivery_status": "failed", "since": "2024-01-01T00:00:00Z"})

    assert (job["status"], job["total_queued"]) == ("selecting", 0)
    assert delivery_queue.depth() == 0


def test_selection_filter_resend_refuses_a_bad_filter_at_once(api: Api, token: str, stack: LocalAws) -> None:
    reply = _resend(api, token, {"event": EVENT, "filter": {"model": {"like": "P%"}}})

    assert reply.status == 422, reply.body
    assert any(e["field"].startswith("model") for e in reply.json["errors"])
    assert Queue(stack, "FanoutQueue").depth() == 0


# -- walking to the end -------------------------------------------------------------------------------
def test_selection_walk_counts_exactly_and_ends_running(
    api: Api,
    token: str,
    two_hooks: list[dict[str, Any]],
    steps: Steps,
    delivery_queue: Queue,
    small_pages: int,
    deliveries: Callable[..., int],
) -> None:
    posts = _ten_items(api, token)
    started = _started(api, token, POSTS)

    ran = steps.walk()

    job = _job(api, token, started["id"])
    assert ran == 1 + 3  # one count step (a few items), three pages of at most 4 items
    assert (job["status"], job["completed_on"], job["reason"]) == ("running", None, None)
    assert (job["total_items"], job["total_queued"], job["pending"]) == (10, 20, 20)
    queued = Counter((m["subject_id"], m["webhook_id"]) for m in delivery_queue.drain())
    assert queued == Counter({(i, h["id"]): 1 for i in posts for h in two_hooks})


def test_selection_walk_then_deliveries_complete_the_job(
    api: Api,
    token: str,
    two_hooks: list[dict[str, Any]],
    receiver: Receiver,
    small_pages: int,
    deliveries: Callable[..., int],
) -> None:
    _ten_items(api, token)
    started = _started(api, token, POSTS)

    deliveries()

    job = _job(api, token, started["id"])
    assert (job["status"], job["delivered"], job["failed"], job["pending"]) == ("completed", 20, 0, 0)
    assert job["completed_on"] is not None
    assert sorted(json.loads(r.body)["payload"]["n"] for r in receiver.to("/a")) == list(range(10))
    assert sorted(json.loads(r.body)["payload"]["n"] for r in receiver.to("/b")) == list(range(10))


def test_selection_of_nothing_completes_after_the_count(
    api: Api, token: str, two_hooks: list[dict[str, Any]], steps: Steps
) -> None:
    _put_item(api, token, 1, model="Page")
    started = _started(api, token, POSTS)

    assert steps.walk() == 1

    job = _job(api, token, started["id"])
    assert (job["status"], job["total_items"], job["total_queued"]) == ("completed", 0, 0)
    assert job["completed_on"] is not None


def test_selection_with_task_ids_counts_the_tasks_at_once_and_the_items_as_it_walks(
    api: Api, token: str, receiver: Receiver, small_pages: int, deliveries: Callable[..., int]
) -> None:
    _webhook(api, token, [f"{receiver.url}/a"])
    _ten_items(api, token)
    task = "11111111-1111-4111-8111-111111111111"
    reply = api.request(
        "PUT", f"/tasks/{task}", json_body={"data": {"pingback_url": f"{receiver.url}/ping"}}, token=token
    )
    assert reply.status == 201, reply.body

    started = _started(api, token, {**POSTS, "task_ids": [task]})
    deliveries()

    assert (started["status"], started["total_items"], started["total_queued"]) == ("selecting", 1, 1)
    job = _job(api, token, started["id"])
    assert (job["status"], job["total_items"], job["total_queued"], job["delivered"]) == (
        "completed",
        11,
        11,
        11,
    )
    assert len(receiver.to("/ping")) == 1


def test_selection_by_a_filter_too_long_for_dynamodb_evaluates_the_rest_itself(
    api: Api,
    token: str,
    two_hooks: list[dict[str, Any]],
    steps: Steps,
    delivery_queue: Queue,
    small_pages: int,
) -> None:
    # Given an `in` of 600 ids (10 of them items of the tenant): over DynamoDB's expression limit,
    # so the walk reads entries and applies that part of the filter itself (ItemFilter.compiled)
    posts = _ten_items(api, token)
    wanted = posts[::2] + [_item_id(1000 + n) for n in range(595)]
    started = _started(api, token, {"event": EVENT, "filter": {"id": {"in": wanted}}})

    steps.walk()

    job = _job(api, token, started["id"])
    assert (job["status"], job["total_items"], job["total_queued"]) == ("running", 5, 10)
    assert {m["subject_id"] for m in delivery_queue.drain()} == set(posts[::2])


# -- redeliveries: counted once, never forked -----------------------------------------------------------
def test_selection_step_delivered_twice_counts_once_and_does_not_fork(
    api: Api,
    token: str,
    two_hooks: list[dict[str, Any]],
    steps: Steps,
    delivery_queue: Queue,
    small_pages: int,
) -> None:
    posts = _ten_items(api, token)
    started = _started(api, token, POSTS)
    count_step = steps.take()
    assert steps.run(count_step)
    steps.done(count_step)
    first_page = steps.take()

    # When the first page's message runs, and SQS delivers it again (same message id)
    assert steps.run(first_page)
    after_one = _job(api, token, started["id"])
    assert steps.run(first_page)
    steps.done(first_page)

    # Then its pairs were counted and sent once; the next step was sent twice, and one copy runs
    job = _job(api, token, started["id"])
    assert (after_one["total_queued"], job["total_queued"]) == (8, 8)
    assert steps.queue.depth() == 2
    assert steps.walk() == 2 + 1  # both copies of step 2 (one does nothing), then step 3
    job = _job(api, token, started["id"])
    assert (job["status"], job["total_items"], job["total_queued"], job["pending"]) == ("running", 10, 20, 20)
    queued = Counter((m["subject_id"], m["webhook_id"]) for m in delivery_queue.drain())
    assert queued == Counter({(i, h["id"]): 1 for i in posts for h in two_hooks})


def test_selection_copy_of_a_step_from_another_message_does_nothing(
    api: Api,
    token: str,
    tenant: dict[str, Any],
    two_hooks: list[dict[str, Any]],
    steps: Steps,
    delivery_queue: Queue,
    small_pages: int,
) -> None:
    _ten_items(api, token)
    started = _started(api, token, POSTS)
    steps.advance(2)  # the count step and the first page
    before = _job(api, token, started["id"])
    sent_before = delivery_queue.depth()

    # When a copy of the first page arrives as a message of its own (a fork of the walk)
    copy = json.dumps(
        {"tenant_id": tenant["tenant_id"], "job_id": started["id"], "step": 1, "phase": "queue"}
    )
    steps.queue.sqs.send_message(QueueUrl=steps.queue.url, MessageBody=copy)
    message = _the_step(steps, 1)
    assert steps.run(message)
    steps.done(message)

    # Then nothing is counted or sent
    assert _job(api, token, started["id"]) == before
    assert delivery_queue.depth() == sent_before


def _the_step(steps: Steps, step: int) -> dict[str, Any]:
    """The message of `step` on the fan-out queue (others are left there)."""
    for _ in range(10):
        message = steps.take()
        if json.loads(message["Body"])["step"] == step:
            return message
        steps.queue.sqs.change_message_visibility(
            QueueUrl=steps.queue.url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0
        )
    raise AssertionError(f"no message of step {step}")


# -- crashes: the redelivered step finishes, exactly -------------------------------------------------------
def test_selection_crash_between_the_claim_and_the_publish_ends_with_exact_counts(
    api: Api,
    token: str,
    two_hooks: list[dict[str, Any]],
    steps: Steps,
    delivery_queue: Queue,
    small_pages: int,
    deliveries: Callable[..., int],
) -> None:
    posts = _ten_items(api, token)
    started = _started(api, token, POSTS)
    steps.advance(1)  # the count step
    page = steps.take()

    # When the function dies as it sends the page's pairs (after the claim counted them)
    with SendFaults(_crash_on(delivery_queue.url)):
        assert not steps.run(page)
    crashed = _job(api, token, started["id"])
    # and SQS delivers the page again
    assert steps.run(page)
    steps.done(page)
    steps.walk()

    # Then the pairs were counted before they were sent, once, and every pair is queued once
    assert (crashed["total_queued"], crashed["pending"]) == (8, 8)
    assert delivery_queue.depth() == 20
    job = _job(api, token, started["id"])
    assert (job["status"], job["total_queued"]) == ("running", 20)
    deliveries()
    job = _job(api, token, started["id"])
    assert (job["status"], job["delivered"], job["failed"], job["pending"]) == ("completed", 20, 0, 0)
    assert {r["subject_id"] for r in _records(api, token, started["id"])} == set(posts)


def test_selection_crash_between_the_publish_and_the_next_step_ends_with_exact_counts(
    api: Api,
    token: str,
    two_hooks: list[dict[str, Any]],
    steps: Steps,
    delivery_queue: Queue,
    small_pages: int,
) -> None:
    posts = _ten_items(api, token)
    started = _started(api, token, POSTS)
    steps.advance(1)
    page = steps.take()

    # When the function dies as it sends the next step (the pairs went out)
    with SendFaults(_crash_on(steps.queue.url)):
        assert not steps.run(page)
    assert (delivery_queue.depth(), steps.queue.depth()) == (8, 1)  # the page itself, in flight
    # and SQS delivers the page again
    assert steps.run(page)
    steps.done(page)
    steps.walk()

    # Then nothing was counted or sent twice, and the walk went on from where it stopped
    job = _job(api, token, started["id"])
    assert (job["status"], job["total_items"], job["total_queued"]) == ("running", 10, 20)
    queued = Counter((m["subject_id"], m["webhook_id"]) for m in delivery_queue.drain())
    assert queued == Counter({(i, h["id"]): 1 for i in posts for h in two_hooks})


def test_selection_crash_during_the_count_resumes_from_the_same_step(
    api: Api, token: str, two_hooks: list[dict[str, Any]], steps: Steps, small_pages: int
) -> None:
    _ten_items(api, token)
    started = _started(api, token, POSTS)
    count = steps.take()

    with SendFaults(_crash_on(steps.queue.url)):
        assert not steps.run(count)
    assert steps.run(count)
    steps.done(count)

    assert steps.walk() == 3
    assert _job(api, token, started["id"])["total_queued"] == 20


# -- SQS refusing or not answering -------------------------------------------------------------------------
def _refusing(url: str, subjects: set[str]) -> Answer:
    """SQS answering that it did not take the entries of `subjects` (a sender fault)."""

    def answer(queue_url: str, entries: list[dict[str, Any]], real: Real) -> dict[str, Any] | None:
        if queue_url != url:
            return None
        refused = [e for e in entries if json.loads(e["MessageBody"])["subject_id"] in subjects]
        taken = [e for e in entries if e not in refused]
        successful = real(QueueUrl=queue_url, Entries=taken)["Successful"] if taken else []
        failed = [{"Id": e["Id"], "SenderFault": True, "Code": "InvalidMessageContents"} for e in refused]
        return {"Successful": successful, "Failed": failed}

    return answer


def test_selection_pairs_sqs_refused_are_taken_back(
    api: Api,
    token: str,
    two_hooks: list[dict[str, Any]],
    steps: Steps,
    small_pages: int,
    deliveries: Callable[..., int],
    delivery_queue: Queue,
) -> None:
    posts = _ten_items(api, token)
    started = _started(api, token, POSTS)
    refused = set(posts[:2])

    with SendFaults(_refusing(delivery_queue.url, refused)):
        steps.walk()
    deliveries()

    job = _job(api, token, started["id"])
    assert (job["status"], job["total_items"], job["total_queued"]) == ("completed", 10, 16)
    assert (job["delivered"], job["failed"], job["pending"]) == (16, 0, 0)
    assert job["reason"] == selections.REFUSED
    assert not refused & {r["subject_id"] for r in _records(api, token, started["id"])}


def test_selection_of_pairs_sqs_refused_every_one_of_is_rejected(
    api: Api,
    token: str,
    two_hooks: list[dict[str, Any]],
    steps: Steps,
    small_pages: int,
    delivery_queue: Queue,
) -> None:
    posts = _ten_items(api, token)
    started = _started(api, token, POSTS)

    with SendFaults(_refusing(delivery_queue.url, set(posts))):
        steps.walk()

    job = _job(api, token, started["id"])
    assert (job["status"], job["total_queued"], job["reason"]) == ("rejected", 0, selections.REFUSED)
    assert job["completed_on"] is not None
    assert delivery_queue.depth() == 0


def test_selection_of_pairs_sqs_refused_every_one_of_is_announced_rejected_once(
    api: Api,
    token: str,
    two_hooks: list[dict[str, Any]],
    steps: Steps,
    small_pages: int,
    delivery_queue: Queue,
    receiver: Receiver,
    deliveries: Callable[..., int],
) -> None:
    # Given a tenant with a notify_url, and SQS refusing every pair its selection queues
    reply = api.request("PUT", "/settings", json_body={"notify_url": f"{receiver.url}/ops"}, token=token)
    assert reply.status == 200, reply.body
    posts = _ten_items(api, token)
    started = _started(api, token, POSTS)

    # When the selection is walked, then every queue is worked
    with SendFaults(_refusing(delivery_queue.url, set(posts))):
        steps.walk()
    deliveries()

    # Then the job is rejected and resend.rejected is sent once (SPEC §13: no consumer batch ends
    # a job that queued nothing, so the step that took its last pairs back announces it)
    events = [json.loads(r.body) for r in receiver.to("/ops")]
    assert [(e["type"], e["data"]["job"]["id"], e["data"]["job"]["status"]) for e in events] == [
        ("resend.rejected", started["id"], "rejected")
    ]


def test_selection_pairs_sqs_did_not_answer_for_end_failed_once_never_sent(
    api: Api,
    token: str,
    two_hooks: list[dict[str, Any]],
    steps: Steps,
    receiver: Receiver,
    small_pages: int,
    deliveries: Callable[..., int],
    delivery_queue: Queue,
) -> None:
    posts = _ten_items(api, token)
    started = _started(api, token, POSTS)
    lost = posts[0]

    def no_answer(queue_url: str, entries: list[dict[str, Any]], real: Real) -> dict[str, Any] | None:
        if queue_url == delivery_queue.url and any(lost in e["MessageBody"] for e in entries):
            raise ReadTimeoutError(endpoint_url=queue_url)
        return None

    with SendFaults(no_answer):
        steps.walk()
    deliveries()

    # The batch holding `lost` got no answer (so did the 3 other items of its batch of 10 pairs)
    job = _job(api, token, started["id"])
    assert (job["status"], job["total_queued"], job["pending"]) == ("completed", 20, 0)
    failed = {
        (r["subject_id"], r["webhook_id"])
        for r in _records(api, token, started["id"])
        if r["status"] == "failed"
    }
    assert (lost, two_hooks[0]["id"]) in failed
    assert job["failed"] == len(failed)
    assert job["delivered"] == 20 - len(failed)
    assert len(receiver.to("/a")) + len(receiver.to("/b")) == job["delivered"]


# -- the cap -----------------------------------------------------------------------------------------------
class TestCap:
    @pytest.fixture
    def local_env(self) -> dict[str, str]:
        return {"ALLOW_PRIVATE_URLS": "true", "RETRY_SCHEDULE": "0,0,0", "MAX_PAIRS_PER_REQUEST": "19"}

    def test_selection_over_the_cap_is_rejected_naming_it_and_queues_nothing(
        self,
        api: Api,
        token: str,
        two_hooks: list[dict[str, Any]],
        steps: Steps,
        small_pages: int,
        delivery_queue: Queue,
    ) -> None:
        _ten_items(api, token)  # 10 items x 2 webhooks = 20 pairs
        started = _started(api, token, POSTS)

        assert steps.walk() == 1  # the count step only

        job = _job(api, token, started["id"])
        assert (job["status"], job["total_items"], job["total_queued"]) == ("rejected", 0, 0)
        assert "selects 20 pairs" in job["reason"]
        assert "at most 19" in job["reason"]
        assert job["completed_on"] is not None
        assert delivery_queue.depth() == 0

    def test_selection_at_the_cap_is_queued(
        self, api: Api, token: str, two_hooks: list[dict[str, Any]], steps: Steps, delivery_queue: Queue
    ) -> None:
        for n in range(9):  # 18 pairs
            _put_item(api, token, n)
        started = _started(api, token, POSTS)

        steps.walk()

        assert _job(api, token, started["id"])["status"] == "running"
        assert delivery_queue.depth() == 18

    def test_item_ids_over_the_cap_are_refused_at_once(
        self, api: Api, token: str, two_hooks: list[dict[str, Any]], stack: LocalAws
    ) -> None:
        items = _ten_items(api, token)

        reply = _resend(api, token, {"event": EVENT, "item_ids": items})

        assert reply.status == 422, reply.body
        assert "selects 20 pairs" in reply.json["errors"][0]["message"]
        assert Queue(stack, "FanoutQueue").depth() == 0


# -- by outcome --------------------------------------------------------------------------------------------
def test_selection_by_outcome_walks_newest_first_and_selects_each_pair_once(
    api: Api,
    token: str,
    receiver: Receiver,
    steps: Steps,
    delivery_queue: Queue,
    deliveries: Callable[..., int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given 3 items whose deliveries to a two-URL webhook failed twice (EVENT, then PUBLISHED):
    # 12 failed records of 3 pairs
    receiver.script("/bad", [400])
    receiver.script("/worse", [400])
    bad = _webhook(api, token, [f"{receiver.url}/bad", f"{receiver.url}/worse"], events=[EVENT, PUBLISHED])
    items = [_put_item(api, token, n) for n in range(3)]
    since = _canonical(datetime.now(UTC) - timedelta(seconds=1))
    for event in (EVENT, PUBLISHED):
        _started(api, token, {"event": event, "item_ids": items})
        deliveries()
    # read 5 records a step: pairs and subjects turn up on several pages
    monkeypatch.setattr(selections, "FAILED_RECORDS", 5)

    started = _started(api, token, {"delivery_status": "failed", "since": since})
    ran = steps.walk()

    job = _job(api, token, started["id"])
    assert ran == 1 + 3  # the count, then 12 records 5 at a time
    assert (job["status"], job["total_items"], job["total_queued"]) == ("running", 3, 3)
    queued = delivery_queue.drain()
    assert sorted(m["subject_id"] for m in queued) == sorted(items)
    assert {(m["webhook_id"], m["event"]) for m in queued} == {(bad["id"], PUBLISHED)}  # the latest failure


def test_selection_by_outcome_never_reads_its_own_failures(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int], monkeypatch: pytest.MonkeyPatch
) -> None:
    # One record a step: the job's own pairs fail (and are recorded) while it still walks.
    monkeypatch.setattr(selections, "FAILED_RECORDS", 1)
    receiver.script("/bad", [400])
    _webhook(api, token, [f"{receiver.url}/bad"])
    items = [_put_item(api, token, n) for n in range(2)]
    since = _canonical(datetime.now(UTC) - timedelta(seconds=1))
    _started(api, token, {"event": EVENT, "item_ids": items})
    deliveries()

    started = _started(api, token, {"delivery_status": "failed", "since": since})
    deliveries()

    job = _job(api, token, started["id"])
    assert (job["status"], job["total_queued"], job["failed"]) == ("completed", 2, 2)


# -- dead letters: a step dead-lettered ends the selection --------------------------------------------------
def _dead_letter(stack: LocalAws, message: dict[str, Any], receives: int = 6) -> dict[str, Any]:
    dead = {
        **message,
        "Attributes": {**message.get("Attributes", {}), "ApproximateReceiveCount": str(receives)},
    }
    arn = str(stack.stack.get_att("FanoutDeadLetterQueue", "Arn"))
    answer = stack.invoke("DeadLetterFunction", sqs_event([dead], arn))
    assert answer == {"batchItemFailures": []}, answer
    return answer


def test_selection_step_dead_lettered_before_it_ran_rejects_a_job_that_queued_nothing(
    api: Api, token: str, two_hooks: list[dict[str, Any]], stack: LocalAws, steps: Steps
) -> None:
    _ten_items(api, token)
    started = _started(api, token, POSTS)
    count = steps.take()

    _dead_letter(stack, count)

    job = _job(api, token, started["id"])
    assert (job["status"], job["total_queued"]) == ("rejected", 0)
    assert job["reason"] == "selection interrupted at step 1: its message was dead-lettered after 6 receives"
    assert job["completed_on"] is not None
    # The message itself, were it ever run, does nothing more.
    assert steps.run(count)
    assert _job(api, token, started["id"]) == job


def test_selection_step_dead_lettered_before_it_ran_is_announced_rejected_once(
    api: Api,
    token: str,
    two_hooks: list[dict[str, Any]],
    stack: LocalAws,
    steps: Steps,
    receiver: Receiver,
    deliveries: Callable[..., int],
) -> None:
    # Given a tenant with a notify_url, and a selection whose first step SQS dead-letters
    reply = api.request("PUT", "/settings", json_body={"notify_url": f"{receiver.url}/ops"}, token=token)
    assert reply.status == 200, reply.body
    _ten_items(api, token)
    started = _started(api, token, POSTS)
    count = steps.take()

    # When the dead-letter function ends the selection, twice (SQS may deliver it again), and the
    # events queue is worked
    _dead_letter(stack, count)
    _dead_letter(stack, count)
    deliveries()

    # Then the job, which queued nothing, is announced rejected once (SPEC §13)
    events = [json.loads(r.body) for r in receiver.to("/ops")]
    assert [(e["type"], e["data"]["job"]["id"]) for e in events] == [("resend.rejected", started["id"])]


def test_selection_step_dead_lettered_after_its_claim_ends_its_pairs_and_the_selection(
    api: Api,
    token: str,
    two_hooks: list[dict[str, Any]],
    stack: LocalAws,
    steps: Steps,
    small_pages: int,
    deliveries: Callable[..., int],
    delivery_queue: Queue,
) -> None:
    _ten_items(api, token)
    started = _started(api, token, POSTS)
    steps.advance(2)  # the count and the first page: 8 pairs queued
    page = steps.take()
    with SendFaults(_crash_on(delivery_queue.url, times=None)):
        assert not steps.run(page)  # claimed (8 more pairs counted), none sent

    _dead_letter(stack, page)
    steps.done(page)
    deliveries()

    job = _job(api, token, started["id"])
    assert (job["status"], job["total_items"], job["total_queued"]) == ("completed", 8, 16)
    assert (job["delivered"], job["failed"], job["pending"]) == (8, 8, 0)
    assert job["reason"] == "selection interrupted at step 3: its message was dead-lettered after 6 receives"
    failed = [r for r in _records(api, token, started["id"]) if r["status"] == "failed"]
    assert {r["last_error"] for r in failed} == {"dead-lettered after 6 receives"}


def test_selection_step_dead_lettered_long_after_it_ran_changes_nothing(
    api: Api, token: str, two_hooks: list[dict[str, Any]], stack: LocalAws, steps: Steps, small_pages: int
) -> None:
    _ten_items(api, token)
    started = _started(api, token, POSTS)
    count = steps.take()
    assert steps.run(count)
    steps.done(count)
    steps.advance(1)  # the first page: the walk has moved on past the count
    before = _job(api, token, started["id"])

    _dead_letter(stack, count)

    assert _job(api, token, started["id"]) == before
    assert (before["status"], before["total_queued"]) == ("selecting", 8)


# -- a start that never sent its first step ---------------------------------------------------------------
def test_selection_started_again_by_a_retried_fire_sends_its_first_step(
    api: Api, token: str, tenant: dict[str, Any], two_hooks: list[dict[str, Any]], steps: Steps
) -> None:
    _ten_items(api, token)
    body = ResendIn.model_validate(POSTS)
    settings = clients.settings()

    def start() -> tuple[int, dict[str, Any]]:
        return native.start_resend(
            clients.store(),
            clients.page_publisher(),
            tenant["tenant_id"],
            body,
            source="schedule",
            retention_days=settings.delivery_retention_days,
            max_pairs=settings.max_pairs_per_request,
            job_id=FIRE,
        )

    # Given a fire whose function died after writing the job, before sending its first step
    with SendFaults(_crash_on(steps.queue.url)), pytest.raises(Crash):
        start()
    assert steps.queue.depth() == 0
    assert _job(api, token, FIRE)["status"] == "selecting"

    # When Scheduler delivers the fire again
    with pytest.raises(DuplicateJobError):
        start()

    # Then the one job's selection starts, and runs to the end once
    assert steps.walk() == 2
    job = _job(api, token, FIRE)
    assert (job["status"], job["total_items"], job["total_queued"]) == ("running", 10, 20)
    with pytest.raises(DuplicateJobError):
        start()  # a third delivery of the fire, once the selection has begun: nothing more
    assert steps.queue.depth() == 0


def test_selection_whose_first_step_sqs_refused_answers_503_and_is_rejected(
    api: Api, token: str, two_hooks: list[dict[str, Any]], steps: Steps
) -> None:
    _ten_items(api, token)

    def refuse_steps(queue_url: str, entries: list[dict[str, Any]], real: Real) -> dict[str, Any] | None:
        if queue_url != steps.queue.url:
            return None
        return {
            "Successful": [],
            "Failed": [{"Id": e["Id"], "SenderFault": True, "Code": "Refused"} for e in entries],
        }

    with SendFaults(refuse_steps):
        reply = _resend(api, token, POSTS)

    assert reply.status == 503, reply.body
    assert reply.headers["retry-after"] == "5"
    job = _job(api, token, reply.json["resend_id"])
    assert (job["status"], job["total_queued"], job["reason"]) == ("rejected", 0, selections.NOT_STARTED)
    assert "could not start" in reply.json["errors"][0]["message"]
    assert steps.queue.depth() == 0


# -- the job list: GET /resends ------------------------------------------------------------------------------
@pytest.fixture
def jobs(
    api: Api, token: str, other_tenant: dict[str, Any], receiver: Receiver, deliveries: Callable[..., int]
) -> dict[str, Any]:
    """Five jobs of the tenant, oldest first: two completed, two running, one selecting; and one
    job of another tenant."""
    _webhook(api, token, [f"{receiver.url}/a"])
    items = [_put_item(api, token, n) for n in range(2)]
    made = [_started(api, token, {"event": EVENT, "item_ids": items}) for _ in range(2)]
    deliveries()
    made += [_started(api, token, {"event": EVENT, "item_ids": items}) for _ in range(2)]
    made.append(_started(api, token, POSTS))
    theirs_token = str(other_tenant["token"])
    _webhook(api, theirs_token, [f"{receiver.url}/theirs"])
    _put_item(api, theirs_token, 7)
    theirs = _started(api, theirs_token, {"event": EVENT, "item_ids": [_item_id(7)]})
    return {"ids": [j["id"] for j in made], "theirs": theirs["id"], "theirs_token": theirs_token}


def _list(api: Api, token: str, query: str = "") -> dict[str, Any]:
    reply = api.request("GET", f"/resends{query}", token=token)
    assert reply.status == 200, reply.body
    assert set(reply.json) == {"data", "next_cursor"}
    for job in reply.json["data"]:
        assert_counters_add_up(job)
    return reply.json


def test_resends_list_answers_the_tenants_jobs_newest_first(
    api: Api, token: str, jobs: dict[str, Any]
) -> None:
    page = _list(api, token)

    assert [j["id"] for j in page["data"]] == list(reversed(jobs["ids"]))
    assert page["next_cursor"] is None
    assert [j["status"] for j in page["data"]] == [
        "selecting",
        "running",
        "running",
        "completed",
        "completed",
    ]
    assert page["data"][0] == _job(api, token, jobs["ids"][-1])


def test_resends_list_pages_with_its_cursor(api: Api, token: str, jobs: dict[str, Any]) -> None:
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = _list(api, token, "?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert len(page["data"]) <= 2
        seen += [j["id"] for j in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert seen == list(reversed(jobs["ids"]))
    assert pages == 3


@pytest.mark.parametrize(
    ("status", "expected"),
    [("selecting", [4]), ("running", [3, 2]), ("completed", [1, 0]), ("rejected", []), ("cancelled", [])],
)
def test_resends_list_filters_by_status(
    api: Api, token: str, jobs: dict[str, Any], status: str, expected: list[int]
) -> None:
    page = _list(api, token, f"?status={status}")

    assert [j["id"] for j in page["data"]] == [jobs["ids"][i] for i in expected]
    assert {j["status"] for j in page["data"]} <= {status}


def test_resends_list_filtered_pages_hold_whole_pages(api: Api, token: str, jobs: dict[str, Any]) -> None:
    first = _list(api, token, "?status=running&limit=1")
    second = _list(api, token, f"?status=running&limit=1&cursor={first['next_cursor']}")

    assert [j["id"] for j in first["data"] + second["data"]] == [jobs["ids"][3], jobs["ids"][2]]


def test_resends_list_never_shows_another_tenants_jobs(api: Api, token: str, jobs: dict[str, Any]) -> None:
    mine = _list(api, token, "?limit=1000")
    theirs = _list(api, jobs["theirs_token"])

    assert jobs["theirs"] not in [j["id"] for j in mine["data"]]
    assert [j["id"] for j in theirs["data"]] == [jobs["theirs"]]


def test_resends_list_refuses_another_tenants_cursor(api: Api, token: str, jobs: dict[str, Any]) -> None:
    mine = _list(api, token, "?limit=1")

    reply = api.request("GET", f"/resends?cursor={mine['next_cursor']}", token=jobs["theirs_token"])

    assert reply.status == 422, reply.body
    assert [e["field"] for e in reply.json["errors"]] == ["cursor"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("?status=queued", "status"),
        ("?status=in_progress", "status"),
        ("?cursor=not-a-cursor", "cursor"),
        ("?cursor=eyJwayI6MX0=", "cursor"),
        ("?limit=0", "limit"),
        ("?limit=1001", "limit"),
        ("?limit=many", "limit"),
        ("?colour=red", "colour"),
    ],
)
def test_resends_list_refuses_bad_parameters_naming_them(
    api: Api, token: str, query: str, field: str
) -> None:
    reply = api.request("GET", f"/resends{query}", token=token)

    assert reply.status == 422, reply.body
    assert [e["field"] for e in reply.json["errors"]] == [field]


def test_resends_list_needs_credentials(api: Api) -> None:
    reply = api.request("GET", "/resends")

    assert reply.status == 401, reply.body


def test_resends_list_of_a_tenant_without_jobs_is_empty(api: Api, token: str) -> None:
    assert _list(api, token) == {"data": [], "next_cursor": None}
