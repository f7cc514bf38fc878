"""Time in one canonical form: ISO 8601 UTC, millisecond precision, fixed width.

Fixed width makes the strings sort like the instants they name, which the items index relies on
(`created_on#id` sort keys).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def canonical(value: datetime) -> str:
    """`2024-01-02T03:04:05.006Z` for an aware datetime (a naive one is taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    value = value.astimezone(UTC)
    # strftime("%Y") does not pad years before 1000 on Linux; the width must never vary.
    return (
        f"{value.year:04d}-{value.month:02d}-{value.day:02d}T"
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{value.microsecond // 1000:03d}Z"
    )


def parse(text: str) -> datetime:
    """An ISO 8601 date or date-time (`Z`, an offset or none, which means UTC) as aware UTC.

    Raises ValueError for anything else.
    """
    if not isinstance(text, str) or not text:
        raise ValueError("expected an ISO 8601 date-time")
    candidate = text.strip()
    if candidate.endswith(("Z", "z")):
        candidate = candidate[:-1] + "+00:00"
    parsed = datetime.fromisoformat(candidate)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError("date-time is out of range once converted to UTC") from None


def canonical_text(text: str) -> str:
    """`canonical(parse(text))`: the stored form of a user-supplied time."""
    return canonical(parse(text))


def now() -> datetime:
    return datetime.now(UTC)


def now_text() -> str:
    return canonical(now())


def expires_at(days: int, start: datetime | None = None) -> int:
    """Epoch seconds `days` after `start` (now by default): a DynamoDB TTL value."""
    return int(((start or now()) + timedelta(days=days)).timestamp())
