"""`events.likely_ended`: which jobs a batch claims the end of at once, on its own read of them."""

from __future__ import annotations

from typing import Any

import pytest

from webhook_resend.delivery.events import likely_ended
from webhook_resend.models import progress

KEY = ("tn-1", "job-1")
READ_AT = 1_700_000_000.0


def _job(**fields: Any) -> dict[str, Any]:
    return {"created_on": "2024-01-01T00:00:00.000Z", "pending": 3, **fields}


def test_likely_ended_a_running_job_whose_pending_pairs_the_batch_counted() -> None:
    record = _job(ended_w1=2)
    found = likely_ended({KEY: (record, READ_AT)}, {KEY: 3}, READ_AT + 2)
    assert list(found) == [KEY]
    assert found[KEY].record is record
    # the windows from a minute before the read to the one after now: all a commit may have written
    windows = found[KEY].windows
    assert windows[0] == progress.window_of(READ_AT) - progress.WINDOWS
    assert windows[-1] == progress.window_of(READ_AT + 2) + 1
    assert list(windows) == list(range(windows[0], windows[-1] + 1))


def test_likely_ended_a_selected_job_counts_as_running() -> None:
    assert list(likely_ended({KEY: (_job(state="selected"), READ_AT)}, {KEY: 5}, READ_AT)) == [KEY]


@pytest.mark.parametrize(
    ("record", "counted"),
    [
        (_job(), 2),  # pairs left pending as read: another batch may end them
        (_job(state="selecting"), 3),  # more may be selected
        (_job(state="paused"), 3),
        (_job(state="cancelled"), 3),  # its end is resend.cancelled, decided by the read
        (_job(end_notified="resend.completed"), 3),  # announced already
        ({"pending": 0}, 3),  # a bare counter item: the job is gone
        (None, 3),  # not read
    ],
)
def test_likely_ended_leaves_anything_else_to_the_read(record: dict[str, Any] | None, counted: int) -> None:
    assert likely_ended({KEY: (record, READ_AT)}, {KEY: counted}, READ_AT) == {}


def test_likely_ended_a_job_the_batch_did_not_read_or_count_is_not_claimed() -> None:
    assert likely_ended({}, {KEY: 3}, READ_AT) == {}
    assert likely_ended({KEY: (_job(), READ_AT)}, {}, READ_AT) == {}
