"""`schedule_expr`: EventBridge Scheduler's rate, cron and at expressions, validated as AWS
validates them, and their next fire times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from webhook_resend.resends.schedule_expressions import (
    LAST_YEAR,
    AtSchedule,
    CronSchedule,
    RateSchedule,
    parse,
)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


def next_fire(expression: str, moment: datetime) -> datetime | None:
    return parse(expression).next_after(moment)


# -- parse: what AWS accepts ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "expression",
    [
        "rate(1 minute)",
        "rate(5 minutes)",
        "rate(1 hour)",
        "rate(12 hours)",
        "rate(1 day)",
        "rate(7 days)",
        "cron(0 12 * * ? *)",
        "cron(* * * * ? *)",
        "cron(0/15 * * * ? *)",
        "cron(*/5 9-17 ? * MON-FRI *)",
        "cron(1/10 * * * ? *)",
        "cron(0 8 1 JAN,JUL ? 2025-2030)",
        "cron(0 18 ? * 2,4,6 *)",
        "cron(0 0 L * ? *)",
        "cron(0 0 LW * ? *)",
        "cron(0 0 15W * ? *)",
        "cron(15 10 ? * 6L *)",
        "cron(0 9 ? * 3#2 *)",
        "cron(0 9 ? * MON#1 *)",
        "cron(0 0 ? * L *)",
        "cron(0 0 1-15/2 */3 ? 1970-2199/10)",
        "cron(0 0 ? jan-mar mon-fri *)",
        "at(2030-01-31T09:30:00)",
    ],
)
def test_parse_accepts_what_aws_accepts(expression):
    schedule = parse(expression)

    assert str(schedule) == expression


def test_parse_kinds():
    assert isinstance(parse("rate(5 minutes)"), RateSchedule)
    assert isinstance(parse("cron(0 12 * * ? *)"), CronSchedule)
    assert isinstance(parse("at(2030-01-31T09:30:00)"), AtSchedule)
    assert parse("at(2030-01-31T09:30:00)").recurring is False
    assert parse("rate(5 minutes)").recurring is True


def test_parse_rate_normalises_unit_and_period():
    schedule = parse("rate(1 hour)")

    assert isinstance(schedule, RateSchedule)
    assert (schedule.value, schedule.unit, schedule.period) == (1, "hours", timedelta(hours=1))


def test_parse_at_is_utc():
    schedule = parse("at(2030-01-31T09:30:00)")

    assert isinstance(schedule, AtSchedule)
    assert schedule.when == utc(2030, 1, 31, 9, 30)


# -- parse: what AWS rejects, and the message says where and why ----------------------------------
@pytest.mark.parametrize(
    ("expression", "fragments"),
    [
        ("", ["empty"]),
        ("every 5 minutes", ["rate(value unit)", "cron(", "at("]),
        ("rate(5 minutes", ["does not end with ')'"]),
        ("RATE(5 minutes)", ["not a schedule expression"]),
        ("rate(1 minutes)", ["singular", "rate(1 minute)"]),
        ("rate(5 minute)", ["plural", "rate(5 minutes)"]),
        ("rate(1 days)", ["singular", "rate(1 day)"]),
        ("rate(0 minutes)", ["positive whole number"]),
        ("rate(-5 minutes)", ["positive whole number"]),
        ("rate(1.5 hours)", ["positive whole number"]),
        ("rate(2 weeks)", ["unit 'weeks'", "minute, minutes, hour, hours, day or days"]),
        ("rate(30 seconds)", ["unit 'seconds'"]),
        ("rate(5)", ["rate(value unit)"]),
        ("cron(0 12 * * ?)", ["5 fields", "year is not optional"]),
        ("cron(0 0 12 * * ? *)", ["7 fields"]),
        ("cron(60 * * * ? *)", ["minutes field '60'", "out of range 0-59"]),
        ("cron(0 24 * * ? *)", ["hours field '24'", "out of range 0-23"]),
        ("cron(0 0 0 * ? *)", ["day-of-month field '0'", "out of range 1-31"]),
        ("cron(0 0 32 * ? *)", ["day-of-month field '32'", "out of range 1-31"]),
        ("cron(0 0 * 13 ? *)", ["month field '13'", "1-12 or JAN-DEC"]),
        ("cron(0 0 * JANUARY ? *)", ["month field 'JANUARY'", "not a number or a name (JAN-DEC)"]),
        ("cron(0 0 ? * 0 *)", ["day-of-week field '0'", "out of range 1-7"]),
        ("cron(0 0 ? * 8 *)", ["day-of-week field '8'", "out of range 1-7"]),
        ("cron(0 0 ? * MONDAY *)", ["day-of-week field 'MONDAY'", "SUN-SAT"]),
        ("cron(0 0 * * ? 1969)", ["year field '1969'", "out of range 1970-2199"]),
        ("cron(0 0 * * ? 2200)", ["year field '2200'", "out of range 1970-2199"]),
        ("cron(0 12 * * * *)", ["day-of-month '*' and day-of-week '*'", "must be ?"]),
        ("cron(0 12 1 * MON *)", ["cannot both name days", "must be ?"]),
        ("cron(0 12 ? * ? *)", ["both ?", "exactly one"]),
        ("cron(? 12 * * ? *)", ["minutes field '?'", "only in day-of-month and day-of-week"]),
        ("cron(0 L * * ? *)", ["hours field 'L'", "only in day-of-month and day-of-week"]),
        ("cron(0 0 * L ? *)", ["month field 'L'", "only in day-of-month and day-of-week"]),
        ("cron(0 0 ? * 3W *)", ["day-of-week field '3W'", "W is allowed only in day-of-month"]),
        ("cron(0 0 3#2 * ? *)", ["day-of-month field '3#2'", "# is allowed only in day-of-week"]),
        ("cron(0 0 ? * */2 *)", ["day-of-week field '*/2'", "/ (increments) is not allowed"]),
        ("cron(0 0 L-3 * ? *)", ["day-of-month field 'L-3'", "L and W stand alone"]),
        ("cron(0 0 1,L * ? *)", ["day-of-month field '1,L'", "L and W stand alone"]),
        ("cron(0 0 15W,20 * ? *)", ["day-of-month field '15W,20'", "L and W stand alone"]),
        ("cron(0 0 32W * ? *)", ["day-of-month field '32W'", "out of range 1-31"]),
        ("cron(0 0 ? * 2,5L *)", ["day-of-week field '2,5L'", "L stands alone"]),
        ("cron(0 0 ? * 3#1,6#3 *)", ["day-of-week field '3#1,6#3'", "# stands alone"]),
        ("cron(0 0 ? * 3#6 *)", ["day-of-week field '3#6'", "1-5"]),
        ("cron(0 0 ? * 3#0 *)", ["day-of-week field '3#0'", "1-5"]),
        ("cron(0 0 ? * 8#1 *)", ["day-of-week field '8#1'", "out of range 1-7"]),
        ("cron(0 0 ?,1 * ? *)", ["day-of-month field '?,1'", "? stands alone"]),
        ("cron(0 22-2 * * ? *)", ["hours field '22-2'", "runs backwards"]),
        ("cron(0/0 * * * ? *)", ["minutes field '0/0'", "increment", "1-59"]),
        ("cron(0/60 * * * ? *)", ["minutes field '0/60'", "1-59"]),
        ("cron(0/x * * * ? *)", ["minutes field '0/x'", "whole number"]),
        ("cron(0,,5 * * * ? *)", ["minutes field '0,,5'", "empty"]),
        ("cron(0- * * * ? *)", ["minutes field '0-'", "missing"]),
        ("cron(*-5 * * * ? *)", ["minutes field '*-5'", "* means every value"]),
        ("cron(a * * * ? *)", ["minutes field 'a'", "not a number"]),
        ("at(2030-01-31 09:30:00)", ["at(yyyy-mm-ddThh:mm:ss)"]),
        ("at(2030-01-31T09:30:00Z)", ["at(yyyy-mm-ddThh:mm:ss)"]),
        ("at(2030-02-30T09:30:00)", ["no real date and time"]),
        ("at(2030-01-31T24:00:00)", ["no real date and time"]),
        ("rate(" + "1" * 300 + " minutes)", ["at most 256"]),
    ],
)
def test_parse_rejects_with_a_precise_message(expression, fragments):
    with pytest.raises(ValueError, match=r".") as raised:
        parse(expression)

    for fragment in fragments:
        assert fragment in str(raised.value)


def test_parse_field_message_says_what_the_field_allows():
    with pytest.raises(
        ValueError, match=r"day-of-week allows 1-7 or SUN-SAT with the wildcards , - \* \? L #"
    ):
        parse("cron(0 0 ? * 9 *)")


def test_parse_field_message_keeps_the_user_spelling():
    with pytest.raises(ValueError, match=r"day-of-week field 'mon/2'"):
        parse("cron(0 0 ? * mon/2 *)")


def test_parse_rejects_non_string():
    with pytest.raises(TypeError):
        parse(5)  # type: ignore[arg-type]


# -- rate: anchor + k × period ------------------------------------------------------------------
ANCHOR = utc(2024, 3, 15, 12, 0, 30)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (ANCHOR - timedelta(days=3), ANCHOR),  # before the anchor: the anchor itself
        (ANCHOR - timedelta(microseconds=1), ANCHOR),
        (ANCHOR, ANCHOR + timedelta(minutes=5)),  # strictly after
        (ANCHOR + timedelta(minutes=2), ANCHOR + timedelta(minutes=5)),
        (ANCHOR + timedelta(minutes=5), ANCHOR + timedelta(minutes=10)),
        (ANCHOR + timedelta(minutes=5, microseconds=1), ANCHOR + timedelta(minutes=10)),
        (ANCHOR + timedelta(days=365, minutes=1), ANCHOR + timedelta(days=365, minutes=5)),
    ],
)
def test_rate_next_after_counts_periods_from_the_anchor(moment, expected):
    assert parse("rate(5 minutes)").next_after(moment, anchor=ANCHOR) == expected


def test_rate_next_after_days_keeps_the_anchor_time_of_day():
    assert parse("rate(2 days)").next_after(utc(2024, 3, 20), anchor=ANCHOR) == utc(2024, 3, 21, 12, 0, 30)


def test_rate_next_after_naive_and_offset_times_are_utc():
    anchor = datetime(2024, 3, 15, 13, 0, tzinfo=timezone(timedelta(hours=1)))  # 12:00 UTC

    assert parse("rate(1 hour)").next_after(datetime(2024, 3, 15, 12, 30), anchor=anchor) == utc(
        2024, 3, 15, 13
    )


def test_rate_next_after_needs_an_anchor():
    with pytest.raises(ValueError, match="anchor"):
        parse("rate(1 day)").next_after(ANCHOR)


# -- at: once -------------------------------------------------------------------------------------
def test_at_next_after_before_is_the_time():
    assert next_fire("at(2030-01-31T09:30:00)", utc(2030, 1, 31, 9, 29, 59)) == utc(2030, 1, 31, 9, 30)


@pytest.mark.parametrize("moment", [utc(2030, 1, 31, 9, 30), utc(2031, 1, 1)])
def test_at_next_after_at_or_after_is_none(moment):
    assert next_fire("at(2030-01-31T09:30:00)", moment) is None


# -- cron -----------------------------------------------------------------------------------------
FRIDAY = utc(2024, 3, 15, 12, 0, 30)  # Friday 15 March 2024, 12:00:30 UTC


@pytest.mark.parametrize(
    ("expression", "moment", "expected"),
    [
        # every minute: the next whole minute, strictly after
        ("cron(* * * * ? *)", FRIDAY, utc(2024, 3, 15, 12, 1)),
        ("cron(* * * * ? *)", utc(2024, 3, 15, 12, 1), utc(2024, 3, 15, 12, 2)),
        ("cron(* * * * ? *)", utc(2024, 12, 31, 23, 59, 59), utc(2025, 1, 1, 0, 0)),
        # daily, hourly lists, steps and ranges
        ("cron(0 12 * * ? *)", FRIDAY, utc(2024, 3, 16, 12)),
        ("cron(0 12 * * ? *)", utc(2024, 3, 15, 11, 59, 59), utc(2024, 3, 15, 12)),
        ("cron(30 6,18 * * ? *)", FRIDAY, utc(2024, 3, 15, 18, 30)),
        ("cron(0/15 * * * ? *)", FRIDAY, utc(2024, 3, 15, 12, 15)),
        ("cron(1/10 * * * ? *)", FRIDAY, utc(2024, 3, 15, 12, 1)),
        ("cron(1/10 * * * ? *)", utc(2024, 3, 15, 12, 51), utc(2024, 3, 15, 13, 1)),
        ("cron(*/20 9-17 * * ? *)", utc(2024, 3, 15, 17, 40), utc(2024, 3, 16, 9)),
        ("cron(0 0 1-31/10 * ? *)", FRIDAY, utc(2024, 3, 21)),
        # month and day names, weekday ranges
        ("cron(0 8 1 JAN,JUL ? *)", FRIDAY, utc(2024, 7, 1, 8)),
        ("cron(0 8 1 jan,jul ? *)", utc(2024, 7, 1, 8), utc(2025, 1, 1, 8)),
        ("cron(0 9 ? * MON-FRI *)", utc(2024, 3, 15, 10), utc(2024, 3, 18, 9)),
        ("cron(0 9 ? * 2-6 *)", utc(2024, 3, 15, 10), utc(2024, 3, 18, 9)),
        ("cron(0 9 ? * SUN *)", FRIDAY, utc(2024, 3, 17, 9)),
        ("cron(0 0 ? */3 MON *)", FRIDAY, utc(2024, 4, 1)),
        # month ends and leap years
        ("cron(0 0 31 * ? *)", utc(2024, 3, 31, 1), utc(2024, 5, 31)),
        ("cron(0 0 30 * ? *)", utc(2024, 1, 30, 1), utc(2024, 3, 30)),
        ("cron(0 0 29 2 ? *)", FRIDAY, utc(2028, 2, 29)),
        ("cron(0 0 29 2 ? *)", utc(2097, 3, 1), utc(2104, 2, 29)),  # 2100 is not a leap year
        ("cron(0 0 L * ? *)", utc(2024, 2, 1), utc(2024, 2, 29)),
        ("cron(0 0 L * ? *)", utc(2023, 2, 1), utc(2023, 2, 28)),
        ("cron(0 0 L * ? *)", utc(2024, 4, 1), utc(2024, 4, 30)),
        ("cron(0 0 L * ? *)", utc(2024, 4, 30), utc(2024, 5, 31)),
        # W: the nearest weekday, never leaving the month
        ("cron(0 0 15W * ? *)", utc(2024, 6, 1), utc(2024, 6, 14)),  # Saturday 15th -> Friday
        ("cron(0 0 15W * ? *)", utc(2024, 9, 1), utc(2024, 9, 16)),  # Sunday 15th -> Monday
        ("cron(0 0 15W * ? *)", utc(2024, 3, 1), utc(2024, 3, 15)),  # Friday stays
        ("cron(0 0 1W * ? *)", utc(2024, 5, 31), utc(2024, 6, 3)),  # Saturday 1st -> Monday 3rd
        ("cron(0 0 31W * ? *)", utc(2024, 3, 1), utc(2024, 3, 29)),  # Sunday 31st -> Friday 29th
        ("cron(0 0 31W * ? *)", utc(2024, 4, 1), utc(2024, 5, 31)),  # no 31 April: May
        ("cron(0 0 LW * ? *)", utc(2024, 8, 1), utc(2024, 8, 30)),  # Saturday 31st -> Friday
        ("cron(0 0 LW * ? *)", utc(2024, 3, 1), utc(2024, 3, 29)),  # Sunday 31st -> Friday
        ("cron(0 0 LW * ? *)", utc(2024, 2, 1), utc(2024, 2, 29)),  # Thursday stays
        # L and # in day-of-week
        ("cron(15 10 ? * 6L *)", FRIDAY, utc(2024, 3, 29, 10, 15)),  # last Friday
        ("cron(0 0 ? * 5L *)", FRIDAY, utc(2024, 3, 28)),  # last Thursday
        ("cron(0 0 ? * THUL *)", utc(2024, 3, 28, 1), utc(2024, 4, 25)),
        ("cron(0 0 ? * L *)", FRIDAY, utc(2024, 3, 16)),  # L alone: Saturday
        ("cron(0 9 ? * 3#2 *)", FRIDAY, utc(2024, 4, 9, 9)),  # second Tuesday
        ("cron(0 9 ? * TUE#2 *)", utc(2024, 3, 1), utc(2024, 3, 12, 9)),
        ("cron(0 0 ? * 2#5 *)", utc(2024, 2, 1), utc(2024, 4, 29)),  # months without a 5th Monday
        ("cron(0 0 ? * 1#1 *)", utc(2024, 9, 1, 0, 0, 1), utc(2024, 10, 6)),
        # years
        ("cron(0 0 1 1 ? *)", FRIDAY, utc(2025, 1, 1)),
        ("cron(0 0 1 1 ? 2030)", FRIDAY, utc(2030, 1, 1)),
        ("cron(0 0 1 1 ? 2020-2022,2026)", FRIDAY, utc(2026, 1, 1)),
        ("cron(0 0 1 1 ? 2000/25)", FRIDAY, utc(2025, 1, 1)),
        ("cron(0 0 1 1 ? *)", utc(1900, 6, 1), utc(1970, 1, 1)),
    ],
)
def test_cron_next_after(expression, moment, expected):
    assert next_fire(expression, moment) == expected


@pytest.mark.parametrize(
    ("expression", "moment"),
    [
        ("cron(0 0 1 1 ? 2030)", utc(2030, 1, 1)),  # its only time has passed
        ("cron(0 0 1 1 ? 2020-2022)", FRIDAY),
        ("cron(* * * * ? *)", utc(LAST_YEAR, 12, 31, 23, 59)),  # the year field ends in 2199
        ("cron(0 0 1 1 ? *)", utc(2500, 1, 1)),
        ("cron(0 0 30 2 ? *)", FRIDAY),  # 30 February never comes
        ("cron(0 0 ? 2 1#5 2025-2030)", FRIDAY),  # no fifth Sunday in those Februaries
    ],
)
def test_cron_next_after_none_when_the_years_run_out(expression, moment):
    assert next_fire(expression, moment) is None


def test_cron_next_after_in_the_last_year():
    assert next_fire("cron(59 23 31 12 ? *)", utc(LAST_YEAR, 1, 1)) == utc(LAST_YEAR, 12, 31, 23, 59)


def test_cron_next_after_fifth_sunday_in_a_leap_february():
    # 1 February 2032 is a Sunday, so that leap February has five.
    assert next_fire("cron(0 0 ? 2 1#5 *)", FRIDAY) == utc(2032, 2, 29)


def test_cron_next_after_converts_offsets_and_answers_utc():
    moment = datetime(2024, 3, 15, 13, 0, tzinfo=timezone(timedelta(hours=2)))  # 11:00 UTC

    fire = next_fire("cron(0 12 * * ? *)", moment)

    assert fire == utc(2024, 3, 15, 12)
    assert fire is not None
    assert fire.tzinfo == UTC


def test_cron_next_after_naive_is_utc():
    assert next_fire("cron(0 12 * * ? *)", datetime(2024, 3, 15, 11)) == utc(2024, 3, 15, 12)


def test_cron_next_after_ignores_the_anchor():
    assert parse("cron(0 12 * * ? *)").next_after(FRIDAY, anchor=utc(2000, 1, 1, 0, 7)) == utc(
        2024, 3, 16, 12
    )


def test_cron_successive_fire_times_walk_every_match():
    schedule = parse("cron(0 9 ? * MON,WED *)")
    fire: datetime | None = utc(2024, 3, 1)
    times = []
    for _ in range(5):
        assert fire is not None
        fire = schedule.next_after(fire)
        times.append(fire)

    assert times == [
        utc(2024, 3, 4, 9),
        utc(2024, 3, 6, 9),
        utc(2024, 3, 11, 9),
        utc(2024, 3, 13, 9),
        utc(2024, 3, 18, 9),
    ]


@pytest.mark.parametrize(
    ("expression", "matches"),
    [
        (
            "cron(*/20 9-17 ? * MON-FRI *)",
            lambda t: t.minute in (0, 20, 40) and 9 <= t.hour <= 17 and t.weekday() < 5,
        ),
        (
            "cron(5,35 */6 1-10/3 JAN-MAR,NOV ? *)",
            lambda t: (
                t.minute in (5, 35)
                and t.hour % 6 == 0
                and t.day in (1, 4, 7, 10)
                and t.month in (1, 2, 3, 11)
            ),
        ),
        ("cron(0 0 ? * SUN,SAT *)", lambda t: t.minute == 0 and t.hour == 0 and t.weekday() >= 5),
    ],
)
def test_cron_next_after_agrees_with_a_minute_by_minute_scan(expression, matches):
    # Given every minute of four months, checked one by one
    schedule = parse(expression)
    moment = utc(2024, 1, 1) - timedelta(seconds=30)
    expected = []
    minute = utc(2024, 1, 1)
    while minute < utc(2024, 5, 1):
        if matches(minute):
            expected.append(minute)
        minute += timedelta(minutes=1)

    # When the schedule walks from one fire time to the next
    walked = []
    fire = schedule.next_after(moment)
    while fire is not None and fire < utc(2024, 5, 1):
        walked.append(fire)
        fire = schedule.next_after(fire)

    # Then it visits exactly those minutes
    assert walked == expected
