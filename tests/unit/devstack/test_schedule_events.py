"""devstack.schedule_events: the template's own Schedule / ScheduleV2 events, fired by the local
stack at their expression's times, or every LOCAL_SCHEDULE_EVENT_SECONDS when that is set."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack.cfn import load_template
from devstack.schedule_events import ScheduleEvents, schedule_events_of

ROOT = Path(__file__).resolve().parents[3]
START = datetime(2026, 5, 1, 12, 0, 0, tzinfo=UTC)


@dataclass(frozen=True)
class FakeSpec:
    logical_id: str
    events: dict[str, dict[str, Any]]

    def events_of_type(self, event_type: str) -> dict[str, dict[str, Any]]:
        return {name: e for name, e in self.events.items() if e.get("Type") == event_type}


@dataclass
class FakeStack:
    specs: list[FakeSpec]
    region: str = "eu-west-1"

    def functions(self) -> list[FakeSpec]:
        return self.specs


@dataclass
class FakeLocal:
    stack: FakeStack
    env: dict[str, str] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)

    def invoke(self, logical_id: str, event: Any) -> Any:
        self.calls.append((logical_id, event))
        if logical_id in self.failing:
            raise RuntimeError(f"{logical_id} failed")
        return {}


def _local(events: dict[str, dict[str, Any]], env: dict[str, str] | None = None) -> FakeLocal:
    return FakeLocal(FakeStack([FakeSpec("WakerFunction", events), FakeSpec("Other", {})]), env or {})


def _v2(expression: str, **props: Any) -> dict[str, Any]:
    return {"Type": "ScheduleV2", "Properties": {"ScheduleExpression": expression, **props}}


def _at(seconds: float) -> datetime:
    return START + timedelta(seconds=seconds)


def test_schedule_events_rate_fires_at_start_then_once_a_period() -> None:
    local = _local({"EveryMinute": _v2("rate(1 minute)")})
    events = ScheduleEvents(local, started=START)

    fired = [events.tick(_at(s)) for s in (0, 30, 59, 60, 61, 120)]

    assert fired == [1, 0, 0, 1, 0, 1]
    assert [name for name, _ in local.calls] == ["WakerFunction"] * 3


def test_schedule_events_interval_setting_fires_that_often_instead() -> None:
    local = _local({"EveryMinute": _v2("rate(1 minute)")}, env={"LOCAL_SCHEDULE_EVENT_SECONDS": "2"})
    events = ScheduleEvents(local, started=START)

    fired = [events.tick(_at(s)) for s in (0, 1, 2, 3, 4.5, 6)]

    assert fired == [1, 0, 1, 0, 1, 1]


def test_schedule_events_times_missed_in_one_gap_fire_once() -> None:
    local = _local({"EveryMinute": _v2("rate(1 minute)")})
    events = ScheduleEvents(local, started=START)
    events.tick(_at(0))

    assert events.tick(_at(600)) == 1
    assert events.tick(_at(601)) == 0
    assert events.tick(_at(660)) == 1


def test_schedule_events_cron_fires_at_its_matching_minutes() -> None:
    local = _local({"Hourly": _v2("cron(30 * * * ? *)")})
    events = ScheduleEvents(local, started=START)

    assert [events.tick(_at(s)) for s in (0, 1799, 1800, 1801, 5400)] == [0, 0, 1, 0, 1]


def test_schedule_events_pass_the_input_or_an_empty_event() -> None:
    local = _local(
        {
            "WithInput": _v2("rate(1 minute)", Input=json.dumps({"wake": "now"})),
            "Bare": _v2("rate(1 minute)"),
        }
    )

    ScheduleEvents(local, started=START).tick(START)

    assert sorted(json.dumps(event, sort_keys=True) for _, event in local.calls) == ['{"wake": "now"}', "{}"]


def test_schedule_events_rule_without_input_gets_a_scheduled_event() -> None:
    local = _local({"Rule": {"Type": "Schedule", "Properties": {"Schedule": "rate(5 minutes)"}}})

    ScheduleEvents(local, started=START).tick(START)

    [(_, event)] = local.calls
    assert (event["detail-type"], event["source"], event["region"]) == (
        "Scheduled Event",
        "aws.events",
        "eu-west-1",
    )
    assert event["time"] == "2026-05-01T12:00:00Z"


@pytest.mark.parametrize(
    "event",
    [
        _v2("rate(1 minute)", State="DISABLED"),
        {"Type": "Schedule", "Properties": {"Schedule": "rate(1 minute)", "Enabled": False}},
        {"Type": "Schedule", "Properties": {"Schedule": "rate(1 minute)", "State": "DISABLED"}},
    ],
)
def test_schedule_events_disabled_event_never_fires(event: dict[str, Any]) -> None:
    local = _local({"Off": event})
    events = ScheduleEvents(local, started=START)

    assert [events.tick(_at(s)) for s in (0, 60, 120)] == [0, 0, 0]
    assert local.calls == []


def test_schedule_events_failing_function_is_logged_and_fires_again() -> None:
    local = _local({"EveryMinute": _v2("rate(1 minute)")})
    local.failing.add("WakerFunction")
    events = ScheduleEvents(local, started=START)

    assert [events.tick(_at(s)) for s in (0, 60)] == [1, 1]
    assert (events.fired, events.failures) == (2, 2)


def test_schedule_events_refuse_an_expression_aws_would_refuse() -> None:
    with pytest.raises(ValueError, match=r"WakerFunction\.Fast"):
        schedule_events_of(FakeStack([FakeSpec("WakerFunction", {"Fast": _v2("rate(30 seconds)")})]))


def test_schedule_events_refuse_a_non_positive_interval_setting() -> None:
    local = _local({"EveryMinute": _v2("rate(1 minute)")}, env={"LOCAL_SCHEDULE_EVENT_SECONDS": "0"})

    with pytest.raises(ValueError, match="LOCAL_SCHEDULE_EVENT_SECONDS"):
        ScheduleEvents(local, started=START)


def test_schedule_events_of_the_template_wake_parked_pairs_every_minute() -> None:
    resources = load_template(ROOT / "template.yaml")["Resources"]
    specs = [
        FakeSpec(logical_id, resource["Properties"].get("Events") or {})
        for logical_id, resource in resources.items()
        if resource["Type"] == "AWS::Serverless::Function"
    ]

    found = schedule_events_of(FakeStack(specs))

    assert [(e.function, str(e.schedule), e.enabled) for e in found] == [
        ("WakerFunction", "rate(1 minute)", True)
    ]
