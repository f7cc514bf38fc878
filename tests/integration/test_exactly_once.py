"""Job counters move exactly once per pair, whatever SQS and Lambda do to the delivery function.

The deliver handler is invoked directly with SQS events built from messages received with boto3,
so a test can hand it the same message twice, replay a batch, or make its writes fail.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

import boto3
import pytest

from devstack.sqs import sqs_event
from tests.conftest import Api, LocalAws, Receiver
from tests.counters import assert_counters_add_up
from webhook_resend.aws import dynamodb

BULK = "/content_items/bulk/webhooks"
EVENT = "content_item.changed"
DELIVER = "DeliverFunction"


# -- helpers ------------------------------------------------------------------------------------------
def _put_items(api: Api, token: str, count: int) -> list[str]:
    """`count` new items (numbered after the tenant's existing ones)."""
    first = api.request("GET", "/content_items?limit=1", token=token).json["total"]
    ids = []
    for n in range(first, first + count):
        item_id = f"00000000-0000-4000-8000-{n:012d}"
        body = {"model": "Post", "created_on": f"2024-01-01T00:00:{n:02d}Z", "payload": {"n": n}}
        reply = api.request("PUT", f"/content_items/{item_id}", json_body=body, token=token)
        assert reply.status == 201, reply.body
        ids.append(item_id)
    return ids


def _resend(api: Api, token: str, urls: list[str], items: int = 1) -> dict[str, Any]:
    """New items and a new webhook with these URLs, resent: the bulk answer."""
    item_ids = _put_items(api, token, items)
    hook = api.request("POST", "/webhooks", json_body={"urls": urls, "events": [EVENT]}, token=token)
    assert hook.status == 201, hook.body
    params = {"event": EVENT, "id": [{"in": item_ids}], "webhook_id": [{"eq": hook.json["id"]}]}
    reply = api.request("GET", BULK, json_body=params, token=token)
    assert reply.status == 200, reply.body
    assert reply.json["total_queued"] == items
    return reply.json


def _receive(stack: LocalAws, count: int) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs")
    url = stack.stack.ref("DeliveryQueue")
    found: list[dict[str, Any]] = []
    while len(found) < count:
        answer = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"], MessageAttributeNames=["All"]
        )
        batch = answer.get("Messages", [])
        if not batch:
            break
        found += batch
    assert len(found) == count, found
    return found


def _invoke(stack: LocalAws, messages: Sequence[dict[str, Any]]) -> set[str]:
    """Run the deliver function on the batch; the ids of the messages it reported not done."""
    event = sqs_event(messages, stack.stack.get_att("DeliveryQueue", "Arn"))
    response = stack.invoke(DELIVER, event)
    assert isinstance(response, dict), response
    assert set(response) == {"batchItemFailures"}, response
    ids = [failure.get("itemIdentifier") for failure in response["batchItemFailures"]]
    # Lambda fails the whole batch on an empty or unknown identifier.
    assert all(isinstance(i, str) and i for i in ids), response
    assert set(ids) <= {m["MessageId"] for m in messages}, response
    assert Counter(ids) <= Counter(m["MessageId"] for m in messages), response
    return set(ids)


def _until_done(stack: LocalAws, messages: Sequence[dict[str, Any]], rounds: int = 6) -> None:
    """Hand the reported messages back until none is reported (SQS redelivering them)."""
    pending = list(messages)
    for _ in range(rounds):
        if not pending:
            return
        failed = _invoke(stack, pending)
        # One message comes back once, however many copies of it the batch held.
        pending = list({m["MessageId"]: m for m in pending if m["MessageId"] in failed}.values())
    assert not pending, pending


def _job(api: Api, token: str, job_id: str) -> dict[str, Any]:
    reply = api.request("GET", f"/resends/{job_id}", token=token)
    assert reply.status == 200, reply.body
    job = reply.json
    assert_counters_add_up(job)
    return job


def _records(api: Api, token: str, job_id: str) -> list[dict[str, Any]]:
    reply = api.request("GET", f"/resends/{job_id}/deliveries?limit=1000", token=token)
    assert reply.status == 200, reply.body
    assert reply.json["next_cursor"] is None
    return list(reply.json["data"])


def _subject(message: dict[str, Any]) -> tuple[str, str]:
    body = json.loads(message["Body"])
    return body["subject_id"], body["webhook_id"]


def _item_number(message: dict[str, Any]) -> int:
    return int(_subject(message)[0].rsplit("-", 1)[1])


def _requests_per_item(receiver: Receiver, path: str) -> Counter[str]:
    return Counter(json.loads(r.body)["payload"]["n"] for r in receiver.to(path))


# -- duplicates ---------------------------------------------------------------------------------------
def test_exactly_once_same_message_twice_in_one_batch_moves_counters_at_most_once(
    api: Api, token: str, receiver: Receiver, stack: LocalAws
) -> None:
    # Given one queued pair, and SQS handing its message to the function twice in one batch
    sent = _resend(api, token, [f"{receiver.url}/hook"])
    [message] = _receive(stack, 1)

    # When the batch is worked, and SQS later hands the message back once
    _invoke(stack, [message, dict(message)])
    job = _job(api, token, sent["resend_id"])
    assert job["delivered"] <= 1
    _until_done(stack, [message])

    # Then the pair counted once
    job = _job(api, token, sent["resend_id"])
    assert (job["total_queued"], job["delivered"], job["failed"], job["pending"]) == (1, 1, 0, 0)
    assert [r["status"] for r in _records(api, token, sent["resend_id"])] == ["delivered"]


def test_exactly_once_same_message_twice_in_one_batch_is_done_in_that_batch(
    api: Api, token: str, receiver: Receiver, stack: LocalAws
) -> None:
    sent = _resend(api, token, [f"{receiver.url}/hook"])
    [message] = _receive(stack, 1)

    failed = _invoke(stack, [message, dict(message)])

    # The duplicate must not stop the pair's result from being written.
    assert failed == set()
    job = _job(api, token, sent["resend_id"])
    assert (job["delivered"], job["pending"]) == (1, 0)
    assert [r["status"] for r in _records(api, token, sent["resend_id"])] == ["delivered"]


def test_exactly_once_duplicate_in_a_batch_does_not_hold_back_the_other_pairs(
    api: Api, token: str, receiver: Receiver, stack: LocalAws
) -> None:
    # Given three pairs of one job, one of whose messages comes twice in the batch
    sent = _resend(api, token, [f"{receiver.url}/hook"], items=3)
    messages = _receive(stack, 3)

    failed = _invoke(stack, [*messages, dict(messages[0])])

    # Then the pairs that came once are written and counted in this invocation
    others = {m["MessageId"] for m in messages[1:]}
    assert not failed & others
    assert _job(api, token, sent["resend_id"])["delivered"] >= 2
    assert _requests_per_item(receiver, "/hook")[_item_number(messages[1])] == 1


def test_exactly_once_message_redelivered_after_success_sends_nothing_and_counts_nothing(
    api: Api, token: str, receiver: Receiver, stack: LocalAws
) -> None:
    # Given a batch that was delivered and counted
    sent = _resend(api, token, [f"{receiver.url}/a", f"{receiver.url}/b"], items=3)
    messages = _receive(stack, 3)
    assert _invoke(stack, messages) == set()
    before = _job(api, token, sent["resend_id"])
    assert (before["delivered"], before["pending"]) == (3, 0)

    # When SQS delivers the same messages again
    failed = _invoke(stack, messages)

    # Then nothing is sent again, nothing is counted again, and the messages are done
    assert failed == set()
    assert len(receiver.to("/a")) == 3
    assert len(receiver.to("/b")) == 3
    after = _job(api, token, sent["resend_id"])
    assert after == before
    assert sorted(r["attempts"] for r in _records(api, token, sent["resend_id"])) == [1] * 6


def test_exactly_once_failed_pair_redelivered_is_not_counted_again(
    api: Api, token: str, receiver: Receiver, stack: LocalAws
) -> None:
    receiver.script("/hook", [400])
    sent = _resend(api, token, [f"{receiver.url}/hook"])
    [message] = _receive(stack, 1)
    assert _invoke(stack, [message]) == set()

    assert _invoke(stack, [message]) == set()

    assert len(receiver.to("/hook")) == 1
    job = _job(api, token, sent["resend_id"])
    assert (job["delivered"], job["failed"], job["pending"]) == (0, 1, 0)


def test_exactly_once_retried_message_counts_once_when_it_finally_succeeds(
    api: Api, token: str, receiver: Receiver, stack: LocalAws
) -> None:
    # Given a receiver that fails twice before it accepts
    receiver.script("/hook", [500, 503, 200])
    sent = _resend(api, token, [f"{receiver.url}/hook"])
    [message] = _receive(stack, 1)

    # When SQS hands the message back after each reported failure
    assert _invoke(stack, [message]) == {message["MessageId"]}
    assert _job(api, token, sent["resend_id"])["pending"] == 1
    assert _invoke(stack, [message]) == {message["MessageId"]}
    assert _invoke(stack, [message]) == set()
    # ...and once more, as a duplicate
    assert _invoke(stack, [message]) == set()

    # Then it counted once, after three requests
    assert len(receiver.to("/hook")) == 3
    job = _job(api, token, sent["resend_id"])
    assert (job["delivered"], job["failed"], job["pending"], job["status"]) == (1, 0, 0, "completed")


# -- failed writes and crashes ------------------------------------------------------------------------
def test_exactly_once_unwritten_outcomes_are_reported_as_exactly_those_messages(
    api: Api, token: str, receiver: Receiver, stack: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a batch of 4 pairs whose first commit writes only the first two items' outcomes
    sent = _resend(api, token, [f"{receiver.url}/hook"], items=4)
    messages = _receive(stack, 4)
    original = dynamodb.Store.commit
    unwritten_pairs: set[tuple[str, str]] = set()
    calls = {"n": 0}

    def partly(self: dynamodb.Store, outcomes: Sequence[Any], *args: Any) -> list[Any]:
        calls["n"] += 1
        if calls["n"] > 1:
            return original(self, outcomes, *args)
        ordered = sorted(outcomes, key=lambda o: o.subject_id)
        kept, lost = ordered[:2], ordered[2:]
        unwritten_pairs.update((o.subject_id, o.webhook_id) for o in lost)
        return list(original(self, kept, *args)) + lost

    monkeypatch.setattr(dynamodb.Store, "commit", partly)

    # When the batch is worked
    failed = _invoke(stack, messages)

    # Then exactly the messages whose outcomes were not written are reported
    assert len(unwritten_pairs) == 2
    assert failed == {m["MessageId"] for m in messages if _subject(m) in unwritten_pairs}
    job = _job(api, token, sent["resend_id"])
    assert (job["delivered"], job["pending"]) == (2, 2)

    # And handing them back ends every pair once, each URL requested at most twice
    _until_done(stack, [m for m in messages if m["MessageId"] in failed])
    job = _job(api, token, sent["resend_id"])
    assert (job["total_queued"], job["delivered"], job["failed"], job["pending"]) == (4, 4, 0, 0)
    assert set(_requests_per_item(receiver, "/hook").values()) <= {1, 2}
    assert sorted(_requests_per_item(receiver, "/hook")) == [0, 1, 2, 3]


def test_exactly_once_nothing_written_reports_every_message(
    api: Api, token: str, receiver: Receiver, stack: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent = _resend(api, token, [f"{receiver.url}/a", f"{receiver.url}/b"], items=3)
    messages = _receive(stack, 3)
    original = dynamodb.Store.commit
    calls = {"n": 0}

    def nothing_first(self: dynamodb.Store, outcomes: Sequence[Any], *args: Any) -> list[Any]:
        calls["n"] += 1
        return list(outcomes) if calls["n"] == 1 else original(self, outcomes, *args)

    monkeypatch.setattr(dynamodb.Store, "commit", nothing_first)

    failed = _invoke(stack, messages)

    assert failed == {m["MessageId"] for m in messages}
    assert _job(api, token, sent["resend_id"])["pending"] == 3

    _until_done(stack, messages)

    job = _job(api, token, sent["resend_id"])
    assert (job["delivered"], job["failed"], job["pending"]) == (3, 0, 0)
    for path in ("/a", "/b"):
        assert _requests_per_item(receiver, path) == Counter({0: 2, 1: 2, 2: 2})


def test_exactly_once_lambda_dying_in_the_commit_leaves_counters_right_after_replay(
    api: Api, token: str, receiver: Receiver, stack: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a commit that raises the first time (the function dies; SQS redelivers the batch)
    sent = _resend(api, token, [f"{receiver.url}/hook"], items=3)
    messages = _receive(stack, 3)
    original = dynamodb.Store.commit
    calls = {"n": 0}

    def dies_once(self: dynamodb.Store, outcomes: Sequence[Any], *args: Any) -> list[Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("Lambda ran out of time")
        return original(self, outcomes, *args)

    monkeypatch.setattr(dynamodb.Store, "commit", dies_once)

    with pytest.raises(RuntimeError, match="out of time"):
        stack.invoke(DELIVER, sqs_event(messages, stack.stack.get_att("DeliveryQueue", "Arn")))
    assert _job(api, token, sent["resend_id"])["pending"] == 3

    # When the whole batch is replayed
    _until_done(stack, messages)

    # Then every pair counted once, every URL requested at most twice
    job = _job(api, token, sent["resend_id"])
    assert (job["total_queued"], job["delivered"], job["failed"], job["pending"]) == (3, 3, 0, 0)
    assert _requests_per_item(receiver, "/hook") == Counter({0: 2, 1: 2, 2: 2})


def test_exactly_once_lambda_dying_after_a_partial_commit_counts_the_rest_once(
    api: Api, token: str, receiver: Receiver, stack: LocalAws, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a commit that writes one pair's outcome and then the function dies
    sent = _resend(api, token, [f"{receiver.url}/hook"], items=3)
    messages = _receive(stack, 3)
    original = dynamodb.Store.commit
    calls = {"n": 0}

    def dies_midway(self: dynamodb.Store, outcomes: Sequence[Any], *args: Any) -> list[Any]:
        calls["n"] += 1
        if calls["n"] == 1:
            first = sorted(outcomes, key=lambda o: o.subject_id)[:1]
            assert original(self, first, *args) == []
            raise RuntimeError("Lambda was killed")
        return original(self, outcomes, *args)

    monkeypatch.setattr(dynamodb.Store, "commit", dies_midway)
    with pytest.raises(RuntimeError, match="killed"):
        stack.invoke(DELIVER, sqs_event(messages, stack.stack.get_att("DeliveryQueue", "Arn")))
    assert _job(api, token, sent["resend_id"])["delivered"] == 1

    # When SQS redelivers the whole batch
    _until_done(stack, messages)

    # Then the written pair is neither sent nor counted again; the others are, once
    job = _job(api, token, sent["resend_id"])
    assert (job["delivered"], job["failed"], job["pending"], job["status"]) == (3, 0, 0, "completed")
    assert _requests_per_item(receiver, "/hook") == Counter({0: 1, 1: 2, 2: 2})


# -- the partial batch response -----------------------------------------------------------------------
@pytest.mark.parametrize("bad_body", ["not json", "{}", '{"v": 1, "tenant_id": ""}', "[]", ""])
def test_exactly_once_malformed_message_is_reported_and_the_others_succeed(
    api: Api, token: str, receiver: Receiver, stack: LocalAws, bad_body: str
) -> None:
    sent = _resend(api, token, [f"{receiver.url}/hook"], items=2)
    messages = _receive(stack, 2)
    malformed = {**messages[0], "MessageId": "malformed-1", "Body": bad_body, "MD5OfBody": None}

    failed = _invoke(stack, [messages[0], malformed, messages[1]])

    assert failed == {"malformed-1"}
    job = _job(api, token, sent["resend_id"])
    assert (job["delivered"], job["pending"]) == (2, 0)
    assert len(receiver.to("/hook")) == 2


def test_exactly_once_retrying_messages_are_reported_by_their_own_ids(
    api: Api, token: str, receiver: Receiver, stack: LocalAws
) -> None:
    receiver.script("/retry", [500, 200])
    sent_retry = _resend(api, token, [f"{receiver.url}/retry"], items=2)
    hook = api.request(
        "POST", "/webhooks", json_body={"urls": [f"{receiver.url}/ok"], "events": [EVENT]}, token=token
    )
    sent_ok = api.request(
        "GET", BULK, json_body={"event": EVENT, "webhook_id": [{"eq": hook.json["id"]}]}, token=token
    ).json
    messages = _receive(stack, 4)
    retrying = {
        m["MessageId"] for m in messages if json.loads(m["Body"])["job_id"] == sent_retry["resend_id"]
    }

    failed = _invoke(stack, messages)

    # The first /retry answer is a 500 (one of the two pairs); the other pair may get the 200.
    assert failed
    assert failed <= retrying
    assert _job(api, token, sent_ok["resend_id"])["delivered"] == 2
    _until_done(stack, [m for m in messages if m["MessageId"] in failed])
    assert _job(api, token, sent_retry["resend_id"])["delivered"] == 2


def test_exactly_once_every_job_ends_with_nothing_pending(
    api: Api, token: str, receiver: Receiver, stack: LocalAws
) -> None:
    # Given three jobs whose pairs end in every way, worked in one batch
    receiver.script("/flaky", [500, "reset", 200])
    receiver.script("/gone", [410])
    jobs = [
        _resend(api, token, [f"{receiver.url}/ok", f"{receiver.url}/flaky"], items=2),
        _resend(api, token, [f"{receiver.url}/bad"], items=2),
        _resend(api, token, [f"{receiver.url}/gone"], items=2),
    ]
    receiver.script("/bad", [400])
    messages = _receive(stack, 6)

    _until_done(stack, messages, rounds=8)
    _until_done(stack, messages)  # and a late duplicate of everything

    for sent in jobs:
        job = _job(api, token, sent["resend_id"])
        assert job["pending"] == 0, job
        assert job["status"] == "completed", job
        assert job["delivered"] + job["failed"] == job["total_queued"] == 2, job
    assert len(receiver.to("/ok")) == 2


# -- a pair's count lives on its first record ---------------------------------------------------------
def test_exactly_once_pair_ended_by_its_second_url_counts_once(
    api: Api, token: str, receiver: Receiver, stack: LocalAws
) -> None:
    # Given a two-URL webhook whose second URL fails once
    receiver.script("/b", [500, 200])
    sent = _resend(api, token, [f"{receiver.url}/a", f"{receiver.url}/b"])
    [message] = _receive(stack, 1)
    assert _invoke(stack, [message]) == {message["MessageId"]}
    assert _job(api, token, sent["resend_id"])["pending"] == 1

    # When the retry ends the pair (its first record, already delivered, is not rewritten), and a
    # duplicate of the message runs afterwards
    assert _invoke(stack, [message]) == set()
    assert _invoke(stack, [message]) == set()

    # Then the pair counted once, and the first URL was called once
    assert (len(receiver.to("/a")), len(receiver.to("/b"))) == (1, 2)
    job = _job(api, token, sent["resend_id"])
    assert (job["delivered"], job["failed"], job["pending"]) == (1, 0, 0)
    records = sorted(_records(api, token, sent["resend_id"]), key=lambda r: r["url_index"])
    assert [(r["status"], r["attempts"]) for r in records] == [("delivered", 1), ("delivered", 2)]


def test_exactly_once_pair_counted_before_its_webhook_gained_a_url_is_done(
    api: Api, token: str, receiver: Receiver, stack: LocalAws
) -> None:
    # Given a pair delivered and counted on its single URL
    sent = _resend(api, token, [f"{receiver.url}/a"])
    [message] = _receive(stack, 1)
    assert _invoke(stack, [message]) == set()
    _, webhook_id = _subject(message)

    # When the webhook gains a second URL and the message is delivered again
    body = {"urls": [f"{receiver.url}/a", f"{receiver.url}/c"], "events": [EVENT]}
    assert api.request("PUT", f"/webhooks/{webhook_id}", json_body=body, token=token).status == 200
    assert _invoke(stack, [message]) == set()

    # Then the ended pair is neither sent nor counted again
    assert (len(receiver.to("/a")), len(receiver.to("/c"))) == (1, 0)
    job = _job(api, token, sent["resend_id"])
    assert (job["delivered"], job["pending"]) == (1, 0)


def test_exactly_once_stale_copy_ending_a_pair_another_copy_advanced_counts_it_once(
    api: Api, token: str, receiver: Receiver, stack: LocalAws
) -> None:
    """Two copies of a two-URL pair ran at once: copy A delivered the first URL and must retry
    the second; copy B, which read the records before A wrote them, delivered both. A writes
    first, so B's rewrite of the first record is refused: B still counts the pair, once."""
    from webhook_resend import clock
    from webhook_resend.aws import clients
    from webhook_resend.models.records import Delivery

    sent = _resend(api, token, [f"{receiver.url}/a", f"{receiver.url}/b"])
    [message] = _receive(stack, 1)
    body = json.loads(message["Body"])
    tenant_id, job_id = body["tenant_id"], body["job_id"]
    subject_id, webhook_id = _subject(message)
    store = clients.delivery_store()

    def record(index: int, status: str) -> Delivery:
        return Delivery(
            job_id=job_id,
            subject_id=subject_id,
            webhook_id=webhook_id,
            url_index=index,
            url=f"{receiver.url}/{'ab'[index]}",
            status=status,
            attempts=1,
            last_attempt_on=clock.now_text(),
        )

    def outcome(records: list[Delivery], terminal: str | None) -> dynamodb.PairOutcome:
        return dynamodb.PairOutcome(tenant_id, job_id, subject_id, webhook_id, records, terminal)

    when, expires = clock.now_text(), clock.expires_at(1)
    copy_a = outcome([record(0, "delivered"), record(1, "retrying")], None)
    copy_b = outcome([record(0, "delivered"), record(1, "delivered")], "delivered")

    assert store.commit([copy_a], when, expires) == []
    assert store.commit([copy_b], when, expires) == []
    job = _job(api, token, sent["resend_id"])
    assert (job["delivered"], job["pending"]) == (1, 0)

    # B's message handed back once more, and A's retry: both find the pair ended
    assert store.commit([copy_b], when, expires) == []
    assert _invoke(stack, [message]) == set()
    assert receiver.to("/a") == []
    assert receiver.to("/b") == []
    assert _job(api, token, sent["resend_id"]) == job
    statuses = sorted((r["url_index"], r["status"]) for r in _records(api, token, sent["resend_id"]))
    assert statuses == [(0, "delivered"), (1, "delivered")]


def test_exactly_once_postback_only_task_is_counted_once_when_delivered_again(
    api: Api, tenant: dict[str, Any], receiver: Receiver, stack: LocalAws
) -> None:
    """A task with only a postback has no first record (URL index 0): its count is kept by a
    bare counting item there, which the deliveries listing does not show."""
    from tests.integration.test_dataforseo import _put_task, _task_data
    from tests.integration.test_dataforseo import _resend as dataforseo_resend

    task_id = _put_task(api, tenant, _task_data(postback_url=f"{receiver.url}/post"), {"ok": 1})
    answer = dataforseo_resend(api, tenant, [{"id": task_id}])
    [message] = _receive(stack, 1)

    assert _invoke(stack, [message]) == set()
    assert _invoke(stack, [message]) == set()

    assert len(receiver.to("/post")) == 1
    job = _job(api, str(tenant["token"]), answer["resend_id"])
    assert (job["delivered"], job["failed"], job["pending"]) == (1, 0, 0)
    [record] = _records(api, str(tenant["token"]), answer["resend_id"])
    assert (record["url_index"], record["status"], record["attempts"]) == (1, "delivered", 1)
