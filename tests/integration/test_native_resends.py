"""Native resends, `POST /resends`, in-process on moto (SPEC §5.3, §5.4, §7): by item ids, task
ids, filter (beyond one fan-out page), webhook ids, event and past outcome; dry runs; every
validation error; and the job's counters from the 202 to completion, page by page.

The API call queues pages (ids) or the first step of a selection (filter, outcome) on the fan-out
queue; `deliveries()` pumps every SQS event source of the template (fan-out, then delivery) the
way Lambda does, and the tests that watch `pending` count down poll the `SqsEventSource`s
themselves, one message at a time. The selection's own protocol is tested in test_selections.py.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from devstack.sqs import SqsEventSource, mappings_of
from tests.conftest import Api, LocalAws, Receiver, Reply
from tests.counters import assert_counters_add_up
from webhook_resend.resends import native, selection, selections

EVENT = "content_item.changed"
PUBLISHED = "content_item.published"


# -- helpers ------------------------------------------------------------------------------------------
def _put_item(api: Api, token: str, n: int, **fields: Any) -> str:
    item_id = f"00000000-0000-4000-8000-{n:012d}"
    body = {
        "model": "Post",
        "tags": ["news"],
        "created_on": f"2024-01-01T00:{n // 60:02d}:{n % 60:02d}Z",
        "payload": {"n": n},
        **fields,
    }
    reply = api.request("PUT", f"/content_items/{item_id}", json_body=body, token=token)
    assert reply.status == 201, reply.body
    return item_id


def _webhook(api: Api, token: str, urls: list[str], events: list[str] | None = None) -> dict[str, Any]:
    body = {"urls": urls, "events": events or [EVENT]}
    reply = api.request("POST", "/webhooks", json_body=body, token=token)
    assert reply.status == 201, reply.body
    return reply.json


def _task(api: Api, token: str, data: dict[str, Any]) -> str:
    task_id = str(uuid.uuid4())
    body = {"data": {"api": "serp", "se": "google", "keyword": "rashford", **data}, "result": [{"rank": 1}]}
    reply = api.request("PUT", f"/tasks/{task_id}", json_body=body, token=token)
    assert reply.status == 201, reply.body
    return task_id


def _resend(api: Api, token: str, body: dict[str, Any]) -> Reply:
    return api.request("POST", "/resends", json_body=body, token=token)


def _started(api: Api, token: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = _resend(api, token, body)
    assert reply.status == 202, reply.body
    return reply.json


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
    return reply.json["data"]


def _pairs(records: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(r["subject_id"], r["webhook_id"]) for r in records}


def _depth(stack: LocalAws, queue: str) -> int:
    answer = boto3.client("sqs").get_queue_attributes(
        QueueUrl=stack.stack.ref(queue),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(answer["ApproximateNumberOfMessages"]) + int(answer["ApproximateNumberOfMessagesNotVisible"])


def _jobs(stack: LocalAws) -> list[dict[str, Any]]:
    # A Scan is fine in a test: it proves no job was written by a refused request.
    items = boto3.client("dynamodb").scan(TableName=stack.stack.ref("DataTable"))["Items"]
    return [item for item in items if item.get("sk", {}).get("S") == "JOB"]


def _nothing_queued(stack: LocalAws) -> bool:
    return _jobs(stack) == [] and _depth(stack, "FanoutQueue") == 0 and _depth(stack, "DeliveryQueue") == 0


def _errors(reply: Reply) -> list[dict[str, Any]]:
    assert reply.status == 422, reply.body
    return list(reply.json["errors"])


def _names(reply: Reply, name: str) -> bool:
    """The 422 names `name`: as the field, or (for rules between fields) in its message."""
    return any(e["field"] == name or name in (e["message"] or "") for e in _errors(reply))


def _canonical(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Pump:
    """The two SQS event sources of the template, polled by hand: one fan-out page at a time,
    then every delivery message that page produced."""

    def __init__(self, stack: LocalAws) -> None:
        by_function = {m.function: m for m in mappings_of(stack.stack)}
        self.fanout = SqsEventSource(stack, by_function["FanoutFunction"], wait_seconds=0)
        self.delivery = SqsEventSource(stack, by_function["DeliverFunction"], wait_seconds=0)

    def one_page(self) -> int:
        return self.fanout.poll_once()

    def deliver_all(self) -> int:
        handled = 0
        for _ in range(100):
            count = self.delivery.poll_once()
            if not count:
                return handled
            handled += count
        raise AssertionError("the delivery queue never emptied")


@pytest.fixture
def hook(api: Api, token: str, receiver: Receiver) -> dict[str, Any]:
    """One webhook with two URLs, subscribed to EVENT."""
    return _webhook(api, token, [f"{receiver.url}/one", f"{receiver.url}/two"])


# -- by item ids ----------------------------------------------------------------------------------------
def test_resend_by_item_ids_answers_202_with_the_job_counted_at_once(
    api: Api, token: str, hook: dict[str, Any]
) -> None:
    items = [_put_item(api, token, n) for n in range(3)]

    reply = _resend(api, token, {"event": EVENT, "item_ids": items})

    assert reply.status == 202, reply.body
    job = reply.json
    assert set(job) == {
        "id",
        "source",
        "event",
        "status",
        "created_on",
        "completed_on",
        "total_items",
        "total_queued",
        "delivered",
        "failed",
        "cancelled",
        "pending",
        "paused_on",
        "cancelled_on",
        "reason",
        "rate",
        "eta",
    }
    assert job["source"] == "api"
    assert job["event"] == EVENT
    assert job["status"] == "running"
    assert job["reason"] is None
    assert job["completed_on"] is None
    assert (job["cancelled"], job["paused_on"], job["cancelled_on"]) == (0, None, None)
    assert (job["total_items"], job["total_queued"]) == (3, 3)
    assert (job["delivered"], job["failed"], job["pending"]) == (0, 0, 3)
    assert _job(api, token, job["id"]) == job


def test_resend_by_item_ids_completes_with_every_pair_delivered(
    api: Api, token: str, hook: dict[str, Any], receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    items = [_put_item(api, token, n) for n in range(3)]
    started = _started(api, token, {"event": EVENT, "item_ids": items})

    deliveries()

    job = _job(api, token, started["id"])
    assert job["status"] == "completed"
    assert (job["delivered"], job["failed"], job["pending"]) == (3, 0, 0)
    assert job["completed_on"] is not None
    assert _pairs(_records(api, token, started["id"])) == {(item, hook["id"]) for item in items}
    for path in ("/one", "/two"):
        bodies = [json.loads(r.body) for r in receiver.to(path)]
        assert sorted(b["payload"]["n"] for b in bodies) == [0, 1, 2]
        assert {b["event"] for b in bodies} == {EVENT}


def test_resend_by_item_ids_counts_a_repeated_id_once(api: Api, token: str, hook: dict[str, Any]) -> None:
    item = _put_item(api, token, 1)

    job = _started(api, token, {"event": EVENT, "item_ids": [item, item]})

    assert (job["total_items"], job["total_queued"]) == (1, 1)


# -- by task ids ----------------------------------------------------------------------------------------
def test_resend_by_task_ids_delivers_each_tasks_callbacks(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    pinged = _task(api, token, {"pingback_url": f"{receiver.url}/ping?id=$id"})
    both = _task(
        api,
        token,
        {"pingback_url": f"{receiver.url}/ping?id=$id", "postback_url": f"{receiver.url}/post?id=$id"},
    )

    started = _started(api, token, {"task_ids": [pinged, both]})
    assert (started["total_items"], started["total_queued"], started["pending"]) == (2, 2, 2)
    deliveries()

    job = _job(api, token, started["id"])
    assert (job["status"], job["delivered"], job["failed"], job["pending"]) == ("completed", 2, 0, 0)
    assert sorted(r.query for r in receiver.to("/ping")) == sorted([f"id={pinged}", f"id={both}"])
    assert [r.query for r in receiver.to("/post")] == [f"id={both}"]


def test_resend_by_item_and_task_ids_queues_both(
    api: Api, token: str, hook: dict[str, Any], receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    item = _put_item(api, token, 1)
    task = _task(api, token, {"pingback_url": f"{receiver.url}/ping"})

    started = _started(api, token, {"event": EVENT, "item_ids": [item], "task_ids": [task]})
    deliveries()

    assert (started["total_items"], started["total_queued"]) == (2, 2)
    job = _job(api, token, started["id"])
    assert (job["status"], job["delivered"], job["pending"]) == ("completed", 2, 0)
    assert len(receiver.to("/ping")) == 1
    assert len(receiver.to("/one")) == 1


def test_resend_of_a_jobs_failed_pairs_resends_its_task_callbacks_too(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    # Given a job whose task's pingback failed (400), and a receiver that then answers 200
    receiver.script("/ping", [400, 200])
    task = _task(api, token, {"pingback_url": f"{receiver.url}/ping?id=$id"})
    first = _started(api, token, {"task_ids": [task]})
    deliveries()
    assert _job(api, token, first["id"])["failed"] == 1

    # When the job's failed pairs are resent
    body = {"delivery_status": "failed", "since": first["created_on"], "job_id": first["id"]}
    again = _started(api, token, body)
    deliveries()

    # Then the callback is sent again, and delivered
    job = _job(api, token, again["id"])
    assert (job["status"], job["total_queued"], job["delivered"]) == ("completed", 1, 1)
    assert [r.query for r in receiver.to("/ping")] == [f"id={task}"] * 2


# -- by filter, beyond one page -------------------------------------------------------------------------
def test_resend_by_filter_queues_every_matching_item_across_pages(
    api: Api,
    token: str,
    stack: LocalAws,
    receiver: Receiver,
    deliveries: Callable[..., int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(selections, "PAGE_SUBJECTS", 7)
    hook = _webhook(api, token, [f"{receiver.url}/filtered"])
    posts = {_put_item(api, token, n) for n in range(30)}
    pages = {_put_item(api, token, 100 + n, model="Page") for n in range(3)}

    started = _started(api, token, {"event": EVENT, "filter": {"model": {"eq": "Post"}}})

    assert (started["status"], started["total_items"], started["total_queued"]) == ("selecting", 0, 0)
    assert _depth(stack, "FanoutQueue") == 1  # the selection's first step, nothing else
    deliveries()
    job = _job(api, token, started["id"])
    assert (job["status"], job["total_items"], job["total_queued"]) == ("completed", 30, 30)
    assert (job["delivered"], job["failed"], job["pending"]) == (30, 0, 0)
    assert _pairs(_records(api, token, started["id"])) == {(item, hook["id"]) for item in posts}
    received = {json.loads(r.body)["payload"]["n"] for r in receiver.to("/filtered")}
    assert received == set(range(30))
    assert not pages & {r["subject_id"] for r in _records(api, token, started["id"])}


def test_resend_by_filter_list_conditions_and_dates_narrow_the_selection(
    api: Api, token: str, hook: dict[str, Any]
) -> None:
    for n in range(6):
        _put_item(api, token, n, tags=["a"] if n % 2 else ["b"])
    body = {
        "event": EVENT,
        "filter": {"tags": [{"in": ["a"]}], "created_on": [{"gte": "2024-01-01T00:00:02Z"}]},
        "dry_run": True,
    }

    reply = _resend(api, token, body)

    assert reply.status == 200, reply.body
    assert reply.json["total_items"] == 2  # items 3 and 5


def test_resend_pending_counts_down_page_by_page(
    api: Api, token: str, stack: LocalAws, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(selections, "PAGE_SUBJECTS", 5)
    _webhook(api, token, [f"{receiver.url}/paged"])
    for n in range(14):
        _put_item(api, token, n)
    started = _started(api, token, {"event": EVENT, "filter": {}})
    pump = Pump(stack)
    assert pump.one_page() == 1  # the count step
    seen = []

    for size in (5, 5, 4):
        assert pump.one_page() == 1  # one queue step: a page of items
        assert _depth(stack, "DeliveryQueue") == size
        assert pump.deliver_all() == size
        seen.append(_job(api, token, started["id"]))

    assert [job["total_queued"] for job in seen] == [5, 10, 14]
    assert [job["delivered"] for job in seen] == [5, 10, 14]
    assert [job["pending"] for job in seen] == [0, 0, 0]
    # All that was selected so far ended, but the job completes only once its selection has.
    assert [job["status"] for job in seen] == ["selecting", "selecting", "completed"]
    assert [job["completed_on"] is None for job in seen] == [True, True, False]
    assert pump.one_page() == 0
    assert len(receiver.to("/paged")) == 14


def test_resend_pending_stays_until_the_fanout_runs(api: Api, token: str, stack: LocalAws, hook: Any) -> None:
    items = [_put_item(api, token, n) for n in range(2)]
    started = _started(api, token, {"event": EVENT, "item_ids": items})
    pump = Pump(stack)

    assert pump.deliver_all() == 0  # nothing to deliver before the page is fanned out
    before = _job(api, token, started["id"])
    pump.one_page()

    assert (before["status"], before["pending"]) == ("running", 2)
    assert _depth(stack, "DeliveryQueue") == 2
    assert _depth(stack, "FanoutQueue") == 0


# -- webhook_ids and event ------------------------------------------------------------------------------
def test_resend_webhook_ids_narrow_the_webhooks(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    chosen = _webhook(api, token, [f"{receiver.url}/chosen"])
    _webhook(api, token, [f"{receiver.url}/left-out"])
    items = [_put_item(api, token, n) for n in range(2)]

    started = _started(api, token, {"event": EVENT, "item_ids": items, "webhook_ids": [chosen["id"]]})
    deliveries()

    assert (started["total_items"], started["total_queued"]) == (2, 2)
    assert len(receiver.to("/chosen")) == 2
    assert receiver.to("/left-out") == []


def test_resend_without_webhook_ids_goes_to_every_active_subscribed_webhook(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    _webhook(api, token, [f"{receiver.url}/a"])
    _webhook(api, token, [f"{receiver.url}/b"])
    _webhook(api, token, [f"{receiver.url}/other-event"], events=[PUBLISHED])
    inactive = _webhook(api, token, [f"{receiver.url}/inactive"])
    reply = api.request(
        "PUT",
        f"/webhooks/{inactive['id']}",
        json_body={"urls": inactive["urls"], "events": [EVENT], "active": False},
        token=token,
    )
    assert reply.status == 200, reply.body
    items = [_put_item(api, token, n) for n in range(3)]

    started = _started(api, token, {"event": EVENT, "item_ids": items})
    deliveries()

    assert (started["total_items"], started["total_queued"]) == (3, 6)
    assert (len(receiver.to("/a")), len(receiver.to("/b"))) == (3, 3)
    assert receiver.to("/other-event") == receiver.to("/inactive") == []


def test_resend_sends_the_event_it_names(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    _webhook(api, token, [f"{receiver.url}/changed"])
    _webhook(api, token, [f"{receiver.url}/published"], events=[PUBLISHED])
    item = _put_item(api, token, 1)

    started = _started(api, token, {"event": PUBLISHED, "item_ids": [item]})
    deliveries()

    assert started["event"] == PUBLISHED
    assert receiver.to("/changed") == []
    [request] = receiver.to("/published")
    assert json.loads(request.body)["event"] == PUBLISHED
    assert {r["event"] for r in _records(api, token, started["id"])} == {PUBLISHED}


# -- dry runs -------------------------------------------------------------------------------------------
def test_resend_dry_run_answers_200_with_the_counts_and_queues_nothing(
    api: Api, token: str, stack: LocalAws, hook: dict[str, Any]
) -> None:
    for n in range(4):
        _put_item(api, token, n)

    reply = _resend(api, token, {"event": EVENT, "filter": {"model": {"eq": "Post"}}, "dry_run": True})

    assert reply.status == 200, reply.body
    assert reply.json == {
        "dry_run": True,
        "event": EVENT,
        "total_items": 4,
        "total_queued": 4,
        "webhooks": {hook["id"]: hook["urls"]},
    }
    assert _nothing_queued(stack)


def test_resend_dry_run_of_tasks_counts_them(
    api: Api, token: str, stack: LocalAws, receiver: Receiver
) -> None:
    task = _task(api, token, {"pingback_url": f"{receiver.url}/ping"})

    reply = _resend(api, token, {"task_ids": [task], "dry_run": True})

    assert reply.status == 200, reply.body
    assert (reply.json["total_items"], reply.json["total_queued"]) == (1, 1)
    assert _nothing_queued(stack)


# -- validation -------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "names"),
    [
        pytest.param({"event": EVENT}, ["item_ids", "task_ids", "filter"], id="no-selection"),
        pytest.param(
            {"event": EVENT, "item_ids": ["$ITEM"], "filter": {}}, ["item_ids", "filter"], id="ids-and-filter"
        ),
        pytest.param({"delivery_status": "failed"}, ["since"], id="status-without-since"),
        pytest.param(
            {"event": EVENT, "item_ids": ["$ITEM"], "since": "2024-01-01T00:00:00Z"},
            ["since", "delivery_status"],
            id="since-without-status",
        ),
        pytest.param(
            {"delivery_status": "failed", "since": "2024-01-01T00:00:00Z", "item_ids": ["$ITEM"]},
            ["delivery_status", "item_ids"],
            id="status-with-ids",
        ),
        pytest.param({"item_ids": ["$ITEM"]}, ["event"], id="items-without-event"),
    ],
)
def test_resend_refuses_selections_that_do_not_fit_together(
    api: Api, token: str, stack: LocalAws, hook: dict[str, Any], body: dict[str, Any], names: list[str]
) -> None:
    item = _put_item(api, token, 1)
    body = json.loads(json.dumps(body).replace("$ITEM", item))

    reply = _resend(api, token, body)

    for name in names:
        assert _names(reply, name), (name, reply.json)
    assert _nothing_queued(stack)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        pytest.param({"event": EVENT, "item_ids": ["not-a-uuid"]}, "item_ids.0", id="malformed-item-id"),
        pytest.param({"event": EVENT, "item_ids": []}, "item_ids", id="empty-item-ids"),
        pytest.param({"event": "content_item.exploded", "filter": {}}, "event", id="unknown-event"),
        pytest.param({"event": EVENT, "filter": {}, "colour": "red"}, "colour", id="unknown-body-field"),
        pytest.param(
            {"delivery_status": "delivered", "since": "2024-01-01T00:00:00Z"}, "delivery_status", id="status"
        ),
        pytest.param({"delivery_status": "failed", "since": "yesterday"}, "since", id="since-not-a-time"),
        pytest.param({"event": EVENT, "filter": {}, "dry_run": "perhaps"}, "dry_run", id="dry-run"),
    ],
)
def test_resend_refuses_invalid_fields_naming_them(
    api: Api, token: str, stack: LocalAws, body: dict[str, Any], field: str
) -> None:
    reply = _resend(api, token, body)

    assert field in [e["field"] for e in _errors(reply)], reply.json
    assert _nothing_queued(stack)


def test_resend_refuses_an_unknown_body_field_as_unknown(api: Api, token: str) -> None:
    reply = _resend(api, token, {"event": EVENT, "filter": {}, "colour": "red"})

    assert {"field": "colour", "message": "is not a known field"} in _errors(reply)


def test_resend_refuses_an_unknown_item_id_naming_it(
    api: Api, token: str, stack: LocalAws, hook: dict[str, Any]
) -> None:
    known = _put_item(api, token, 1)
    unknown = str(uuid.uuid4())

    reply = _resend(api, token, {"event": EVENT, "item_ids": [known, unknown]})

    [error] = _errors(reply)
    assert error["field"] == "item_ids"
    assert unknown in error["message"]
    assert known not in error["message"]
    assert _nothing_queued(stack)


def test_resend_refuses_another_tenants_item_as_if_it_did_not_exist(
    api: Api, token: str, other_tenant: dict[str, Any], stack: LocalAws, hook: dict[str, Any]
) -> None:
    theirs = _put_item(api, str(other_tenant["token"]), 7)
    unknown = "00000000-0000-4000-8000-000000000008"  # what the next item would be called

    refused = _resend(api, token, {"event": EVENT, "item_ids": [theirs]})
    missing = _resend(api, token, {"event": EVENT, "item_ids": [unknown]})

    assert _errors(refused) == [
        {**e, "message": e["message"].replace(unknown, theirs)} for e in _errors(missing)
    ]
    assert _nothing_queued(stack)


def test_resend_refuses_another_tenants_task_as_if_it_did_not_exist(
    api: Api, token: str, other_tenant: dict[str, Any], stack: LocalAws, receiver: Receiver
) -> None:
    theirs = _task(api, str(other_tenant["token"]), {"pingback_url": f"{receiver.url}/ping"})

    reply = _resend(api, token, {"task_ids": [theirs]})

    [error] = _errors(reply)
    assert error["field"] == "task_ids"
    assert theirs in error["message"]
    assert _nothing_queued(stack)


def test_resend_refuses_a_task_without_callbacks(
    api: Api, token: str, stack: LocalAws, receiver: Receiver
) -> None:
    silent = _task(api, token, {})
    fine = _task(api, token, {"pingback_url": f"{receiver.url}/ping"})

    reply = _resend(api, token, {"task_ids": [fine, silent]})

    [error] = _errors(reply)
    assert error["field"] == "task_ids"
    assert silent in error["message"]
    assert "pingback_url" in error["message"]
    assert _nothing_queued(stack)


def test_resend_refuses_an_unknown_filter_field_naming_it(
    api: Api, token: str, stack: LocalAws, hook: dict[str, Any]
) -> None:
    _put_item(api, token, 1)

    reply = _resend(
        api, token, {"event": EVENT, "filter": {"model": {"eq": "Post"}, "colour": {"eq": "red"}}}
    )

    assert any("colour" in e["field"] for e in _errors(reply)), reply.json
    assert _nothing_queued(stack)


def test_resend_refuses_an_unknown_filter_operator_naming_it(api: Api, token: str, stack: LocalAws) -> None:
    reply = _resend(api, token, {"event": EVENT, "filter": {"model": {"like": "Po%"}}})

    assert any(e["field"].startswith("model") and "like" in e["message"] for e in _errors(reply)), reply.json
    assert _nothing_queued(stack)


def test_resend_refuses_an_unknown_webhook_id_naming_the_field(
    api: Api, token: str, stack: LocalAws, hook: dict[str, Any]
) -> None:
    item = _put_item(api, token, 1)
    unknown = str(uuid.uuid4())

    reply = _resend(api, token, {"event": EVENT, "item_ids": [item], "webhook_ids": [unknown]})

    # The body's field is `webhook_ids` (`webhook_id` is the Prepr route's parameter).
    assert [e["field"] for e in _errors(reply)] == ["webhook_ids"], reply.json
    assert unknown in _errors(reply)[0]["message"]
    assert _nothing_queued(stack)


class TestPairCap:
    @pytest.fixture
    def local_env(self) -> dict[str, str]:
        return {
            "ALLOW_PRIVATE_URLS": "true",
            "RETRY_SCHEDULE": "0,0,0",
            "DELIVERY_TIMEOUT_SECONDS": "2",
            "MAX_PAIRS_PER_REQUEST": "5",
        }

    def test_resend_of_more_pairs_than_the_cap_is_refused_naming_it(
        self, api: Api, token: str, stack: LocalAws, receiver: Receiver
    ) -> None:
        _webhook(api, token, [f"{receiver.url}/a"])
        _webhook(api, token, [f"{receiver.url}/b"])
        items = [_put_item(api, token, n) for n in range(3)]  # 3 items x 2 webhooks = 6 pairs

        reply = _resend(api, token, {"event": EVENT, "item_ids": items})
        dry = _resend(api, token, {"event": EVENT, "item_ids": items, "dry_run": True})

        [error] = _errors(reply)
        assert "6" in error["message"]
        assert "at most 5" in error["message"]
        assert _errors(dry) == [error]
        assert _nothing_queued(stack)

    def test_resend_of_exactly_the_cap_is_queued(
        self, api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int]
    ) -> None:
        _webhook(api, token, [f"{receiver.url}/a"])
        items = [_put_item(api, token, n) for n in range(5)]

        started = _started(api, token, {"event": EVENT, "item_ids": items})
        deliveries()

        assert started["total_queued"] == 5
        assert _job(api, token, started["id"])["status"] == "completed"


# -- by past outcome ------------------------------------------------------------------------------------
@pytest.fixture
def failures(api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int]) -> dict[str, Any]:
    """Three items resent for EVENT to a webhook that answers 200 (`ok`) and to two that answer
    400 (`bad`, `worse`), and a fourth item resent for PUBLISHED to `bad`: seven pairs failed,
    three were delivered. `before` is a time before any of them ended, `after` one after."""
    receiver.script("/bad", [400])
    receiver.script("/worse", [400])
    ok = _webhook(api, token, [f"{receiver.url}/ok"], events=[EVENT, PUBLISHED])
    bad = _webhook(api, token, [f"{receiver.url}/bad"], events=[EVENT, PUBLISHED])
    worse = _webhook(api, token, [f"{receiver.url}/worse"])
    items = [_put_item(api, token, n) for n in range(3)]
    extra = _put_item(api, token, 3)
    before = _canonical(datetime.now(UTC) - timedelta(seconds=1))
    changed = _started(api, token, {"event": EVENT, "item_ids": items})
    published = _started(api, token, {"event": PUBLISHED, "item_ids": [extra], "webhook_ids": [bad["id"]]})
    deliveries()
    assert _job(api, token, changed["id"])["delivered"] == 3
    assert _job(api, token, changed["id"])["failed"] == 6
    assert _job(api, token, published["id"])["failed"] == 1
    return {
        "ok": ok,
        "bad": bad,
        "worse": worse,
        "items": items,
        "extra": extra,
        "jobs": {"changed": changed["id"], "published": published["id"]},
        "before": before,
        "after": _canonical(datetime.now(UTC) + timedelta(seconds=1)),
        "counts": {path: len(receiver.to(path)) for path in ("/ok", "/bad", "/worse")},
    }


def test_resend_by_outcome_requeues_exactly_the_failed_pairs(
    api: Api, token: str, failures: dict[str, Any], receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    items, bad, worse = failures["items"], failures["bad"]["id"], failures["worse"]["id"]

    started = _started(api, token, {"delivery_status": "failed", "since": failures["before"]})
    deliveries()

    assert (started["status"], started["source"]) == ("selecting", "api")
    job = _job(api, token, started["id"])
    assert (job["total_items"], job["total_queued"]) == (4, 7)
    assert (job["status"], job["delivered"], job["failed"], job["pending"]) == ("completed", 0, 7, 0)
    records = _records(api, token, started["id"])
    expected = (
        {(i, bad, EVENT) for i in items}
        | {(i, worse, EVENT) for i in items}
        | {(failures["extra"], bad, PUBLISHED)}
    )
    assert {(r["subject_id"], r["webhook_id"], r["event"]) for r in records} == expected
    counts = failures["counts"]
    assert len(receiver.to("/ok")) == counts["/ok"]
    assert len(receiver.to("/bad")) == counts["/bad"] + 4
    assert len(receiver.to("/worse")) == counts["/worse"] + 3


def test_resend_by_outcome_narrowed_by_webhook_ids(
    api: Api, token: str, failures: dict[str, Any], receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    worse = failures["worse"]["id"]

    body = {"delivery_status": "failed", "since": failures["before"], "webhook_ids": [worse]}
    started = _started(api, token, body)
    deliveries()

    assert _job(api, token, started["id"])["total_queued"] == 3
    assert _pairs(_records(api, token, started["id"])) == {(i, worse) for i in failures["items"]}
    assert len(receiver.to("/bad")) == failures["counts"]["/bad"]
    assert len(receiver.to("/worse")) == failures["counts"]["/worse"] + 3


def test_resend_by_outcome_narrowed_by_event(
    api: Api, token: str, failures: dict[str, Any], receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    body = {"delivery_status": "failed", "since": failures["before"], "event": PUBLISHED}
    started = _started(api, token, body)
    deliveries()

    assert (_job(api, token, started["id"])["total_queued"], started["event"]) == (1, PUBLISHED)
    [record] = _records(api, token, started["id"])
    assert (record["subject_id"], record["webhook_id"], record["event"]) == (
        failures["extra"],
        failures["bad"]["id"],
        PUBLISHED,
    )
    [request] = receiver.to("/bad")[failures["counts"]["/bad"] :]
    assert json.loads(request.body)["event"] == PUBLISHED
    assert len(receiver.to("/worse")) == failures["counts"]["/worse"]


def test_resend_by_outcome_narrowed_to_one_job_requeues_exactly_its_failed_pairs(
    api: Api, token: str, failures: dict[str, Any], receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    # Given two jobs whose pairs failed to the same webhook (`bad`): the console's "Resend
    # failed" of one of them must not resend the other's (SPEC §14: a job's failed pairs)
    body = {"delivery_status": "failed", "since": failures["before"], "job_id": failures["jobs"]["published"]}

    dry = _resend(api, token, {**body, "dry_run": True})
    started = _started(api, token, body)
    deliveries()

    assert dry.status == 200, dry.body
    assert (dry.json["total_items"], dry.json["total_queued"]) == (1, 1)
    [record] = _records(api, token, started["id"])
    assert (record["subject_id"], record["webhook_id"], record["event"]) == (
        failures["extra"],
        failures["bad"]["id"],
        PUBLISHED,
    )
    changed = {**body, "job_id": failures["jobs"]["changed"], "dry_run": True}
    assert _resend(api, token, changed).json["total_queued"] == 6


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param({"job_id": "00000000-0000-4000-8000-00000000dead"}, "no resend job", id="unknown-job"),
        pytest.param({"job_id": "not-a-uuid"}, "", id="not-a-uuid"),
    ],
)
def test_resend_by_outcome_of_a_job_that_is_not_the_tenants_is_a_422_naming_job_id(
    api: Api, token: str, body: dict[str, Any], message: str
) -> None:
    reply = _resend(api, token, {"delivery_status": "failed", "since": "2024-01-01T00:00:00Z", **body})

    assert reply.status == 422, reply.body
    assert "job_id" in reply.body.decode()
    assert message in reply.body.decode()


def test_resend_job_id_without_delivery_status_is_a_422(api: Api, token: str) -> None:
    item = _put_item(api, token, 0)
    reply = _resend(
        api, token, {"event": EVENT, "item_ids": [item], "job_id": "00000000-0000-4000-8000-000000000001"}
    )

    assert reply.status == 422, reply.body
    assert "job_id only applies with delivery_status" in reply.body.decode()


def test_resend_by_outcome_since_after_the_failures_selects_nothing(
    api: Api, token: str, stack: LocalAws, failures: dict[str, Any]
) -> None:
    jobs_before = len(_jobs(stack))
    body = {"delivery_status": "failed", "since": failures["after"], "dry_run": True}

    reply = _resend(api, token, body)

    assert reply.status == 200, reply.body
    assert (reply.json["total_items"], reply.json["total_queued"]) == (0, 0)
    assert len(_jobs(stack)) == jobs_before


def test_resend_by_outcome_dry_run_counts_the_failed_pairs(
    api: Api, token: str, stack: LocalAws, failures: dict[str, Any]
) -> None:
    jobs_before = len(_jobs(stack))

    reply = _resend(api, token, {"delivery_status": "failed", "since": failures["before"], "dry_run": True})

    assert reply.status == 200, reply.body
    # Four items (three for EVENT, one for PUBLISHED) in seven failed pairs.
    assert (reply.json["total_items"], reply.json["total_queued"]) == (4, 7)
    assert len(_jobs(stack)) == jobs_before
    assert _depth(stack, "FanoutQueue") == _depth(stack, "DeliveryQueue") == 0


def test_resend_by_outcome_dry_run_that_cannot_read_its_selection_in_time_is_a_422(
    api: Api, token: str, stack: LocalAws, failures: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a dry run whose time is up after every record it reads (its budget is 15 s)
    monkeypatch.setattr(native, "DRY_RUN_SECONDS", -1.0)
    monkeypatch.setattr(selection, "DEADLINE_EVERY", 1)
    jobs_before = len(_jobs(stack))

    reply = _resend(api, token, {"delivery_status": "failed", "since": failures["before"], "dry_run": True})

    # Then the API answers a clear 422 in bounded time, not a timeout, and writes nothing
    assert reply.status == 422, reply.body
    assert "selects more than a dry run reads in" in reply.body.decode()
    assert "1 records or entries read" in reply.body.decode()
    assert len(_jobs(stack)) == jobs_before


def test_resend_by_outcome_requeues_a_pair_that_failed_twice_once(
    api: Api, token: str, failures: dict[str, Any], deliveries: Callable[..., int]
) -> None:
    worse = failures["worse"]["id"]
    again = _started(api, token, {"event": EVENT, "item_ids": failures["items"], "webhook_ids": [worse]})
    deliveries()
    assert _job(api, token, again["id"])["failed"] == 3

    body = {"delivery_status": "failed", "since": failures["before"], "webhook_ids": [worse]}
    started = _started(api, token, body)
    deliveries()

    assert _job(api, token, started["id"])["total_queued"] == 3


def test_resend_by_outcome_of_one_pair_failed_for_two_events_completes(
    api: Api, token: str, receiver: Receiver, deliveries: Callable[..., int]
) -> None:
    # Given one item whose delivery to one webhook failed once for EVENT and once for PUBLISHED
    receiver.script("/bad", [400])
    bad = _webhook(api, token, [f"{receiver.url}/bad"], events=[EVENT, PUBLISHED])
    item = _put_item(api, token, 1)
    before = _canonical(datetime.now(UTC) - timedelta(seconds=1))
    _started(api, token, {"event": EVENT, "item_ids": [item]})
    _started(api, token, {"event": PUBLISHED, "item_ids": [item]})
    deliveries()
    sent_before = len(receiver.to("/bad"))

    # When what failed is resent
    started = _started(api, token, {"delivery_status": "failed", "since": before, "webhook_ids": [bad["id"]]})
    deliveries()

    # Then the job counts only what it can deliver, every counted pair ends, and the job completes
    job = _job(api, token, started["id"])
    sent = [json.loads(r.body)["event"] for r in receiver.to("/bad")[sent_before:]]
    assert job["total_queued"] == len(sent), (job, sent)
    assert (job["status"], job["pending"]) == ("completed", 0), job


def test_resend_by_outcome_never_selects_another_tenants_failures(
    api: Api, other_tenant: dict[str, Any], failures: dict[str, Any]
) -> None:
    body = {"delivery_status": "failed", "since": failures["before"], "dry_run": True}

    reply = _resend(api, str(other_tenant["token"]), body)

    assert reply.status == 200, reply.body
    assert reply.json["total_queued"] == 0
