"""`clock`: canonical ISO 8601 UTC strings that are fixed width and sort like the instants."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest

from webhook_resend import clock

CANONICAL_WIDTH = len("2024-01-02T03:04:05.006Z")


# -- canonical ------------------------------------------------------------------------------------
def test_canonical_millisecond_precision_truncates_microseconds():
    value = datetime(2024, 1, 2, 3, 4, 5, 6999, tzinfo=UTC)

    assert clock.canonical(value) == "2024-01-02T03:04:05.006Z"


def test_canonical_pads_zero_milliseconds():
    assert clock.canonical(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2024-01-02T03:04:05.000Z"


def test_canonical_converts_offset_to_utc():
    value = datetime(2024, 1, 2, 3, 4, 5, 123000, tzinfo=timezone(timedelta(hours=5, minutes=30)))

    assert clock.canonical(value) == "2024-01-01T21:34:05.123Z"


def test_canonical_naive_taken_as_utc():
    assert clock.canonical(datetime(2024, 1, 2, 3, 4, 5)) == "2024-01-02T03:04:05.000Z"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (datetime(2024, 1, 2, tzinfo=UTC), "2024-01-02T00:00:00.000Z"),
        (datetime(2024, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "2024-12-31T23:59:59.999Z"),
        (datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC), "9999-12-31T23:59:59.999Z"),
        (datetime(1000, 1, 1, tzinfo=UTC), "1000-01-01T00:00:00.000Z"),
        (datetime(999, 12, 31, tzinfo=UTC), "0999-12-31T00:00:00.000Z"),
        (datetime(1, 1, 1, tzinfo=UTC), "0001-01-01T00:00:00.000Z"),
    ],
)
def test_canonical_fixed_width(value, text):
    assert clock.canonical(value) == text
    assert len(clock.canonical(value)) == CANONICAL_WIDTH


# -- parse ----------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "instant"),
    [
        pytest.param("2024-01-02T03:04:05Z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), id="Z"),
        pytest.param("2024-01-02T03:04:05z", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), id="lowercase-z"),
        pytest.param(
            "2024-01-02T03:04:05.250Z", datetime(2024, 1, 2, 3, 4, 5, 250000, tzinfo=UTC), id="fraction"
        ),
        pytest.param("2024-01-02T03:04:05+02:00", datetime(2024, 1, 2, 1, 4, 5, tzinfo=UTC), id="offset+"),
        pytest.param("2024-01-02T03:04:05-05:30", datetime(2024, 1, 2, 8, 34, 5, tzinfo=UTC), id="offset-"),
        pytest.param("2024-01-02T03:04:05+00:00", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), id="offset0"),
        pytest.param("2024-01-02T03:04:05", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), id="naive"),
        pytest.param("2024-01-02", datetime(2024, 1, 2, tzinfo=UTC), id="date-only"),
        pytest.param(" 2024-01-02T03:04:05Z ", datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC), id="whitespace"),
    ],
)
def test_parse_returns_aware_utc(text, instant):
    parsed = clock.parse(text)

    assert parsed == instant
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "yesterday",
        "2024-13-01",
        "2024-01-02T24:00:01Z",
        "2024-01-02T03:04:05+25:00",
        "Z",
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
    ],
)
def test_parse_rejects_with_value_error(text):
    with pytest.raises(ValueError):  # noqa: PT011 - the documented contract is a bare ValueError
        clock.parse(text)


@pytest.mark.parametrize("value", [None, 1704164645, b"2024-01-02"])
def test_parse_rejects_non_strings(value):
    with pytest.raises(ValueError, match="ISO 8601"):
        clock.parse(value)


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("2024-01-02T03:04:05+02:00", "2024-01-02T01:04:05.000Z"),
        ("2024-01-02", "2024-01-02T00:00:00.000Z"),
        ("2024-01-02T03:04:05.123456Z", "2024-01-02T03:04:05.123Z"),
    ],
)
def test_canonical_text_is_canonical_of_parse(text, canonical):
    assert clock.canonical_text(text) == canonical


def test_canonical_text_round_trips():
    text = "2024-01-02T03:04:05.006Z"

    assert clock.canonical_text(text) == text


# -- ordering -------------------------------------------------------------------------------------
def test_canonical_strings_sort_like_instants():
    base = datetime(2024, 1, 1, tzinfo=UTC)
    instants = [
        base,
        base + timedelta(milliseconds=1),
        base + timedelta(milliseconds=10),
        base + timedelta(seconds=1),
        base + timedelta(minutes=59, seconds=59, milliseconds=999),
        base + timedelta(hours=10),
        base + timedelta(days=9),
        base + timedelta(days=31),
        base + timedelta(days=400),
        base - timedelta(milliseconds=1),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2100, 1, 1, tzinfo=UTC),
    ]
    # Mixed offsets: the same wall-clock time in different zones is a different instant.
    instants += [
        datetime(2024, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
        datetime(2024, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=-1))),
    ]
    shuffled = instants[:]
    random.Random(20240102).shuffle(shuffled)

    by_text = sorted(shuffled, key=clock.canonical)

    assert by_text == sorted(instants)


def test_canonical_strings_sort_like_instants_across_year_1000():
    instants = [datetime(2024, 1, 1, tzinfo=UTC), datetime(999, 1, 1, tzinfo=UTC)]

    assert sorted(instants, key=clock.canonical) == sorted(instants)


# -- now ------------------------------------------------------------------------------------------
def test_now_text_is_canonical():
    text = clock.now_text()

    assert len(text) == CANONICAL_WIDTH
    assert clock.canonical_text(text) == text
