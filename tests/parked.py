"""Reading every parked pair back, whatever its shard and however many pages: for tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from webhook_resend import clock
from webhook_resend.aws import clients, keys

PAGE = 100


def every_shard(read: Callable[[int, Any], tuple[list[Any], Any]]) -> list[Any]:
    """What `read(shard, start)` answers page by page (a page and the next start, None at the
    end), for every shard of the parked pairs."""
    found: list[Any] = []
    for shard in range(keys.PARK_SHARDS):
        start = None
        while True:
            page, start = read(shard, start)
            found += page
            if start is None:
                break
    return found


def all_due_parked(until: datetime) -> list[Any]:
    """What the waker would read at `until`: every shard's parked pairs due by then."""
    due = clock.canonical(until)
    return every_shard(lambda shard, start: clients.store().due_parked(shard, due, PAGE, start))


def job_parked(tenant_id: str, job_id: str) -> list[Any]:
    """Every pair the job has parked, whatever the reason (the `parked_by_job` index)."""
    return every_shard(lambda shard, start: clients.store().job_parked(tenant_id, job_id, shard, PAGE, start))
