"""devstack.scheduler under moto: schedules created through the Scheduler API fire their target
function when due, once per fire time, with the schedule's Input as the event."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from devstack.scheduler import ScheduleFirer
from devstack.stack import default_worker_factories

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:webhook-resend-ResendFunction"
OTHER_ARN = "arn:aws:lambda:us-east-1:123456789012:function:webhook-resend-AdminFunction"
ROLE_ARN = "arn:aws:iam::123456789012:role/webhook-resend-scheduler"
GROUP = "webhook-resend-tenants"
INPUT = {"tenant_id": "t-1", "resend": {"items": ["a", "b"], "webhooks": ["wh-1"]}}


# -- a tiny stand-in for LocalStack: what ScheduleFirer uses of it ------------------------------
@dataclass(frozen=True)
class FakeFunction:
    logical_id: str


@dataclass
class FakeStack:
    functions: dict[str, str]

    def function_by_arn(self, arn: str) -> FakeFunction:
        return FakeFunction(self.functions[arn])  # KeyError, as Stack raises, for anything else


@dataclass
class FakeLocal:
    stack: FakeStack
    aws_endpoint: str | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)

    def invoke(self, logical_id: str, event: Any) -> Any:
        self.calls.append((logical_id, event))
        if logical_id in self.failing:
            raise RuntimeError(f"{logical_id} failed")
        return {"ok": True}


@pytest.fixture
def local(aws: None) -> FakeLocal:
    return FakeLocal(FakeStack({FUNCTION_ARN: "ResendFunction", OTHER_ARN: "AdminFunction"}))


@pytest.fixture
def scheduler(aws: None) -> Any:
    client = boto3.client("scheduler", region_name="us-east-1")
    client.create_schedule_group(Name=GROUP)
    return client


@pytest.fixture
def firer(local: FakeLocal, scheduler: Any) -> Iterator[ScheduleFirer]:
    worker = ScheduleFirer(local)
    try:
        yield worker
    finally:
        worker.stop()


@pytest.fixture
def create(scheduler: Any) -> Callable[..., datetime]:
    """`create(name, expression, **options)` makes a schedule and answers its CreationDate (UTC)."""

    def make(
        name: str,
        expression: str,
        *,
        group: str = GROUP,
        arn: str = FUNCTION_ARN,
        payload: Any = INPUT,
        **options: Any,
    ) -> datetime:
        target: dict[str, Any] = {"Arn": arn, "RoleArn": ROLE_ARN}
        if payload is not None:
            target["Input"] = payload if isinstance(payload, str) else json.dumps(payload)
        scheduler.create_schedule(
            Name=name,
            GroupName=group,
            ScheduleExpression=expression,
            FlexibleTimeWindow={"Mode": "OFF"},
            Target=target,
            **options,
        )
        return scheduler.get_schedule(Name=name, GroupName=group)["CreationDate"].astimezone(UTC)

    return make


def next_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


# -- when it fires ----------------------------------------------------------------------------
def test_firer_rate_fires_at_creation_then_every_period(firer, local, create):
    created = create("nightly", "rate(5 minutes)")

    fired = [
        firer.tick(moment)
        for moment in (
            created + timedelta(seconds=1),  # due at creation
            created + timedelta(minutes=2),
            created + timedelta(minutes=5) - timedelta(seconds=1),
            created + timedelta(minutes=5),
            created + timedelta(minutes=7),
            created + timedelta(minutes=10, seconds=3),
        )
    ]

    assert fired == [1, 0, 0, 1, 0, 1]
    assert len(local.calls) == 3


def test_firer_cron_fires_on_the_minute_it_names(firer, local, create):
    created = create("hourly", "cron(0 * * * ? *)")
    due = next_hour(created)

    before = firer.tick(due - timedelta(seconds=1))
    on_time = firer.tick(due)
    later = firer.tick(due + timedelta(minutes=30))
    next_one = firer.tick(due + timedelta(hours=1, seconds=2))

    assert (before, on_time, later, next_one) == (0, 1, 0, 1)


def test_firer_passes_the_input_as_the_event_to_the_target(firer, local, create):
    created = create("nightly", "rate(1 day)")

    firer.tick(created + timedelta(seconds=1))

    assert local.calls == [("ResendFunction", INPUT)]


def test_firer_without_input_sends_an_empty_object(firer, local, create):
    created = create("bare", "rate(1 day)", payload=None)

    firer.tick(created + timedelta(seconds=1))

    assert local.calls == [("ResendFunction", {})]


def test_firer_fills_in_scheduler_context_attributes(firer, local, create):
    payload = '{"when": "<aws.scheduler.scheduled-time>", "schedule": "<aws.scheduler.schedule-arn>"}'
    created = create("contextual", "cron(0 * * * ? *)", payload=payload)
    due = next_hour(created)

    firer.tick(due)

    event = local.calls[0][1]
    assert event["when"] == due.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert event["schedule"].endswith(f":schedule/{GROUP}/contextual")


# -- once per fire time ---------------------------------------------------------------------------
def test_firer_never_fires_a_fire_time_twice(firer, local, create):
    created = create("hourly", "cron(0 * * * ? *)")
    due = next_hour(created)

    first = firer.tick(due)
    again = firer.tick(due)
    earlier = firer.tick(due - timedelta(minutes=10))  # the clock going back changes nothing
    again_later = firer.tick(due + timedelta(seconds=59))

    assert (first, again, earlier, again_later) == (1, 0, 0, 0)
    assert len(local.calls) == 1


def test_firer_fires_once_for_fire_times_missed_in_one_gap(firer, local, create):
    created = create("often", "rate(5 minutes)")
    firer.tick(created + timedelta(seconds=1))

    after_a_long_gap = firer.tick(created + timedelta(minutes=31))

    assert after_a_long_gap == 1
    assert len(local.calls) == 2


def test_firer_first_check_fires_what_fell_due_since_creation(local, scheduler, create):
    created = create("hourly", "cron(0 * * * ? *)")
    # A firer started after the schedule was made still owes it the fire time since creation.
    late = ScheduleFirer(local)

    assert late.tick(next_hour(created) + timedelta(seconds=20)) == 1


def test_firer_cron_does_not_fire_for_times_before_creation(firer, local, create):
    created = create("minutely", "cron(* * * * ? *)")
    # The minute the schedule was created in began before it existed.
    next_minute = created.replace(second=0, microsecond=0) + timedelta(minutes=1)

    just_before = firer.tick(next_minute - timedelta(microseconds=1))
    on_the_minute = firer.tick(next_minute)

    assert (just_before, on_the_minute) == (0, 1)


# -- state, dates and completion ------------------------------------------------------------------
def test_firer_skips_disabled_schedules(firer, local, create):
    created = create("paused", "rate(1 minute)", State="DISABLED")

    fired = [firer.tick(created + timedelta(minutes=minutes)) for minutes in (0, 1, 5, 60)]

    assert fired == [0, 0, 0, 0]
    assert local.calls == []


def test_firer_enabled_again_does_not_fire_what_fell_due_while_disabled(firer, local, scheduler, create):
    created = create("paused", "cron(0 * * * ? *)", State="DISABLED")
    due = next_hour(created)
    firer.tick(due + timedelta(minutes=1))
    scheduler.update_schedule(
        Name="paused",
        GroupName=GROUP,
        ScheduleExpression="cron(0 * * * ? *)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": FUNCTION_ARN, "RoleArn": ROLE_ARN, "Input": json.dumps(INPUT)},
        State="ENABLED",
    )

    missed = firer.tick(due + timedelta(minutes=2))
    next_one = firer.tick(due + timedelta(hours=1))

    assert (missed, next_one) == (0, 1)


def test_firer_rate_counts_from_start_date_and_stops_at_end_date(firer, local, create):
    now = datetime.now(UTC).replace(microsecond=0)
    start, end = now + timedelta(hours=2), now + timedelta(hours=4, minutes=30)
    create("windowed", "rate(1 hour)", StartDate=start, EndDate=end)

    fired = [
        firer.tick(moment)
        for moment in (
            now + timedelta(minutes=1),  # not started
            start,
            start + timedelta(hours=1),
            start + timedelta(hours=2),
            start + timedelta(hours=3),  # past EndDate
        )
    ]

    assert fired == [0, 1, 1, 1, 0]


def test_firer_cron_waits_for_start_date(firer, local, create):
    now = datetime.now(UTC)
    start = next_hour(now) + timedelta(hours=1, minutes=30)
    create("later", "cron(0 * * * ? *)", StartDate=start)

    before_start = firer.tick(start - timedelta(minutes=1))
    first = firer.tick(start + timedelta(minutes=30))

    assert (before_start, first) == (0, 1)


def test_firer_at_fires_once_at_its_time(firer, local, create):
    when = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    create("once", f"at({when:%Y-%m-%dT%H:%M:%S})")

    fired = [firer.tick(moment) for moment in (when - timedelta(seconds=1), when, when + timedelta(days=1))]

    assert fired == [0, 1, 0]


def test_firer_deletes_a_completed_schedule_with_action_after_completion_delete(
    firer, local, scheduler, create
):
    when = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    create("once", f"at({when:%Y-%m-%dT%H:%M:%S})", ActionAfterCompletion="DELETE")

    firer.tick(when)

    names = [s["Name"] for s in scheduler.list_schedules(GroupName=GROUP)["Schedules"]]
    assert names == []
    assert len(local.calls) == 1


# -- every group, and failures that do not stop the rest -------------------------------------------
def test_firer_fires_schedules_of_every_group(firer, local, create):
    created = create("in-default", "rate(1 hour)", group="default", arn=OTHER_ARN)
    create("in-group", "rate(1 hour)")

    fired = firer.tick(created + timedelta(minutes=1))

    assert fired == 2
    assert sorted(call[0] for call in local.calls) == ["AdminFunction", "ResendFunction"]


def test_firer_failing_function_is_logged_and_does_not_stop_others(firer, local, create, caplog):
    local.failing.add("AdminFunction")
    created = create("broken", "rate(1 hour)", arn=OTHER_ARN)
    create("healthy", "rate(1 hour)")

    fired = firer.tick(created + timedelta(minutes=1))
    retried = firer.tick(created + timedelta(minutes=2))

    assert fired == 2
    assert retried == 0  # a failed fire time is not fired again
    assert firer.failures == 1
    assert ("ResendFunction", INPUT) in local.calls
    assert "AdminFunction failed" in caplog.text


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        (
            {"arn": "arn:aws:lambda:us-east-1:123456789012:function:elsewhere"},
            "not a function of the template",
        ),
        ({"ScheduleExpressionTimezone": "Europe/Amsterdam"}, "only UTC"),
        ({"expression": "rate(1 minutes)"}, "invalid ScheduleExpression"),
    ],
)
def test_firer_skips_schedules_it_cannot_fire_with_a_warning(firer, local, create, caplog, options, problem):
    expression = options.pop("expression", "rate(1 hour)")
    created = create("odd", expression, **options)
    create("healthy", "rate(1 hour)")

    fired = firer.tick(created + timedelta(minutes=1))

    assert fired == 1
    assert local.calls == [("ResendFunction", INPUT)]
    assert problem in caplog.text


def test_firer_input_that_is_not_json_is_logged_not_invoked(firer, local, create, caplog):
    created = create("garbled", "rate(1 hour)", payload="{not json")

    firer.tick(created + timedelta(minutes=1))

    assert local.calls == []
    assert "not JSON" in caplog.text


def test_firer_qualified_function_arn_runs_the_function(firer, local, create):
    created = create("aliased", "rate(1 hour)", arn=f"{FUNCTION_ARN}:live")

    firer.tick(created + timedelta(minutes=1))

    assert local.calls == [("ResendFunction", INPUT)]


def test_firer_recreated_schedule_is_a_new_schedule(firer, local, scheduler, create):
    created = create("again", "rate(1 hour)")
    firer.tick(created + timedelta(seconds=1))
    scheduler.delete_schedule(Name="again", GroupName=GROUP)
    firer.tick(created + timedelta(seconds=2))
    time.sleep(0.01)  # a distinct CreationDate
    recreated = create("again", "rate(1 hour)")

    fired = firer.tick(recreated + timedelta(seconds=3))

    assert fired == 1
    assert len(local.calls) == 2


# -- the background thread --------------------------------------------------------------------
def test_firer_thread_fires_and_stops(local, scheduler, create):
    worker = ScheduleFirer(local, interval=0.05)
    worker.start()
    try:
        create("soon", "rate(1 minute)")
        deadline = time.monotonic() + 10
        while not local.calls and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        worker.stop()

    assert local.calls == [("ResendFunction", INPUT)]
    assert not any(thread.name == "schedule-firer" for thread in threading.enumerate())


def test_firer_is_a_default_worker_of_the_local_stack():
    assert ScheduleFirer in default_worker_factories()
