"""DataForSEO's envelope (SPEC §5.1): the seed's fields and types, the time, the task counts."""

from __future__ import annotations

import time
from typing import Any

from tests.dataforseo_seed import ENVELOPE_FIELDS, TIME
from webhook_resend.models import dataforseo as envelope_format


def _entry(code: int, data: Any = None) -> dict[str, Any]:
    return {"id": "x", "status_code": code, "data": data or {}}


def test_envelope_has_the_seeds_fields_with_their_types() -> None:
    envelope = envelope_format.envelope(envelope_format.OK, time.perf_counter())

    assert set(envelope) == ENVELOPE_FIELDS
    assert isinstance(envelope["version"], str)
    assert envelope["version"]
    assert type(envelope["status_code"]) is int
    assert envelope["status_code"] == 20000
    assert envelope["status_message"] == "Ok."
    assert TIME.match(envelope["time"]), envelope["time"]
    assert envelope["cost"] == 0
    assert envelope["tasks_count"] == 0
    assert envelope["tasks_error"] == 0
    assert envelope["tasks"] == []


def test_envelope_time_is_the_elapsed_seconds_with_four_decimals() -> None:
    envelope = envelope_format.envelope(envelope_format.OK, time.perf_counter() - 1.5)

    assert TIME.match(envelope["time"]), envelope["time"]
    assert 1.5 <= float(envelope["time"].removesuffix(" sec.")) < 60


def test_envelope_counts_tasks_and_tasks_with_error_codes_from_40000() -> None:
    tasks = [_entry(20100), _entry(39999), _entry(40000), _entry(40400), _entry(40501), _entry(50000)]

    envelope = envelope_format.envelope(envelope_format.OK, time.perf_counter(), tasks)

    assert envelope["tasks_count"] == 6
    assert envelope["tasks_error"] == 4
    assert envelope["tasks"] == tasks


def test_envelope_carries_extra_fields_after_the_seeds() -> None:
    envelope = envelope_format.envelope(envelope_format.OK, time.perf_counter(), [], resend_id="job-1")

    assert envelope["resend_id"] == "job-1"
    assert set(envelope) == ENVELOPE_FIELDS | {"resend_id"}
