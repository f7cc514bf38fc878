"""Pause, resume and cancel (SPEC §11; resends/control.py), in-process on moto: a paused job's
pairs are held without an attempt and delivered once each after a resume; a cancel ends every pair
not yet delivered `cancelled`; a paused selection stops at its step and continues on resume; each
call is idempotent, `409` for an impossible move, `404` for another tenant's job, and costs one
DynamoDB write and at most one SQS message whatever the job's size; exactly one signed
`resend.cancelled` (and `resend.rejected`) event.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from standardwebhooks import Webhook

from tests.conftest import Api, LocalAws, Receiver
from tests.counters import assert_counters_add_up
from tests.parked import all_due_parked, job_parked
from webhook_resend import clock
from webhook_resend.aws import clients, keys
from webhook_resend.delivery import parking

BULK = "/content_items/bulk/webhooks"
EVENT = "content_item.changed"


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


def _webhook(api: Api, token: str, url: str) -> str:
    reply = api.request("POST", "/webhooks", json_body={"urls": [url], "events": [EVENT]}, token=token)
    assert reply.status == 201, reply.body
    return str(reply.json["id"])


def _resend(api: Api, token: str, webhook_id: str, ids: list[str]) -> str:
    """A resend of `ids` to the webhook, queued at once (every pair in the delivery queue)."""
    body = {"event": EVENT, "webhook_id": [{"eq": webhook_id}], "id": [{"in": ids}], "limit": 1000}
    reply = api.request("GET", BULK, json_body=body, token=token)
    assert reply.status == 200, reply.body
    assert reply.json["total_queued"] == len(ids)
    return str(reply.json["resend_id"])


def _job(api: Api, token: str, job_id: str) -> dict[str, Any]:
    reply = api.request("GET", f"/resends/{job_id}", token=token)
    assert reply.status == 200, reply.body
    assert_counters_add_up(reply.json)
    return dict(reply.json)


def _move(api: Api, token: str, job_id: str, move: str, status: int = 200) -> dict[str, Any]:
    reply = api.request("POST", f"/resends/{job_id}/{move}", token=token)
    assert reply.status == status, reply.body
    if status == 200:
        assert_counters_add_up(reply.json)
        # The answer is exactly the job document GET /resends/{id} answers (rate/eta aside: a
        # running job's rate is read at the moment of each answer).
        document = _job(api, token, job_id)
        assert {k: v for k, v in reply.json.items() if k not in ("rate", "eta")} == {
            k: v for k, v in document.items() if k not in ("rate", "eta")
        }
    return dict(reply.json)


def _records(api: Api, token: str, job_id: str, status: str | None = None) -> list[dict[str, Any]]:
    query = f"?status={status}&limit=1000" if status else "?limit=1000"
    reply = api.request("GET", f"/resends/{job_id}/deliveries{query}", token=token)
    assert reply.status == 200, reply.body
    return list(reply.json["data"])


def _held(tenant_id: str, job_id: str) -> int:
    """How many pairs of the job are held (parked under the job), in every shard."""
    found = 0
    for shard in range(keys.PARK_SHARDS):
        start = None
        while True:
            page, start = clients.store().held_parked(tenant_id, job_id, shard, 100, start)
            found += len(page)
            if start is None:
                break
    return found


def _events(receiver: Receiver, secret: str) -> list[dict[str, Any]]:
    """The operational events received at /ops, each verified with the tenant's callback_secret."""
    return [Webhook(secret).verify(r.body, r.headers) for r in receiver.to("/ops")]


def _set_notify_url(api: Api, token: str, url: str) -> None:
    assert api.request("PUT", "/settings", json_body={"notify_url": url}, token=token).status == 200


@pytest.fixture
def running_job(api: Api, tenant: dict[str, Any], receiver: Receiver) -> tuple[str, list[str]]:
    """A job of 4 pairs queued to the receiver's /hook (nothing delivered yet), with the tenant's
    notify_url at /ops: (job id, item ids)."""
    token = tenant["token"]
    _set_notify_url(api, token, f"{receiver.url}/ops")
    ids = _put_items(api, token, 4)
    return _resend(api, token, _webhook(api, token, f"{receiver.url}/hook"), ids), ids


# -- pause and resume ---------------------------------------------------------------------------------
def test_controls_pause_holds_every_pair_and_resume_delivers_each_once(
    api: Api,
    tenant: dict[str, Any],
    receiver: Receiver,
    deliveries: Callable[..., int],
    running_job: tuple[str, list[str]],
    sqs: Any,
    queue: str,
) -> None:
    token, (job_id, ids) = tenant["token"], running_job

    # When the job is paused, then its 4 queued pairs are handed to the consumer
    paused = _move(api, token, job_id, "pause")
    handled = deliveries()

    # Then nothing reaches the receiver: each pair is held under its job, its message done
    assert (paused["status"], paused["pending"]) == ("paused", 4)
    assert paused["paused_on"] is not None
    assert handled == 4
    assert receiver.to("/hook") == []
    assert _held(tenant["tenant_id"], job_id) == 4
    attributes = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert (
        attributes["ApproximateNumberOfMessages"]
        == attributes["ApproximateNumberOfMessagesNotVisible"]
        == "0"
    )
    # no attempt was used up: no delivery record says one was made
    assert all(r["attempts"] == 0 for r in _records(api, token, job_id))
    # and the waker never wakes them, however late it runs
    woken = parking.wake(
        clients.store(), clients.publisher(), now=clock.now() + timedelta(days=3), time_left=lambda: 60.0
    )
    assert woken.woken == 0
    assert _job(api, token, job_id)["status"] == "paused"

    # When it is resumed
    resumed = _move(api, token, job_id, "resume")
    deliveries()

    # Then every pair is delivered exactly once, and the job completes with one completion event
    assert resumed["status"] == "running"
    assert sorted(r.body.decode().count(i) for r in receiver.to("/hook") for i in ids) == [0] * 12 + [1] * 4
    assert len(receiver.to("/hook")) == 4
    job = _job(api, token, job_id)
    assert (job["status"], job["delivered"], job["cancelled"], job["pending"]) == ("completed", 4, 0, 0)
    assert _held(tenant["tenant_id"], job_id) == 0
    events = _events(receiver, tenant["callback_secret"])
    assert [(e["type"], e["data"]["job"]["id"]) for e in events] == [("resend.completed", job_id)]


def test_controls_pause_stops_a_selection_at_its_step_and_resume_continues_it(
    api: Api, tenant: dict[str, Any], receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    # Given a resend by filter, still selecting (its first step not yet run)
    token = tenant["token"]
    ids = _put_items(api, token, 3)
    _webhook(api, token, f"{receiver.url}/hook")
    reply = api.request(
        "POST",
        "/resends",
        json_body={"event": EVENT, "filter": {"model": {"eq": "Post"}}},
        token=token,
    )
    assert reply.status == 202, reply.body
    job_id = reply.json["id"]

    # When it is paused and the fan-out and delivery functions run
    assert _move(api, token, job_id, "pause")["status"] == "paused"
    deliveries()

    # Then the selection stopped: nothing selected, nothing sent
    job = _job(api, token, job_id)
    assert (job["status"], job["total_queued"]) == ("paused", 0)
    assert receiver.to("/hook") == []

    # When it is resumed, it selects from where it stopped and delivers each pair once
    assert _move(api, token, job_id, "resume")["status"] == "selecting"
    deliveries()
    job = _job(api, token, job_id)
    assert (job["status"], job["total_items"], job["delivered"]) == ("completed", 3, 3)
    assert sorted(r.body.decode().count(i) for r in receiver.to("/hook") for i in ids) == [0] * 6 + [1] * 3


# -- cancel -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("paused_first", [False, True], ids=["from-running", "from-paused"])
def test_controls_cancel_ends_every_pair_not_delivered_cancelled_with_one_event(
    api: Api,
    tenant: dict[str, Any],
    receiver: Receiver,
    deliveries: Callable[..., int],
    running_job: tuple[str, list[str]],
    paused_first: bool,
) -> None:
    token, (job_id, _) = tenant["token"], running_job
    if paused_first:
        _move(api, token, job_id, "pause")
        deliveries()  # the pairs are held
        assert _held(tenant["tenant_id"], job_id) == 4

    # When the job is cancelled and the consumer runs
    cancelled = _move(api, token, job_id, "cancel")
    deliveries()

    # Then no pair was sent, each ended cancelled, and the counters say so
    assert (cancelled["status"], cancelled["cancelled_on"] is not None) == ("cancelled", True)
    assert receiver.to("/hook") == []
    job = _job(api, token, job_id)
    assert (job["status"], job["cancelled"], job["delivered"], job["failed"], job["pending"]) == (
        "cancelled",
        4,
        0,
        0,
        0,
    )
    assert job["completed_on"] is not None
    records = _records(api, token, job_id, "cancelled")
    assert [r["status"] for r in records] == ["cancelled"] * 4
    assert all(r["attempts"] == 0 and "cancelled" in r["last_error"] for r in records)
    assert _records(api, token, job_id, "pending") == []
    assert _held(tenant["tenant_id"], job_id) == 0
    # and exactly one resend.cancelled, signed, with the final counts
    [event] = _events(receiver, tenant["callback_secret"])
    assert event["type"] == "resend.cancelled"
    assert event["data"]["job"] == _job(api, token, job_id)
    assert event["data"]["duration_seconds"] >= 0


def test_controls_cancel_counts_a_pair_once_when_sqs_hands_it_twice(
    api: Api,
    tenant: dict[str, Any],
    deliveries: Callable[..., int],
    running_job: tuple[str, list[str]],
    sqs: Any,
    queue: str,
) -> None:
    token, (job_id, _) = tenant["token"], running_job
    # Given every queued message sent a second time (SQS at-least-once)
    copies = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, VisibilityTimeout=0)["Messages"]
    for message in copies:
        sqs.send_message(QueueUrl=queue, MessageBody=message["Body"], MessageGroupId=tenant["tenant_id"])

    _move(api, token, job_id, "cancel")
    deliveries()

    job = _job(api, token, job_id)
    assert (job["cancelled"], job["pending"], job["total_queued"]) == (4, 0, 4)


def test_controls_cancel_of_a_job_with_nothing_pending_announces_at_once(
    api: Api, tenant: dict[str, Any], receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    # Given a resend by filter paused before it selected anything
    token = tenant["token"]
    _set_notify_url(api, token, f"{receiver.url}/ops")
    _put_items(api, token, 2)
    _webhook(api, token, f"{receiver.url}/hook")
    body = {"event": EVENT, "filter": {"model": {"eq": "Post"}}}
    job_id = api.request("POST", "/resends", json_body=body, token=token).json["id"]
    _move(api, token, job_id, "pause")

    # When it is cancelled (the cancel call announces: no consumer batch ever will)
    _move(api, token, job_id, "cancel")
    deliveries()

    job = _job(api, token, job_id)
    assert (job["status"], job["total_queued"], job["cancelled"]) == ("cancelled", 0, 0)
    assert receiver.to("/hook") == []
    assert [e["type"] for e in _events(receiver, tenant["callback_secret"])] == ["resend.cancelled"]


# -- idempotence, impossible moves, isolation ----------------------------------------------------------
def test_controls_repeats_answer_the_job_unchanged_and_impossible_moves_are_409(
    api: Api, tenant: dict[str, Any], deliveries: Callable[..., int], running_job: tuple[str, list[str]]
) -> None:
    token, (job_id, _) = tenant["token"], running_job

    first = _move(api, token, job_id, "pause")
    again = _move(api, token, job_id, "pause")
    assert first == again
    assert _move(api, token, job_id, "resume")["status"] == "running"
    assert _move(api, token, job_id, "resume")["status"] == "running"

    deliveries()  # everything delivered: completed
    assert _job(api, token, job_id)["status"] == "completed"
    for move in ("pause", "resume", "cancel"):
        reply = api.request("POST", f"/resends/{job_id}/{move}", token=token)
        assert reply.status == 409, (move, reply.body)
        [problem] = reply.json["errors"]
        assert problem["field"] == "status"
        assert "completed" in problem["message"]
    assert _job(api, token, job_id)["status"] == "completed"


def test_controls_a_cancelled_job_cannot_be_paused_or_resumed(
    api: Api, tenant: dict[str, Any], running_job: tuple[str, list[str]]
) -> None:
    token, (job_id, _) = tenant["token"], running_job
    _move(api, token, job_id, "cancel")

    assert _move(api, token, job_id, "cancel")["status"] == "cancelled"
    for move in ("pause", "resume"):
        reply = api.request("POST", f"/resends/{job_id}/{move}", token=token)
        assert reply.status == 409, reply.body
        assert "cancelled" in reply.json["errors"][0]["message"]


@pytest.mark.parametrize("move", ["pause", "resume", "cancel"])
def test_controls_each_route_is_isolated_per_tenant(
    api: Api,
    tenant: dict[str, Any],
    other_tenant: dict[str, Any],
    running_job: tuple[str, list[str]],
    move: str,
) -> None:
    job_id = running_job[0]
    before = _job(api, tenant["token"], job_id)

    foreign = api.request("POST", f"/resends/{job_id}/{move}", token=other_tenant["token"])
    anonymous = api.request("POST", f"/resends/{job_id}/{move}")
    malformed = api.request("POST", f"/resends/not-a-uuid/{move}", token=tenant["token"])
    wrong_method = api.request("GET", f"/resends/{job_id}/{move}", token=tenant["token"])

    assert foreign.status == 404, foreign.body
    assert anonymous.status == 401
    assert malformed.status == 404
    assert wrong_method.status == 405
    after = _job(api, tenant["token"], job_id)
    assert (after["status"], after["pending"], after["paused_on"], after["cancelled_on"]) == (
        before["status"],
        before["pending"],
        None,
        None,
    )


# -- cost -------------------------------------------------------------------------------------------------
class _Calls:
    """A handler client wrapped to count its calls by operation."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._client, name)
        if name.startswith("_") or name in ("exceptions", "meta") or not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            # The request's guard reads the tenant (its token): not the control's cost.
            if kwargs.get("Key", {}).get("sk") != {"S": keys.TENANT_SK}:
                self.calls.append(name)
            return found(*args, **kwargs)

        return call


@pytest.mark.parametrize("move", ["pause", "resume", "cancel"])
def test_controls_cost_one_write_and_at_most_one_message_whatever_the_job_holds(
    api: Api,
    tenant: dict[str, Any],
    receiver: Receiver,
    deliveries: Callable[..., int],
    stack: LocalAws,
    monkeypatch: pytest.MonkeyPatch,
    move: str,
) -> None:
    # Given a paused job (for resume) or a running one, of 30 pairs, 30 of them held when paused
    token = tenant["token"]
    ids = _put_items(api, token, 30)
    job_id = _resend(api, token, _webhook(api, token, f"{receiver.url}/hook"), ids)
    if move == "resume":
        _move(api, token, job_id, "pause")
        deliveries()
        assert _held(tenant["tenant_id"], job_id) == 30
    dynamodb, sqs_client = _Calls(clients.boto_client("dynamodb")), _Calls(clients.boto_client("sqs"))
    monkeypatch.setattr(clients.store(), "_client", dynamodb)
    monkeypatch.setattr(clients.page_publisher(), "_client", sqs_client)

    reply = api.request("POST", f"/resends/{job_id}/{move}", token=token)

    assert reply.status == 200, reply.body
    assert dynamodb.calls == ["update_item"]
    assert sqs_client.calls == ([] if move == "pause" else ["send_message_batch"])


# -- a resume that lands while a batch holds the job's pairs --------------------------------------------
def test_controls_pairs_held_by_a_batch_that_read_the_job_before_a_resume_are_released(
    api: Api,
    tenant: dict[str, Any],
    receiver: Receiver,
    deliveries: Callable[..., int],
    running_job: tuple[str, list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token, (job_id, _) = tenant["token"], running_job
    _move(api, token, job_id, "pause")
    # Given the resume lands right after the consumer parked the pairs (it read the job paused),
    # so the resume's walk of the held pairs may find them or not
    client = clients.delivery_store()._client
    real = client.batch_write_item
    resumed: list[dict[str, Any]] = []

    def batch_write_item(**kwargs: Any) -> Any:
        answer = real(**kwargs)
        if not resumed:
            resumed.append(_move(api, token, job_id, "resume"))
        return answer

    monkeypatch.setattr(client, "batch_write_item", batch_write_item)

    deliveries()

    # Then every pair is delivered exactly once all the same
    assert [r["status"] for r in resumed] == ["running"]
    job = _job(api, token, job_id)
    assert (job["status"], job["delivered"]) == ("completed", 4)
    assert len(receiver.to("/hook")) == 4
    assert _held(tenant["tenant_id"], job_id) == 0


# -- resend.rejected ----------------------------------------------------------------------------------
class TestRejected:
    @pytest.fixture
    def local_env(self) -> dict[str, str]:
        return {"ALLOW_PRIVATE_URLS": "true", "RETRY_SCHEDULE": "0,0,0", "MAX_PAIRS_PER_REQUEST": "2"}

    def test_controls_a_selection_over_the_cap_announces_resend_rejected_once(
        self, api: Api, tenant: dict[str, Any], receiver: Receiver, deliveries: Callable[..., int]
    ) -> None:
        token = tenant["token"]
        _set_notify_url(api, token, f"{receiver.url}/ops")
        _put_items(api, token, 3)
        _webhook(api, token, f"{receiver.url}/hook")
        body = {"event": EVENT, "filter": {"model": {"eq": "Post"}}}
        job_id = api.request("POST", "/resends", json_body=body, token=token).json["id"]

        deliveries()

        job = _job(api, token, job_id)
        assert job["status"] == "rejected"
        [event] = _events(receiver, tenant["callback_secret"])
        assert event["type"] == "resend.rejected"
        assert event["data"]["job"] == job
        assert "at most 2" in event["data"]["job"]["reason"]


def test_controls_a_selection_of_nothing_announces_its_completion_once(
    api: Api, tenant: dict[str, Any], receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    # A selection that ends with nothing pending is announced by its last step: no consumer
    # batch ever will.
    token = tenant["token"]
    _set_notify_url(api, token, f"{receiver.url}/ops")
    _put_items(api, token, 2)
    _webhook(api, token, f"{receiver.url}/hook")
    body = {"event": EVENT, "filter": {"model": {"eq": "Page"}}}
    job_id = api.request("POST", "/resends", json_body=body, token=token).json["id"]

    deliveries()

    job = _job(api, token, job_id)
    assert (job["status"], job["total_queued"]) == ("completed", 0)
    assert [(e["type"], e["data"]["job"]["id"]) for e in _events(receiver, tenant["callback_secret"])] == [
        ("resend.completed", job_id)
    ]


# -- a cancel ends the pairs parked for a backoff or a deferral at once ----------------------------------
class TestParkedPairs:
    """Pairs parked for hours (a 500 with a backoff of two hours, or a 429 with `Retry-After: 3600`)."""

    @pytest.fixture
    def local_env(self) -> dict[str, str]:
        return {"ALLOW_PRIVATE_URLS": "true", "RETRY_SCHEDULE": "7200", "DELIVERY_TIMEOUT_SECONDS": "2"}

    @pytest.mark.parametrize(
        ("answer", "reason"),
        [(500, "retry"), ((429, {"Retry-After": "3600"}), "deferred")],
        ids=["backoff", "retry-after"],
    )
    def test_controls_cancel_ends_pairs_parked_for_hours_at_once_and_the_waker_never_sends_them(
        self,
        api: Api,
        tenant: dict[str, Any],
        receiver: Receiver,
        deliveries: Callable[..., int],
        running_job: tuple[str, list[str]],
        answer: Any,
        reason: str,
    ) -> None:
        token, tenant_id, (job_id, _) = tenant["token"], tenant["tenant_id"], running_job
        # Given each of the 4 pairs attempted once and parked for an hour or more
        receiver.script("/hook", [answer])
        deliveries()
        assert len(receiver.to("/hook")) == 4
        parked = job_parked(tenant_id, job_id)
        assert sorted(p.reason for p in parked) == [reason] * 4
        assert all(p.due_on > clock.canonical(clock.now() + timedelta(minutes=50)) for p in parked)
        assert _job(api, token, job_id)["pending"] == 4

        # When the job is cancelled and the fan-out walk and the consumer run (not the waker)
        _move(api, token, job_id, "cancel")
        deliveries()

        # Then every parked pair ended cancelled at once, counted once, its item gone
        job = _job(api, token, job_id)
        assert (job["status"], job["pending"], job["cancelled"], job["delivered"], job["failed"]) == (
            "cancelled",
            0,
            4,
            0,
            0,
        )
        assert job["completed_on"] is not None
        records = _records(api, token, job_id)
        assert [r["status"] for r in records] == ["cancelled"] * 4
        assert all(r["attempts"] == 1 and r["next_attempt_on"] is None for r in records)
        assert all(r["last_error"] == "the resend was cancelled before this was delivered" for r in records)
        assert job_parked(tenant_id, job_id) == []
        # and the waker, run past their due time, has nothing of them to wake: the receiver saw
        # only the first attempts
        woken = parking.wake(
            clients.store(), clients.publisher(), now=clock.now() + timedelta(days=2), time_left=lambda: 60.0
        )
        assert woken.woken == 0
        deliveries()
        assert len(receiver.to("/hook")) == 4
        assert _job(api, token, job_id)["cancelled"] == 4
        [event] = _events(receiver, tenant["callback_secret"])
        assert (event["type"], event["data"]["job"]["cancelled"]) == ("resend.cancelled", 4)

    def test_controls_a_waker_waking_the_pairs_a_cancel_walks_counts_each_once(
        self,
        api: Api,
        tenant: dict[str, Any],
        receiver: Receiver,
        deliveries: Callable[..., int],
        running_job: tuple[str, list[str]],
    ) -> None:
        token, tenant_id, (job_id, _) = tenant["token"], tenant["tenant_id"], running_job
        receiver.script("/hook", [500])
        deliveries()
        assert len(job_parked(tenant_id, job_id)) == 4
        # Given the waker read the 4 pairs as due (two hours on) just before the cancel's walk
        late = clock.now() + timedelta(hours=3)
        read_by_waker = all_due_parked(late)
        assert len(read_by_waker) == 4

        # When the walk ends them, then the waker sends what it read and deletes what is left
        _move(api, token, job_id, "cancel")
        deliveries()
        report = parking.WakeReport()
        parking.wake_page(clients.store(), clients.publisher(), read_by_waker, report)
        handed = deliveries()

        # Then the waker's copies reached the consumer and changed nothing: each pair counted once
        assert (report.woken, report.deleted, report.parked_again) == (4, 0, 4)
        assert handed == 4
        job = _job(api, token, job_id)
        assert (job["status"], job["pending"], job["cancelled"], job["failed"]) == ("cancelled", 0, 4, 0)
        assert len(receiver.to("/hook")) == 4
        assert [e["type"] for e in _events(receiver, tenant["callback_secret"])] == ["resend.cancelled"]

    def test_controls_a_paused_jobs_records_show_no_next_attempt_until_the_resume(
        self,
        api: Api,
        tenant: dict[str, Any],
        receiver: Receiver,
        deliveries: Callable[..., int],
        running_job: tuple[str, list[str]],
    ) -> None:
        token, (job_id, _) = tenant["token"], running_job
        # Given 4 pairs retrying, their next attempt two hours on
        receiver.script("/hook", [500])
        deliveries()
        before = _records(api, token, job_id)
        assert all(r["status"] == "retrying" and r["next_attempt_on"] is not None for r in before)

        # When the job is paused, its records show the pairs held: retrying, no next attempt
        _move(api, token, job_id, "pause")
        paused = _records(api, token, job_id)
        assert [(r["status"], r["next_attempt_on"], r["held_until"]) for r in paused] == [
            ("retrying", None, None)
        ] * 4
        assert _records(api, token, job_id, "retrying") == paused
        # (nothing was rewritten: the stored records keep their time, shown again on resume)
        _move(api, token, job_id, "resume")
        resumed = _records(api, token, job_id)
        assert sorted(r["next_attempt_on"] for r in resumed) == sorted(r["next_attempt_on"] for r in before)

    def test_controls_pairs_a_batch_parks_for_a_backoff_just_after_a_cancel_walk_are_ended(
        self,
        api: Api,
        tenant: dict[str, Any],
        receiver: Receiver,
        deliveries: Callable[..., int],
        running_job: tuple[str, list[str]],
        sqs: Any,
        stack: LocalAws,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        token, tenant_id, (job_id, _) = tenant["token"], tenant["tenant_id"], running_job
        receiver.script("/hook", [500])
        # Given the cancel lands while the batch's attempts are on the wire, and its walk has run
        # (finding nothing parked) before the batch parks the pairs for their two-hour backoff
        client = clients.delivery_store()._client
        real = client.batch_write_item
        cancelled: list[dict[str, Any]] = []

        def batch_write_item(**kwargs: Any) -> Any:
            if not cancelled:
                cancelled.append(_move(api, token, job_id, "cancel"))
                fanout = stack.stack.ref("FanoutQueue")
                for message in sqs.receive_message(QueueUrl=fanout, MaxNumberOfMessages=10)["Messages"]:
                    sqs.delete_message(QueueUrl=fanout, ReceiptHandle=message["ReceiptHandle"])
            return real(**kwargs)

        monkeypatch.setattr(client, "batch_write_item", batch_write_item)

        deliveries()

        # Then the batch, reading the job again after parking, hands the pairs back at once, and
        # each ends cancelled after its one attempt
        assert [c["status"] for c in cancelled] == ["cancelled"]
        job = _job(api, token, job_id)
        assert (job["status"], job["pending"], job["cancelled"], job["failed"]) == ("cancelled", 0, 4, 0)
        assert job_parked(tenant_id, job_id) == []
        assert len(receiver.to("/hook")) == 4
