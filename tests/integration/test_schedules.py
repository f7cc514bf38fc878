"""Scheduled resends in-process on moto (SPEC §7): `POST/GET/DELETE /schedules` creating real
EventBridge Scheduler schedules (moto implements the API), and what happens when one fires:
the schedule's Input handed to the resend function, as Scheduler would, and devstack's
`ScheduleFirer` firing a schedule created through the API when it is due.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from devstack.scheduler import ScheduleFirer
from tests.conftest import Api, LocalAws, Receiver, Reply
from tests.counters import assert_counters_add_up
from webhook_resend.aws.scheduler import RETRY_POLICY

EVENT = "content_item.changed"
INPUT_KEY = "webhook_resend_schedule"


# -- helpers ------------------------------------------------------------------------------------------
def _put_item(api: Api, token: str, n: int) -> str:
    item_id = f"00000000-0000-4000-8000-{n:012d}"
    body = {"model": "Post", "created_on": f"2024-01-01T00:00:{n:02d}Z", "payload": {"n": n}}
    reply = api.request("PUT", f"/content_items/{item_id}", json_body=body, token=token)
    assert reply.status == 201, reply.body
    return item_id


def _webhook(api: Api, token: str, url: str) -> dict[str, Any]:
    reply = api.request("POST", "/webhooks", json_body={"urls": [url], "events": [EVENT]}, token=token)
    assert reply.status == 201, reply.body
    return reply.json


def _create(api: Api, token: str, body: dict[str, Any]) -> Reply:
    return api.request("POST", "/schedules", json_body=body, token=token)


def _created(api: Api, token: str, body: dict[str, Any]) -> dict[str, Any]:
    reply = _create(api, token, body)
    assert reply.status == 201, reply.body
    return reply.json


def _names(api: Api, token: str) -> list[str]:
    reply = api.request("GET", "/schedules", token=token)
    assert reply.status == 200, reply.body
    assert reply.json["total"] == len(reply.json["items"])
    return sorted(s["name"] for s in reply.json["items"])


def _job(api: Api, token: str, job_id: str) -> dict[str, Any]:
    reply = api.request("GET", f"/resends/{job_id}", token=token)
    assert reply.status == 200, reply.body
    job = reply.json
    assert_counters_add_up(job)
    return job


def _field_of(reply: Reply) -> list[str]:
    assert reply.status == 422, reply.body
    return [e["field"] for e in reply.json["errors"]]


def _canonical(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@pytest.fixture
def scheduler(stack: LocalAws) -> Any:
    return boto3.client("scheduler", region_name=stack.stack.region)


@pytest.fixture
def group(stack: LocalAws) -> str:
    return str(stack.stack.ref("ResendScheduleGroup"))


@pytest.fixture
def item(api: Api, token: str) -> str:
    return _put_item(api, token, 1)


@pytest.fixture
def hook(api: Api, token: str, receiver: Receiver) -> dict[str, Any]:
    return _webhook(api, token, f"{receiver.url}/scheduled")


def _nightly(item: str, name: str = "nightly", expression: str = "rate(1 day)") -> dict[str, Any]:
    return {"name": name, "schedule_expression": expression, "resend": {"event": EVENT, "item_ids": [item]}}


def _on_moto(scheduler: Any, group: str, tenant_id: str, name: str) -> dict[str, Any]:
    return dict(scheduler.get_schedule(GroupName=group, Name=f"{tenant_id}--{name}"))


def _moto_names(scheduler: Any, group: str) -> list[str]:
    return sorted(s["Name"] for s in scheduler.list_schedules(GroupName=group)["Schedules"])


# -- POST /schedules ----------------------------------------------------------------------------------
def test_schedule_create_answers_201_with_the_schedule(api: Api, token: str, item: str) -> None:
    body = {**_nightly(item), "description": "every night"}

    reply = _create(api, token, body)

    assert reply.status == 201, reply.body
    created = reply.json
    assert created["name"] == "nightly"
    assert created["schedule_expression"] == "rate(1 day)"
    assert created["state"] == "ENABLED"
    assert created["description"] == "every night"
    assert created["resend"] == {"event": EVENT, "item_ids": [item], "dry_run": False}
    assert created["created_on"]


@pytest.mark.parametrize(
    "expression", ["rate(1 day)", "rate(5 minutes)", "cron(0 3 * * ? *)", "cron(15 4 ? * MON-FRI *)"]
)
def test_schedule_create_makes_an_eventbridge_schedule_targeting_the_resend_function(
    api: Api,
    token: str,
    tenant: dict[str, Any],
    stack: LocalAws,
    scheduler: Any,
    group: str,
    item: str,
    expression: str,
) -> None:
    _created(api, token, _nightly(item, expression=expression))

    schedule = _on_moto(scheduler, group, tenant["tenant_id"], "nightly")

    assert schedule["ScheduleExpression"] == expression
    assert schedule["State"] == "ENABLED"
    assert schedule["Target"]["Arn"] == stack.stack.get_att("ResendApiFunction", "Arn")
    assert schedule["Target"]["RoleArn"] == stack.stack.get_att("SchedulerRole", "Arn")
    payload = json.loads(schedule["Target"]["Input"])
    assert payload == {
        INPUT_KEY: {
            "tenant_id": tenant["tenant_id"],
            "name": "nightly",
            "resend": {"event": EVENT, "item_ids": [item], "dry_run": False},
            # Scheduler fills in each fire's time: a fire delivered twice starts one job
            "scheduled_time": "<aws.scheduler.scheduled-time>",
        }
    }


def test_schedule_create_gives_the_schedule_a_retry_policy_and_the_dead_letter_queue(
    api: Api, token: str, tenant: dict[str, Any], stack: LocalAws, scheduler: Any, group: str, item: str
) -> None:
    _created(api, token, _nightly(item))

    target = _on_moto(scheduler, group, tenant["tenant_id"], "nightly")["Target"]

    assert target["RetryPolicy"] == RETRY_POLICY
    assert target["DeadLetterConfig"] == {"Arn": stack.stack.get_att("ScheduledResendDeadLetterQueue", "Arn")}


def test_schedule_create_disabled_makes_a_disabled_schedule(
    api: Api, token: str, tenant: dict[str, Any], scheduler: Any, group: str, item: str
) -> None:
    created = _created(api, token, {**_nightly(item), "enabled": False})

    assert created["state"] == "DISABLED"
    assert _on_moto(scheduler, group, tenant["tenant_id"], "nightly")["State"] == "DISABLED"


def test_schedule_create_with_a_name_in_use_is_409(
    api: Api, token: str, scheduler: Any, group: str, item: str
) -> None:
    _created(api, token, _nightly(item))

    again = _create(api, token, _nightly(item, expression="rate(2 days)"))

    assert again.status == 409, again.body
    assert [e["field"] for e in again.json["errors"]] == ["name"]
    assert len(_moto_names(scheduler, group)) == 1
    assert _names(api, token) == ["nightly"]


@pytest.mark.parametrize(
    "expression",
    [
        "rate(0 minutes)",
        "rate(1 minutes)",
        "rate(5 minute)",
        "rate(-1 days)",
        "rate(1 week)",
        "cron(0 0 * * * *)",
        "cron(0 0 ? * ? *)",
        "cron(0 3 * *)",
        "cron(61 3 * * ? *)",
        "at(2030-01-01T00:00:00)",
        "every night",
        "",
        "rate(1 day",
    ],
)
def test_schedule_create_with_an_invalid_expression_is_422_naming_it(
    api: Api, token: str, scheduler: Any, group: str, item: str, expression: str
) -> None:
    reply = _create(api, token, _nightly(item, expression=expression))

    assert _field_of(reply) == ["schedule_expression"]
    assert _moto_names(scheduler, group) == []
    assert _names(api, token) == []


@pytest.mark.parametrize(
    ("resend", "field"),
    [
        pytest.param({"event": EVENT}, "resend", id="no-selection"),
        pytest.param({"event": EVENT, "item_ids": ["not-a-uuid"]}, "resend.item_ids.0", id="malformed-id"),
        pytest.param({"event": "content_item.exploded", "filter": {}}, "resend.event", id="unknown-event"),
        pytest.param({"event": EVENT, "filter": {}, "colour": "red"}, "resend.colour", id="unknown-field"),
        pytest.param({"delivery_status": "failed"}, "resend", id="status-without-since"),
        pytest.param({"delivery_status": "failed", "since": "last night"}, "resend.since", id="since"),
        pytest.param("resend everything", "resend", id="not-an-object"),
    ],
)
def test_schedule_create_with_an_invalid_resend_is_422_naming_it(
    api: Api, token: str, scheduler: Any, group: str, resend: Any, field: str
) -> None:
    body = {"name": "nightly", "schedule_expression": "rate(1 day)", "resend": resend}

    reply = _create(api, token, body)

    fields = _field_of(reply)
    assert field in fields, reply.json
    assert all(f.startswith("resend") for f in fields), reply.json
    assert _moto_names(scheduler, group) == []


VALID = {"name": "nightly", "schedule_expression": "rate(1 day)", "resend": {"event": EVENT, "filter": {}}}


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        pytest.param({"name": None}, "name", id="no-name"),
        pytest.param({"name": "has space"}, "name", id="bad-name"),
        pytest.param({"name": "n" * 37}, "name", id="long-name"),
        pytest.param({"schedule_expression": None}, "schedule_expression", id="no-expression"),
        pytest.param({"resend": None}, "resend", id="no-resend"),
        pytest.param({"when": "now"}, "when", id="unknown-field"),
    ],
)
def test_schedule_create_with_an_invalid_body_is_422_naming_the_field(
    api: Api, token: str, scheduler: Any, group: str, changes: dict[str, Any], field: str
) -> None:
    body = {name: value for name, value in {**VALID, **changes}.items() if value is not None}

    reply = _create(api, token, body)

    assert field in _field_of(reply), reply.json
    assert _moto_names(scheduler, group) == []


# -- GET and DELETE -----------------------------------------------------------------------------------
def test_schedule_list_shows_only_the_tenants_own(
    api: Api, token: str, other_tenant: dict[str, Any], item: str
) -> None:
    other = str(other_tenant["token"])
    theirs = _put_item(api, other, 2)
    _created(api, token, _nightly(item, name="nightly"))
    _created(api, token, _nightly(item, name="hourly", expression="rate(1 hour)"))
    _created(api, other, _nightly(theirs, name="theirs"))

    reply = api.request("GET", "/schedules", token=token)

    assert reply.status == 200, reply.body
    assert reply.json["total"] == 2
    by_name = {s["name"]: s for s in reply.json["items"]}
    assert sorted(by_name) == ["hourly", "nightly"]
    assert by_name["hourly"]["schedule_expression"] == "rate(1 hour)"
    assert by_name["nightly"]["resend"]["item_ids"] == [item]
    assert _names(api, other) == ["theirs"]


def test_schedule_list_of_a_tenant_without_schedules_is_empty(api: Api, token: str) -> None:
    reply = api.request("GET", "/schedules", token=token)

    assert reply.status == 200, reply.body
    assert reply.json == {"items": [], "total": 0}


def test_schedule_delete_answers_204_then_404(
    api: Api, token: str, tenant: dict[str, Any], scheduler: Any, group: str, item: str
) -> None:
    _created(api, token, _nightly(item))

    deleted = api.request("DELETE", "/schedules/nightly", token=token)
    again = api.request("DELETE", "/schedules/nightly", token=token)

    assert deleted.status == 204, deleted.body
    assert deleted.body == b""
    assert again.status == 404, again.body
    assert _names(api, token) == []
    with pytest.raises(scheduler.exceptions.ResourceNotFoundException):
        _on_moto(scheduler, group, tenant["tenant_id"], "nightly")


def test_schedule_delete_of_an_unknown_name_is_404(api: Api, token: str) -> None:
    reply = api.request("DELETE", "/schedules/never-made", token=token)

    assert reply.status == 404, reply.body


def test_schedule_delete_of_another_tenants_schedule_is_404_and_keeps_it(
    api: Api,
    token: str,
    tenant: dict[str, Any],
    other_tenant: dict[str, Any],
    scheduler: Any,
    group: str,
    item: str,
) -> None:
    _created(api, token, _nightly(item))

    reply = api.request("DELETE", "/schedules/nightly", token=str(other_tenant["token"]))

    assert reply.status == 404, reply.body
    assert _on_moto(scheduler, group, tenant["tenant_id"], "nightly")["State"] == "ENABLED"
    assert _names(api, token) == ["nightly"]


def test_schedule_name_can_be_used_again_after_delete(
    api: Api, token: str, scheduler: Any, group: str, item: str
) -> None:
    _created(api, token, _nightly(item))
    assert api.request("DELETE", "/schedules/nightly", token=token).status == 204

    again = _create(api, token, _nightly(item, expression="rate(2 days)"))

    assert again.status == 201, again.body
    assert len(_moto_names(scheduler, group)) == 1


# -- firing: the schedule's Input handed to the resend function ------------------------------------------
def test_schedule_fired_with_its_input_starts_a_resend_that_delivers(
    api: Api,
    token: str,
    tenant: dict[str, Any],
    stack: LocalAws,
    scheduler: Any,
    group: str,
    item: str,
    hook: dict[str, Any],
    receiver: Receiver,
    deliveries: Callable[..., int],
) -> None:
    _created(api, token, _nightly(item))
    schedule = _on_moto(scheduler, group, tenant["tenant_id"], "nightly")

    answer = stack.invoke("ResendApiFunction", json.loads(schedule["Target"]["Input"]))
    deliveries()

    assert answer["status"] == 202, answer
    assert answer["schedule"] == "nightly"
    job = _job(api, token, answer["resend_id"])
    assert job["source"] == "schedule"
    assert job["event"] == EVENT
    assert (job["status"], job["total_items"], job["total_queued"], job["delivered"]) == (
        "completed",
        1,
        1,
        1,
    )
    [request] = receiver.to("/scheduled")
    assert request.headers["x-webhook-resend-id"] == answer["resend_id"]
    assert json.loads(request.body)["payload"]["n"] == 1


def _fire(schedule: dict[str, Any], scheduled_time: str) -> dict[str, Any]:
    """The event Scheduler hands the function for one fire: its Input, the time filled in."""
    return json.loads(schedule["Target"]["Input"].replace("<aws.scheduler.scheduled-time>", scheduled_time))


def test_schedule_fire_delivered_twice_starts_one_job(
    api: Api,
    token: str,
    tenant: dict[str, Any],
    stack: LocalAws,
    scheduler: Any,
    group: str,
    item: str,
    hook: dict[str, Any],
    receiver: Receiver,
    deliveries: Callable[..., int],
) -> None:
    # Given a schedule, and Scheduler delivering one fire twice (its retry after an error)
    _created(api, token, _nightly(item))
    schedule = _on_moto(scheduler, group, tenant["tenant_id"], "nightly")

    first = stack.invoke("ResendApiFunction", _fire(schedule, "2026-12-06T03:00:00Z"))
    again = stack.invoke("ResendApiFunction", _fire(schedule, "2026-12-06T03:00:00Z"))
    deliveries()

    # Then the second names the first's job and starts nothing: one delivery
    assert first["status"] == 202, first
    assert (again["status"], again["resend_id"], again["duplicate"]) == (200, first["resend_id"], True)
    job = _job(api, token, first["resend_id"])
    assert (job["total_queued"], job["delivered"], job["pending"]) == (1, 1, 0)
    assert len(receiver.to("/scheduled")) == 1


def test_schedule_fires_at_different_times_start_a_job_each(
    api: Api,
    token: str,
    tenant: dict[str, Any],
    stack: LocalAws,
    scheduler: Any,
    group: str,
    item: str,
    hook: dict[str, Any],
) -> None:
    _created(api, token, _nightly(item))
    schedule = _on_moto(scheduler, group, tenant["tenant_id"], "nightly")

    answers = [
        stack.invoke("ResendApiFunction", _fire(schedule, when))
        for when in ("2026-12-06T03:00:00Z", "2026-12-07T03:00:00Z")
    ]

    assert [a["status"] for a in answers] == [202, 202]
    assert answers[0]["resend_id"] != answers[1]["resend_id"]


def test_schedule_fired_runs_for_its_own_tenant_only(
    api: Api,
    token: str,
    tenant: dict[str, Any],
    other_tenant: dict[str, Any],
    stack: LocalAws,
    scheduler: Any,
    group: str,
    item: str,
    hook: dict[str, Any],
) -> None:
    _created(api, token, _nightly(item))
    schedule = _on_moto(scheduler, group, tenant["tenant_id"], "nightly")

    answer = stack.invoke("ResendApiFunction", json.loads(schedule["Target"]["Input"]))

    mine = api.request("GET", f"/resends/{answer['resend_id']}", token=token)
    theirs = api.request("GET", f"/resends/{answer['resend_id']}", token=str(other_tenant["token"]))
    assert (mine.status, theirs.status) == (200, 404)


def test_schedule_fired_resends_what_failed_since(
    api: Api,
    token: str,
    tenant: dict[str, Any],
    stack: LocalAws,
    scheduler: Any,
    group: str,
    receiver: Receiver,
    deliveries: Callable[..., int],
) -> None:
    # Given deliveries that failed (the receiver answers 400)
    receiver.script("/failing", [400])
    _webhook(api, token, f"{receiver.url}/failing")
    items = [_put_item(api, token, n) for n in range(3)]
    before = _canonical(datetime.now(UTC) - timedelta(seconds=1))
    reply = api.request("POST", "/resends", json_body={"event": EVENT, "item_ids": items}, token=token)
    assert reply.status == 202, reply.body
    deliveries()
    assert _job(api, token, reply.json["id"])["failed"] == 3
    body = {
        "name": "nightly-failed",
        "schedule_expression": "cron(0 3 * * ? *)",
        "resend": {"delivery_status": "failed", "since": before},
    }
    _created(api, token, body)

    # When the schedule fires
    schedule = _on_moto(scheduler, group, tenant["tenant_id"], "nightly-failed")
    answer = stack.invoke("ResendApiFunction", json.loads(schedule["Target"]["Input"]))
    deliveries()

    # Then exactly the failed pairs went out again
    job = _job(api, token, answer["resend_id"])
    assert (job["source"], job["total_queued"], job["status"]) == ("schedule", 3, "completed")
    assert len(receiver.to("/failing")) == 6


def test_schedule_fired_with_a_selection_that_no_longer_exists_is_refused_without_a_job(
    api: Api,
    token: str,
    tenant: dict[str, Any],
    stack: LocalAws,
    scheduler: Any,
    group: str,
    item: str,
    hook: Any,
) -> None:
    _created(api, token, _nightly(item))
    assert api.request("DELETE", f"/content_items/{item}", token=token).status == 204
    schedule = _on_moto(scheduler, group, tenant["tenant_id"], "nightly")

    answer = stack.invoke("ResendApiFunction", json.loads(schedule["Target"]["Input"]))

    assert answer == {"status": 422, "schedule": "nightly"}
    jobs = boto3.client("dynamodb").scan(TableName=stack.stack.ref("DataTable"))["Items"]
    assert [j for j in jobs if j["sk"]["S"] == "JOB"] == []


# -- firing: the local stack's ScheduleFirer -----------------------------------------------------------
@dataclass
class RecordingLocal:
    """The stack as ScheduleFirer sees it (`stack`, `aws_endpoint`, `invoke`), recording what
    it invokes and what the function answered."""

    inner: LocalAws
    aws_endpoint: str | None = None
    calls: list[tuple[str, Any, Any]] = field(default_factory=list)

    @property
    def stack(self) -> Any:
        return self.inner.stack

    def invoke(self, logical_id: str, event: Any) -> Any:
        answer = self.inner.invoke(logical_id, event)
        self.calls.append((logical_id, event, answer))
        return answer


@pytest.fixture
def local(stack: LocalAws) -> RecordingLocal:
    return RecordingLocal(stack)


@pytest.fixture
def firer(local: RecordingLocal) -> Iterator[ScheduleFirer]:
    worker = ScheduleFirer(local)
    try:
        yield worker
    finally:
        worker.stop()


def _creation(scheduler: Any, group: str, tenant_id: str, name: str) -> datetime:
    return _on_moto(scheduler, group, tenant_id, name)["CreationDate"].astimezone(UTC)  # type: ignore[no-any-return]


def test_schedule_created_through_the_api_fires_when_due_and_delivers(
    api: Api,
    token: str,
    tenant: dict[str, Any],
    scheduler: Any,
    group: str,
    item: str,
    hook: dict[str, Any],
    receiver: Receiver,
    deliveries: Callable[..., int],
    firer: ScheduleFirer,
    local: RecordingLocal,
) -> None:
    _created(api, token, _nightly(item, expression="rate(1 hour)"))
    created = _creation(scheduler, group, tenant["tenant_id"], "nightly")

    fired = [firer.tick(created + timedelta(seconds=1)), firer.tick(created + timedelta(minutes=30))]
    deliveries()

    assert fired == [1, 0]
    [(function, event, answer)] = local.calls
    assert function == "ResendApiFunction"
    assert event[INPUT_KEY]["tenant_id"] == tenant["tenant_id"]
    assert answer["status"] == 202, answer
    job = _job(api, token, answer["resend_id"])
    assert (job["source"], job["status"], job["delivered"]) == ("schedule", "completed", 1)
    assert len(receiver.to("/scheduled")) == 1

    again = firer.tick(created + timedelta(hours=1, seconds=1))
    deliveries()

    assert again == 1
    assert local.calls[-1][2]["resend_id"] != answer["resend_id"]
    assert len(receiver.to("/scheduled")) == 2


def test_schedule_cron_fires_at_the_time_it_names(
    api: Api,
    token: str,
    tenant: dict[str, Any],
    scheduler: Any,
    group: str,
    item: str,
    hook: dict[str, Any],
    firer: ScheduleFirer,
    local: RecordingLocal,
) -> None:
    _created(api, token, _nightly(item, expression="cron(0 3 * * ? *)"))
    created = _creation(scheduler, group, tenant["tenant_id"], "nightly")
    three = created.replace(hour=3, minute=0, second=0, microsecond=0)
    due = three if three > created else three + timedelta(days=1)

    before = firer.tick(due - timedelta(seconds=1))
    on_time = firer.tick(due)

    assert (before, on_time) == (0, 1)
    assert local.calls[0][2]["status"] == 202


def test_schedule_disabled_or_deleted_does_not_fire(
    api: Api,
    token: str,
    tenant: dict[str, Any],
    scheduler: Any,
    group: str,
    item: str,
    hook: dict[str, Any],
    firer: ScheduleFirer,
    local: RecordingLocal,
) -> None:
    _created(api, token, {**_nightly(item, name="paused", expression="rate(1 hour)"), "enabled": False})
    _created(api, token, _nightly(item, name="dropped", expression="rate(1 hour)"))
    created = _creation(scheduler, group, tenant["tenant_id"], "dropped")
    assert api.request("DELETE", "/schedules/dropped", token=token).status == 204

    fired = [firer.tick(created + timedelta(hours=hours, seconds=1)) for hours in (0, 1, 2)]

    assert fired == [0, 0, 0]
    assert local.calls == []


def test_schedule_of_each_tenant_fires_for_that_tenant(
    api: Api,
    token: str,
    tenant: dict[str, Any],
    other_tenant: dict[str, Any],
    scheduler: Any,
    group: str,
    item: str,
    hook: dict[str, Any],
    receiver: Receiver,
    firer: ScheduleFirer,
    local: RecordingLocal,
    deliveries: Callable[..., int],
) -> None:
    other = str(other_tenant["token"])
    _webhook(api, other, f"{receiver.url}/theirs")
    theirs = _put_item(api, other, 9)
    _created(api, token, _nightly(item, expression="rate(1 hour)"))
    _created(api, other, _nightly(theirs, expression="rate(1 hour)"))
    created = max(
        _creation(scheduler, group, tenant["tenant_id"], "nightly"),
        _creation(scheduler, group, other_tenant["tenant_id"], "nightly"),
    )

    fired = firer.tick(created + timedelta(seconds=1))
    deliveries()

    assert fired == 2
    assert {event[INPUT_KEY]["tenant_id"] for _, event, _ in local.calls} == {
        tenant["tenant_id"],
        other_tenant["tenant_id"],
    }
    assert [json.loads(r.body)["payload"]["n"] for r in receiver.to("/scheduled")] == [1]
    assert [json.loads(r.body)["payload"]["n"] for r in receiver.to("/theirs")] == [9]


def test_schedule_unique_names_do_not_collide_across_tenants_in_the_group(
    api: Api,
    token: str,
    tenant: dict[str, Any],
    other_tenant: dict[str, Any],
    scheduler: Any,
    group: str,
    item: str,
) -> None:
    other = str(other_tenant["token"])
    name = f"n-{uuid.uuid4().hex[:8]}"
    _created(api, token, _nightly(item, name=name))
    _created(api, other, _nightly(_put_item(api, other, 2), name=name))

    assert _moto_names(scheduler, group) == sorted(
        [f"{tenant['tenant_id']}--{name}", f"{other_tenant['tenant_id']}--{name}"]
    )
