"""EventBridge Scheduler, emulated for the local stack: the schedules created on moto, fired.

Moto stores schedules but never runs them. `ScheduleFirer` reads every schedule of every
schedule group once a second (ListScheduleGroups, ListSchedules, and GetSchedule when a
schedule is new or changed) and, for each ENABLED one whose next fire time has come since it
last looked, invokes the target function of the template in-process with the schedule's
`Target.Input` parsed as JSON, which is what Lambda hands the function when Scheduler invokes it.

Fire times come from `webhook_resend.resends.schedule_expressions`: a rate schedule counts its
periods from its StartDate, else from its creation (so it fires at once); cron and rate schedules
fire only from StartDate and before EndDate; an `at(...)` schedule fires once (StartDate and
EndDate do not apply to it). A schedule seen for the first time may fire for what became due since
it was created; after that, each check covers the time since the previous one, so a fire time is
never fired twice, and several fire times missed in one gap (a paused laptop, a slow function)
fire once. A disabled schedule's fire times pass unfired, as in Scheduler. With
`ActionAfterCompletion` DELETE, a schedule that will not fire again is deleted.

Not emulated: time zones other than UTC (such schedules are skipped with a warning), flexible
time windows (everything fires on the minute), retries, dead-letter queues, targets other than
the template's functions, and Lambda's asynchronous invocation (the function runs on this
worker's thread, one schedule after another).
"""

from __future__ import annotations

import importlib.util
import json
import logging
import sys
import threading
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import TYPE_CHECKING, Any

import boto3

from devstack.lambdas import PROJECT_LAYER

if TYPE_CHECKING:
    from webhook_resend.resends.schedule_expressions import Schedule

log = logging.getLogger(__name__)

CHECK_INTERVAL_SECONDS = 1.0
STOP_TIMEOUT_SECONDS = 30.0
UTC_ZONES = frozenset({"UTC", "Etc/UTC", "GMT", "Etc/GMT", "UCT", "Etc/UCT", "Universal", "Zulu"})
_TICK = timedelta(microseconds=1)


def _load_schedule_expr() -> ModuleType:
    """The layer's `schedule_expressions` module (stdlib only), loaded from its file under a name of
    the local stack's own: the layer is not on `python -m devstack`'s path, and putting it there would
    let the functions' imports find a `webhook_resend` the stack imported instead of their own."""
    name = "devstack._schedule_expressions"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, PROJECT_LAYER / "webhook_resend" / "resends" / "schedule_expressions.py"
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {name} from {PROJECT_LAYER}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


schedule_expr = _load_schedule_expr()


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _optional_utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else _utc(moment)


@dataclass(frozen=True)
class Plan:
    """What one schedule's GetSchedule answer says: when it fires, and what."""

    group: str
    name: str
    arn: str
    schedule: Schedule
    function: str  # the logical id of the target function
    input_text: str | None
    created: datetime
    start: datetime | None
    end: datetime | None
    delete_after_completion: bool

    @property
    def anchor(self) -> datetime:
        """Where a rate schedule counts its periods from."""
        return self.start or self.created

    @property
    def window_start(self) -> datetime:
        """The earliest a fire time may be."""
        return self.created if not self.schedule.recurring else self.anchor

    def next_after(self, moment: datetime) -> datetime | None:
        """The first fire time after `moment` this schedule may still fire at, or None."""
        if self.schedule.recurring and self.start is not None:
            moment = max(moment, self.start - _TICK)
        due = self.schedule.next_after(moment, anchor=self.anchor)
        if due is None or (self.schedule.recurring and self.end is not None and due >= self.end):
            return None
        return due


class UnfireableScheduleError(Exception):
    """A schedule the local stack cannot fire (its expression, time zone or target)."""


def plan_of(details: Mapping[str, Any], stack: Any) -> Plan:
    """A GetSchedule answer as a Plan; UnfireableScheduleError says why it cannot be one."""
    expression = details.get("ScheduleExpression") or ""
    try:
        schedule = schedule_expr.parse(expression)
    except ValueError as error:
        raise UnfireableScheduleError(f"invalid ScheduleExpression: {error}") from None
    zone = details.get("ScheduleExpressionTimezone") or "UTC"
    if zone not in UTC_ZONES:
        raise UnfireableScheduleError(f"ScheduleExpressionTimezone {zone!r}: only UTC is emulated")
    target = details.get("Target") or {}
    function = _function_of(stack, str(target.get("Arn") or ""))
    return Plan(
        group=details.get("GroupName") or "default",
        name=details["Name"],
        arn=details.get("Arn") or "",
        schedule=schedule,
        function=function.logical_id,
        input_text=target.get("Input"),
        created=_utc(details["CreationDate"]),
        start=_optional_utc(details.get("StartDate")),
        end=_optional_utc(details.get("EndDate")),
        delete_after_completion=details.get("ActionAfterCompletion") == "DELETE",
    )


def _function_of(stack: Any, arn: str) -> Any:
    candidates = [arn]
    parts = arn.split(":")
    if len(parts) == 8:  # `...:function:name:alias` (or a version) runs the same code locally
        candidates.append(":".join(parts[:7]))
    for candidate in candidates:
        try:
            return stack.function_by_arn(candidate)
        except KeyError:
            continue
    raise UnfireableScheduleError(f"target {arn!r} is not a function of the template")


def scheduler_event(plan: Plan, fire_time: datetime) -> Any:
    """The event the function receives: Target.Input as JSON, with Scheduler's context attributes
    (`<aws.scheduler.scheduled-time>`, ...) filled in as Scheduler fills them in; `{}` without
    an Input. ValueError if the Input is not JSON (Lambda would refuse the payload)."""
    if plan.input_text is None:
        return {}
    text = plan.input_text
    for attribute, value in {
        "<aws.scheduler.schedule-arn>": plan.arn,
        "<aws.scheduler.scheduled-time>": fire_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "<aws.scheduler.execution-id>": str(uuid.uuid4()),
        "<aws.scheduler.attempt-number>": "1",
    }.items():
        text = text.replace(attribute, value)
    return json.loads(text)


@dataclass
class _Seen:
    """A schedule as of the last check."""

    checked_until: datetime  # every fire time up to here is dealt with
    modified: Any = None  # LastModificationDate of `plan`
    plan: Plan | None = None
    problem: str | None = None  # why it cannot be fired, reported once per modification


class ScheduleFirer:
    """Every schedule on moto, fired when due, as one worker of the local stack.

    `tick(now)` fires what is due at `now` and answers how many schedules it fired (a failing
    invocation counts: it was fired, and is logged); tests drive it directly. `start()` checks
    once a second on a thread until `stop()`.
    """

    def __init__(self, local: Any, *, interval: float = CHECK_INTERVAL_SECONDS, client: Any = None) -> None:
        self._local = local
        self._interval = interval
        self._client = client or boto3.client(
            "scheduler",
            endpoint_url=local.aws_endpoint,
            region_name=getattr(local.stack, "region", None),
        )
        self._seen: dict[tuple[str, str, Any], _Seen] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired = 0
        self.failures = 0

    # -- one check --------------------------------------------------------------------------------
    def tick(self, now: datetime | None = None) -> int:
        now = _utc(now) if now is not None else datetime.now(UTC)
        with self._lock:
            fired = 0
            listed: set[tuple[str, str, Any]] = set()
            for summary in self._summaries():
                if self._stop.is_set():
                    return fired  # partial: keep what was seen for the next run
                key = (summary.get("GroupName") or "default", summary["Name"], summary.get("CreationDate"))
                listed.add(key)
                try:
                    fired += self._check(key, summary, now)
                except Exception:
                    log.exception("schedule %s/%s: checking failed", key[0], key[1])
            for gone in set(self._seen) - listed:
                del self._seen[gone]
            return fired

    def _summaries(self) -> Iterator[dict[str, Any]]:
        groups = self._client.get_paginator("list_schedule_groups")
        schedules = self._client.get_paginator("list_schedules")
        for page in groups.paginate():
            for group in page.get("ScheduleGroups", []):
                for listed in schedules.paginate(GroupName=group["Name"]):
                    for summary in listed.get("Schedules", []):
                        yield {"GroupName": group["Name"], **summary}

    def _check(self, key: tuple[str, str, Any], summary: Mapping[str, Any], now: datetime) -> int:
        seen = self._seen.get(key)
        if summary.get("State") != "ENABLED":
            # What falls due while disabled is not fired when the schedule is enabled again.
            if seen is None:
                self._seen[key] = _Seen(checked_until=now)
            else:
                seen.checked_until = max(seen.checked_until, now)
            return 0
        modified = summary.get("LastModificationDate")
        if seen is None or seen.modified != modified or (seen.plan is None and seen.problem is None):
            seen = self._refresh(key, seen, modified)
            if seen is None:
                return 0
        if seen.plan is None:
            seen.checked_until = max(seen.checked_until, now)
            return 0
        plan = seen.plan
        since = seen.checked_until
        seen.checked_until = max(since, now)
        due = plan.next_after(since)
        if due is not None and due <= now:
            self._fire(plan, due)
            fired = 1
        else:
            fired = 0
        if plan.delete_after_completion and plan.next_after(max(since, now)) is None:
            self._delete(plan)
        return fired

    def _refresh(self, key: tuple[str, str, Any], seen: _Seen | None, modified: Any) -> _Seen | None:
        group, name, _ = key
        try:
            details = self._client.get_schedule(GroupName=group, Name=name)
        except self._client.exceptions.ResourceNotFoundException:
            return None  # deleted since it was listed
        try:
            plan, problem = plan_of(details, self._local.stack), None
        except UnfireableScheduleError as error:
            plan, problem = None, str(error)
            log.warning("schedule %s/%s is not fired: %s", group, name, problem)
        if seen is None:
            # New: what fell due since it was created (or since StartDate) is due now.
            start = plan.window_start if plan is not None else _utc(details["CreationDate"])
            seen = self._seen[key] = _Seen(checked_until=start - _TICK)
        seen.modified, seen.plan, seen.problem = modified, plan, problem
        return seen

    def _fire(self, plan: Plan, due: datetime) -> None:
        self.fired += 1
        try:
            event = scheduler_event(plan, due)
        except ValueError as error:
            self.failures += 1
            log.error("schedule %s/%s at %s: Target.Input is not JSON: %s", plan.group, plan.name, due, error)
            return
        log.info("schedule %s/%s fires %s for %s", plan.group, plan.name, plan.function, due)
        try:
            self._local.invoke(plan.function, event)
        except Exception:
            self.failures += 1
            log.exception("schedule %s/%s: %s failed for %s", plan.group, plan.name, plan.function, due)

    def _delete(self, plan: Plan) -> None:
        try:
            self._client.delete_schedule(GroupName=plan.group, Name=plan.name)
            log.info(
                "schedule %s/%s completed and was deleted (ActionAfterCompletion)", plan.group, plan.name
            )
        except self._client.exceptions.ResourceNotFoundException:
            pass

    # -- background thread ---------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("checking schedules failed")
            self._stop.wait(self._interval)

    def start(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="schedule-firer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            # Only a function already running can hold it up; a check in progress stops early.
            self._thread.join(timeout=STOP_TIMEOUT_SECONDS)
            if self._thread.is_alive():
                log.warning("the schedule firer is still running a function; leaving it behind")
            self._thread = None
