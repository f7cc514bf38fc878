"""The template's own schedules, fired for the local stack: every `Schedule` (EventBridge rule)
and `ScheduleV2` (EventBridge Scheduler) event of its functions, such as the waker's minute.

SAM turns such an event into a rule or a schedule of the deployed stack. Locally none is created
on moto (`ScheduleFirer` fires what the Scheduler API created: the tenants' schedules); this worker
fires each event at its expression's times, counted from the stack's start (a rate fires at once,
then once a period; a cron at its matching minutes), with the event's `Input` as the function's
event (`{}` for a Scheduler event without one, the "Scheduled Event" envelope for a rule). When
`LOCAL_SCHEDULE_EVENT_SECONDS` is set, every such event fires that often instead: local only
(AWS fires at most once a minute), so that a test need not wait a minute for the waker. A disabled
event is not fired. Functions run on this worker's thread, one after another; a failing invocation
is logged and the event fires again at its next time. Several times missed in one gap fire once.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from devstack.scheduler import schedule_expr

if TYPE_CHECKING:
    from webhook_resend.resends.schedule_expressions import Schedule

log = logging.getLogger(__name__)

INTERVAL_VARIABLE = "LOCAL_SCHEDULE_EVENT_SECONDS"
CHECK_INTERVAL_SECONDS = 1.0
# Only a function already running can hold stop() up.
STOP_TIMEOUT_SECONDS = 30.0
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class ScheduleEvent:
    """One `Schedule` or `ScheduleV2` event of one function."""

    function: str  # logical id
    name: str
    kind: str  # "Schedule" | "ScheduleV2"
    schedule: Schedule
    input_text: str | None
    enabled: bool


def _enabled(kind: str, props: Mapping[str, Any]) -> bool:
    if kind == "Schedule" and "Enabled" in props:  # a rule's older switch
        return str(props["Enabled"]).lower() == "true"
    return str(props.get("State") or "ENABLED").upper() == "ENABLED"


def schedule_events_of(stack: Any) -> list[ScheduleEvent]:
    """Every schedule event of the stack's functions; ValueError names one whose expression AWS
    would refuse."""
    found = []
    for spec in stack.functions():
        for kind, expression_key in (("Schedule", "Schedule"), ("ScheduleV2", "ScheduleExpression")):
            for name, event in spec.events_of_type(kind).items():
                props = event.get("Properties") or {}
                expression = str(props.get(expression_key) or "")
                try:
                    schedule = schedule_expr.parse(expression)
                except ValueError as error:
                    raise ValueError(f"{spec.logical_id}.{name}: {error}") from None
                input_text = props.get("Input")
                found.append(
                    ScheduleEvent(
                        function=spec.logical_id,
                        name=name,
                        kind=kind,
                        schedule=schedule,
                        input_text=None if input_text is None else str(input_text),
                        enabled=_enabled(kind, props),
                    )
                )
    return found


def event_payload(
    event: ScheduleEvent, fire_time: datetime, region: str = "us-east-1", account: str = "123456789012"
) -> Any:
    """What the function receives when the event fires."""
    if event.input_text is not None:
        return json.loads(event.input_text)
    if event.kind == "ScheduleV2":
        return {}
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": account,
        "time": fire_time.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"arn:aws:events:{region}:{account}:rule/{event.function}{event.name}"],
        "detail": {},
    }


def _interval(local: Any) -> float | None:
    raw = (getattr(local, "env", None) or {}).get(INTERVAL_VARIABLE)
    if not raw:
        return None
    seconds = float(raw)
    if seconds <= 0:
        raise ValueError(f"{INTERVAL_VARIABLE} must be a positive number of seconds, not {raw!r}")
    return seconds


class ScheduleEvents:
    """Every schedule event of the template, fired when due, as one worker of the local stack.

    `tick(now)` fires what is due at `now` and answers how many events fired (a failing invocation
    counts: it was fired, and is logged); tests drive it directly. `start()` checks once a second
    on a thread until `stop()`.
    """

    def __init__(
        self,
        local: Any,
        *,
        interval: float | None = None,
        started: datetime | None = None,
        check_interval: float = CHECK_INTERVAL_SECONDS,
    ) -> None:
        self._local = local
        self._interval = interval if interval is not None else _interval(local)
        self._check_interval = check_interval
        self._region = getattr(local.stack, "region", None) or "us-east-1"
        self._account = getattr(local.stack, "account_id", None) or "123456789012"
        self.events = [e for e in schedule_events_of(local.stack) if e.enabled]
        start = started or datetime.now(UTC)
        self._start = start
        # Each event's next fire time; the first is the start itself for a rate (or an interval).
        self._next: dict[tuple[str, str], datetime | None] = {
            (e.function, e.name): start if self._interval is not None else self._following(e, start - _TICK)
            for e in self.events
        }
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.fired = 0
        self.failures = 0

    def _following(self, event: ScheduleEvent, moment: datetime) -> datetime | None:
        """The event's first fire time after `moment`."""
        if self._interval is not None:
            return moment + timedelta(seconds=self._interval)
        return event.schedule.next_after(moment, anchor=self._start)

    def tick(self, now: datetime | None = None) -> int:
        now = now or datetime.now(UTC)
        fired = 0
        for event in self.events:
            if self._stop.is_set():
                break
            key = (event.function, event.name)
            due = self._next[key]
            if due is None or due > now:
                continue
            self._fire(event, due)
            fired += 1
            following = self._following(event, due)
            while following is not None and following <= now:  # missed in a gap: fired once
                following = self._following(event, following)
            self._next[key] = following
        return fired

    def _fire(self, event: ScheduleEvent, due: datetime) -> None:
        self.fired += 1
        try:
            self._local.invoke(event.function, event_payload(event, due, self._region, self._account))
        except Exception:
            self.failures += 1
            log.exception("%s's %s event failed for %s", event.function, event.name, due)

    # -- background thread ---------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.tick()
            except Exception:
                log.exception("firing schedule events failed")
            self._stop.wait(self._check_interval)

    def start(self) -> None:
        if not self.events or (self._thread is not None and self._thread.is_alive()):
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="schedule-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=STOP_TIMEOUT_SECONDS)
            if self._thread.is_alive():
                log.warning("a scheduled function is still running; leaving it behind")
            self._thread = None
