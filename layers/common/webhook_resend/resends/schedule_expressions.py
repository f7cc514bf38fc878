"""EventBridge Scheduler schedule expressions, validated as Scheduler validates them, and when a
schedule fires next.

Three forms, as `CreateSchedule` takes them in `ScheduleExpression`:

* `rate(value unit)`: every `value` minutes, hours or days from an anchor (the schedule's
  StartDate, or when it was created), the anchor itself included. A value of 1 takes the
  singular unit (`rate(1 day)`), anything larger the plural (`rate(5 minutes)`).
* `cron(minutes hours day-of-month month day-of-week year)`: six fields of values, names
  (JAN-DEC, SUN-SAT with SUN = 1) and the wildcards `,` `-` `*` `/` `?` `L` `W` `#`, each only
  where AWS allows it; exactly one of day-of-month and day-of-week is `?`.
* `at(yyyy-mm-ddThh:mm:ss)`: once.

Everything here is UTC (the schedule's `ScheduleExpressionTimezone` is the caller's business):
a naive datetime is taken as UTC and every answer is an aware UTC datetime. Pure: no I/O, no
clock; `parse` raises ValueError with a message that names the field, what is wrong with it and
what it allows.

Where AWS's documentation is silent this module follows Quartz, whose syntax Scheduler's cron
comes from, and leans strict: names and `L`/`W` in any case; `L` alone in day-of-week is Saturday;
`15W` never leaves the month and does not fire in months without a 15th; `/` takes `*`, a value
or a range before it and an increment of at most the field's top value (59 for minutes); ranges
do not wrap around (`22-2` is refused); Quartz's `L-3` (third-to-last day) is refused.
"""

from __future__ import annotations

import calendar
import re
from abc import ABC, abstractmethod
from bisect import bisect_left
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import ClassVar

__all__ = [
    "FIRST_YEAR",
    "LAST_YEAR",
    "MAX_EXPRESSION_LENGTH",
    "AtSchedule",
    "CronSchedule",
    "RateSchedule",
    "Schedule",
    "parse",
]

MAX_EXPRESSION_LENGTH = 256  # CreateSchedule's limit on ScheduleExpression
FIRST_YEAR, LAST_YEAR = 1970, 2199  # the cron year field's range
FORMS = "rate(value unit), cron(minutes hours day-of-month month day-of-week year) or at(yyyy-mm-ddThh:mm:ss)"

_MINUTE = timedelta(minutes=1)
_RATE_UNITS = {
    "minute": ("minutes", timedelta(minutes=1)),
    "hour": ("hours", timedelta(hours=1)),
    "day": ("days", timedelta(days=1)),
}
_AT = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})")
_SATURDAY = 7


def _utc(moment: datetime, what: str = "moment") -> datetime:
    if not isinstance(moment, datetime):
        raise TypeError(f"{what} must be a datetime, not {type(moment).__name__}")
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _aws_weekday(year: int, month: int, day: int) -> int:
    """1 = Sunday ... 7 = Saturday, as the day-of-week field counts."""
    return (calendar.weekday(year, month, day) + 1) % 7 + 1


# ---------------------------------------------------------------------------------------------
# Schedules
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Schedule(ABC):
    """A parsed schedule expression; `str()` gives the expression back."""

    expression: str
    kind: ClassVar[str] = ""
    recurring: ClassVar[bool] = True

    def __str__(self) -> str:
        return self.expression

    @abstractmethod
    def next_after(self, moment: datetime, anchor: datetime | None = None) -> datetime | None:
        """The first fire time strictly after `moment` (aware UTC), or None if there is none.

        `anchor` is where a rate schedule counts its periods from (StartDate, else the creation
        time); cron and at schedules do not need one.
        """


@dataclass(frozen=True)
class RateSchedule(Schedule):
    """`rate(value unit)`: fires at anchor + k × period for k = 0, 1, 2..."""

    value: int = 1
    unit: str = "minutes"  # always plural here, whatever the expression says
    period: timedelta = _MINUTE
    kind: ClassVar[str] = "rate"

    def next_after(self, moment: datetime, anchor: datetime | None = None) -> datetime | None:
        if anchor is None:
            raise ValueError(
                f"{self.expression} fires at anchor + k × {self.value} {self.unit}: "
                "pass anchor= (the schedule's StartDate, else its creation time)"
            )
        moment, anchor = _utc(moment), _utc(anchor, "anchor")
        if moment < anchor:
            return anchor
        periods = (moment - anchor) // self.period + 1
        try:
            return anchor + periods * self.period
        except OverflowError:
            return None


@dataclass(frozen=True)
class AtSchedule(Schedule):
    """`at(yyyy-mm-ddThh:mm:ss)`: fires once."""

    when: datetime = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
    kind: ClassVar[str] = "at"
    recurring: ClassVar[bool] = False

    def next_after(self, moment: datetime, anchor: datetime | None = None) -> datetime | None:
        return self.when if self.when > _utc(moment) else None


# Day rules: which days of a given month a cron expression fires on. Exactly one of
# day-of-month and day-of-week names days (the other is `?`), so a schedule has one rule.
@dataclass(frozen=True)
class _DaysOfMonth:
    days: tuple[int, ...]

    def days_in(self, year: int, month: int) -> list[int]:
        last = calendar.monthrange(year, month)[1]
        return [day for day in self.days if day <= last]


@dataclass(frozen=True)
class _LastDayOfMonth:
    def days_in(self, year: int, month: int) -> list[int]:
        return [calendar.monthrange(year, month)[1]]


@dataclass(frozen=True)
class _LastWeekdayOfMonth:
    """`LW`: the last Monday-to-Friday day of the month."""

    def days_in(self, year: int, month: int) -> list[int]:
        last = calendar.monthrange(year, month)[1]
        weekday = _aws_weekday(year, month, last)
        return [last - {_SATURDAY: 1, 1: 2}.get(weekday, 0)]


@dataclass(frozen=True)
class _NearestWeekday:
    """`15W`: the Monday-to-Friday day nearest the 15th, never leaving the month (so `1W` on a
    Saturday is Monday the 3rd); months without that day do not fire."""

    day: int

    def days_in(self, year: int, month: int) -> list[int]:
        last = calendar.monthrange(year, month)[1]
        if self.day > last:
            return []
        weekday = _aws_weekday(year, month, self.day)
        if weekday == _SATURDAY:
            return [self.day - 1 if self.day > 1 else self.day + 2]
        if weekday == 1:  # Sunday
            return [self.day + 1 if self.day < last else self.day - 2]
        return [self.day]


@dataclass(frozen=True)
class _DaysOfWeek:
    weekdays: frozenset[int]

    def days_in(self, year: int, month: int) -> list[int]:
        first = _aws_weekday(year, month, 1)
        last = calendar.monthrange(year, month)[1]
        return [day for day in range(1, last + 1) if (first + day - 2) % 7 + 1 in self.weekdays]


@dataclass(frozen=True)
class _LastOfWeekday:
    """`5L`: the last Thursday of the month."""

    weekday: int

    def days_in(self, year: int, month: int) -> list[int]:
        last = calendar.monthrange(year, month)[1]
        return [last - (_aws_weekday(year, month, last) - self.weekday) % 7]


@dataclass(frozen=True)
class _NthWeekday:
    """`3#2`: the second Tuesday of the month; months without one do not fire."""

    weekday: int
    nth: int

    def days_in(self, year: int, month: int) -> list[int]:
        day = 1 + (self.weekday - _aws_weekday(year, month, 1)) % 7 + 7 * (self.nth - 1)
        return [day] if day <= calendar.monthrange(year, month)[1] else []


_DayRule = (
    _DaysOfMonth
    | _LastDayOfMonth
    | _LastWeekdayOfMonth
    | _NearestWeekday
    | _DaysOfWeek
    | _LastOfWeekday
    | _NthWeekday
)


@dataclass(frozen=True)
class CronSchedule(Schedule):
    """`cron(...)`: fires at every matching minute, in UTC, until the year field runs out."""

    minutes: tuple[int, ...] = ()
    hours: tuple[int, ...] = ()
    months: tuple[int, ...] = ()
    years: tuple[int, ...] = ()
    day_rule: _DayRule = _LastDayOfMonth()
    kind: ClassVar[str] = "cron"

    def next_after(self, moment: datetime, anchor: datetime | None = None) -> datetime | None:
        moment = _utc(moment)
        if moment.year > LAST_YEAR:
            return None
        start = moment.replace(second=0, microsecond=0) + _MINUTE
        # Walk the fields from the year down; only the branch that starts at `start` is bounded
        # below by it, every later year/month/day/hour starts at its field's first value.
        for year in self.years[bisect_left(self.years, start.year) :]:
            year_bound = year == start.year
            for month in self.months[bisect_left(self.months, start.month) if year_bound else 0 :]:
                month_bound = year_bound and month == start.month
                days = self.day_rule.days_in(year, month)
                for day in days[bisect_left(days, start.day) if month_bound else 0 :]:
                    day_bound = month_bound and day == start.day
                    for hour in self.hours[bisect_left(self.hours, start.hour) if day_bound else 0 :]:
                        hour_bound = day_bound and hour == start.hour
                        first = bisect_left(self.minutes, start.minute) if hour_bound else 0
                        if first < len(self.minutes):
                            return datetime(year, month, day, hour, self.minutes[first], tzinfo=UTC)
        return None


# ---------------------------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------------------------
def parse(expression: str) -> Schedule:
    """The schedule `expression` describes; ValueError (naming the field, the problem and what is
    allowed) for anything CreateSchedule would reject."""
    if not isinstance(expression, str):
        raise TypeError(f"a schedule expression is a string, not {type(expression).__name__}")
    if not expression:
        raise ValueError(f"the schedule expression is empty; expected {FORMS}")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ValueError(
            f"the schedule expression is {len(expression)} characters long; "
            f"at most {MAX_EXPRESSION_LENGTH} are allowed"
        )
    for prefix, parser in (("rate(", _parse_rate), ("cron(", _parse_cron), ("at(", _parse_at)):
        if expression.startswith(prefix):
            if not expression.endswith(")"):
                raise ValueError(f"{expression!r} does not end with ')'; expected {FORMS}")
            return parser(expression, expression[len(prefix) : -1])
    raise ValueError(f"{expression!r} is not a schedule expression; expected {FORMS}")


def _parse_rate(expression: str, body: str) -> RateSchedule:
    tokens = body.split()
    if len(tokens) != 2:
        raise ValueError(
            f"{expression!r}: a rate expression is rate(value unit), such as rate(5 minutes) "
            "or rate(1 day); the unit is minute, minutes, hour, hours, day or days"
        )
    value_text, unit = tokens
    if not (value_text.isascii() and value_text.isdigit()):
        raise ValueError(f"{expression!r}: the rate value {value_text!r} is not a positive whole number")
    value = int(value_text)
    if value < 1:
        raise ValueError(f"{expression!r}: the rate value must be a positive whole number, not {value}")
    singular = unit.removesuffix("s")
    if singular not in _RATE_UNITS or unit not in (singular, singular + "s"):
        raise ValueError(
            f"{expression!r}: the rate unit {unit!r} is not minute, minutes, hour, hours, day or days"
        )
    plural, step = _RATE_UNITS[singular]
    if value == 1 and unit != singular:
        raise ValueError(f"{expression!r}: a value of 1 takes the singular unit: rate(1 {singular})")
    if value > 1 and unit != plural:
        raise ValueError(f"{expression!r}: a value above 1 takes the plural unit: rate({value} {plural})")
    try:
        period = value * step
    except OverflowError:
        raise ValueError(f"{expression!r}: the rate value {value} is too large") from None
    return RateSchedule(expression=expression, value=value, unit=plural, period=period)


def _parse_at(expression: str, body: str) -> AtSchedule:
    match = _AT.fullmatch(body)
    if match is None:
        raise ValueError(
            f"{expression!r}: a one-time expression is at(yyyy-mm-ddThh:mm:ss), "
            "such as at(2030-01-31T09:30:00), with no time zone or fraction"
        )
    try:
        when = datetime(*(int(part) for part in match.groups()), tzinfo=UTC)  # type: ignore[misc]
    except ValueError as error:
        raise ValueError(f"{expression!r} names no real date and time: {error}") from None
    return AtSchedule(expression=expression, when=when)


@dataclass(frozen=True)
class _Field:
    name: str
    low: int
    high: int
    wildcards: str
    max_step: int = 0
    names: tuple[str, ...] = ()

    @property
    def allowed(self) -> str:
        values = f"{self.low}-{self.high}"
        if self.names:
            values += f" or {self.names[0]}-{self.names[-1]}"
        return f"{values} with the wildcards {' '.join(self.wildcards)}"

    def error(self, text: str, problem: str) -> ValueError:
        return ValueError(f"cron {self.name} field {text!r}: {problem}; {self.name} allows {self.allowed}")


_MINUTES = _Field("minutes", 0, 59, ",-*/", max_step=59)
_HOURS = _Field("hours", 0, 23, ",-*/", max_step=23)
_DAY_OF_MONTH = _Field("day-of-month", 1, 31, ",-*?/LW", max_step=31)
_MONTH = _Field(
    "month",
    1,
    12,
    ",-*/",
    max_step=12,
    names=("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"),
)
_DAY_OF_WEEK = _Field("day-of-week", 1, 7, ",-*?L#", names=("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))
_YEAR = _Field("year", FIRST_YEAR, LAST_YEAR, ",-*/", max_step=LAST_YEAR - FIRST_YEAR)
_FIELDS = (_MINUTES, _HOURS, _DAY_OF_MONTH, _MONTH, _DAY_OF_WEEK, _YEAR)

_STANDS_ALONE = {
    ("?", "day-of-month"): "? stands alone: it means any day",
    ("?", "day-of-week"): "? stands alone: it means any day",
    ("L", "day-of-month"): "L and W stand alone in day-of-month: L (the last day), LW (the last "
    "weekday) or a day and W such as 15W (the weekday nearest the 15th)",
    ("W", "day-of-month"): "L and W stand alone in day-of-month: L (the last day), LW (the last "
    "weekday) or a day and W such as 15W (the weekday nearest the 15th)",
    ("L", "day-of-week"): "L stands alone in day-of-week: L (Saturday, the last day of the week) "
    "or a day and L such as 5L (the last Thursday of the month)",
    ("#", "day-of-week"): "# stands alone in day-of-week: one day and its occurrence in the month "
    "such as 3#2 (the second Tuesday); lists such as 3#1,6#3 are not allowed",
}
_ONLY_IN = {
    "?": "? is allowed only in day-of-month and day-of-week",
    "L": "L is allowed only in day-of-month and day-of-week",
    "W": "W is allowed only in day-of-month",
    "#": "# is allowed only in day-of-week",
}


def _parse_cron(expression: str, body: str) -> CronSchedule:
    texts = body.split()
    if len(texts) != len(_FIELDS):
        hint = " (the year is not optional)" if len(texts) == len(_FIELDS) - 1 else ""
        raise ValueError(
            f"{expression!r} has {len(texts)} fields; a cron expression has 6{hint}: "
            "cron(minutes hours day-of-month month day-of-week year), such as cron(0 12 * * ? *)"
        )
    minutes, hours, day_of_month, month, day_of_week, year = texts
    parsed_minutes = _parse_list(_MINUTES, minutes)
    parsed_hours = _parse_list(_HOURS, hours)
    by_month_day = _parse_day_of_month(day_of_month)
    parsed_months = _parse_list(_MONTH, month)
    by_week_day = _parse_day_of_week(day_of_week)
    parsed_years = _parse_list(_YEAR, year)
    if by_month_day is None and by_week_day is None:
        raise ValueError(
            f"{expression!r}: day-of-month and day-of-week are both ?; exactly one of them is ? "
            "and the other names the days, such as cron(0 12 ? * MON-FRI *)"
        )
    if by_month_day is not None and by_week_day is not None:
        raise ValueError(
            f"{expression!r}: day-of-month {texts[2]!r} and day-of-week {texts[4]!r} cannot both name "
            "days; one of them must be ? (any), such as cron(0 12 * * ? *) or cron(0 12 ? * MON *)"
        )
    day_rule = by_month_day if by_month_day is not None else by_week_day
    assert day_rule is not None
    return CronSchedule(
        expression=expression,
        minutes=parsed_minutes,
        hours=parsed_hours,
        months=parsed_months,
        years=parsed_years,
        day_rule=day_rule,
    )


def _parse_day_of_month(text: str) -> _DayRule | None:
    field, upper = _DAY_OF_MONTH, text.upper()
    if upper == "?":
        return None
    if upper == "L":
        return _LastDayOfMonth()
    if upper == "LW":
        return _LastWeekdayOfMonth()
    if upper.endswith("W") and upper[:-1].isascii() and upper[:-1].isdigit():
        return _NearestWeekday(_value(field, text, upper[:-1]))
    return _DaysOfMonth(_parse_list(field, text))


def _parse_day_of_week(text: str) -> _DayRule | None:
    field, upper = _DAY_OF_WEEK, text.upper()
    if upper == "?":
        return None
    if upper == "L":
        return _DaysOfWeek(frozenset({_SATURDAY}))
    if "#" in upper:
        day_text, _, nth_text = upper.partition("#")
        if any(char in day_text + nth_text for char in ",-*#L?"):
            raise field.error(text, _STANDS_ALONE["#", field.name])
        weekday = _value(field, text, day_text)
        if not (nth_text.isascii() and nth_text.isdigit() and 1 <= int(nth_text) <= 5):
            raise field.error(text, "the occurrence after # must be 1-5, as in 3#2 (the second Tuesday)")
        return _NthWeekday(weekday, int(nth_text))
    if len(upper) > 1 and upper.endswith("L") and not any(char in upper[:-1] for char in ",-*/?L"):
        return _LastOfWeekday(_value(field, text, upper[:-1]))
    return _DaysOfWeek(frozenset(_parse_list(field, text)))


def _parse_list(field: _Field, text: str) -> tuple[int, ...]:
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise field.error(text, "an item of the , list is empty")
        values.update(_parse_part(field, text, part))
    return tuple(sorted(values))


def _parse_part(field: _Field, text: str, part: str) -> range:
    base, slash, step_text = part.partition("/")
    step = 1
    if slash:
        if "/" not in field.wildcards:
            raise field.error(text, f"/ (increments) is not allowed in {field.name}")
        if not (step_text.isascii() and step_text.isdigit()):
            raise field.error(text, f"the increment after / must be a whole number, not {step_text!r}")
        step = int(step_text)
        if not 1 <= step <= field.max_step:
            raise field.error(text, f"the increment after / must be 1-{field.max_step}, not {step}")
    if base == "*":
        return range(field.low, field.high + 1, step)
    if "-" in base:
        first_text, _, last_text = base.partition("-")
        first, last = _value(field, text, first_text), _value(field, text, last_text)
        if first > last:
            raise field.error(text, f"the range {base} runs backwards; ranges go from low to high")
        return range(first, last + 1, step)
    first = _value(field, text, base)
    return range(first, (field.high if slash else first) + 1, step)


def _value(field: _Field, text: str, item: str) -> int:
    if item.isascii() and item.isdigit():
        value = int(item)
        if not field.low <= value <= field.high:
            raise field.error(text, f"{item} is out of range {field.low}-{field.high}")
        return value
    if item.upper() in field.names:
        return field.low + field.names.index(item.upper())
    raise field.error(text, _value_problem(field, item))


def _value_problem(field: _Field, item: str) -> str:
    upper = item.upper()
    if not item:
        return "a value is missing"
    if item == "*":
        return "* means every value and cannot be part of a range"
    # A special character where a value belongs: `JUL` and `WED` are names, not L or W.
    if not upper.isalpha() or upper in ("L", "W", "LW"):
        for char in "?#LW":
            if char in upper:
                return _STANDS_ALONE.get((char, field.name)) or _ONLY_IN[char]
    kind = f"a number or a name ({field.names[0]}-{field.names[-1]})" if field.names else "a number"
    return f"{item!r} is not {kind}"
