"""The one check of a job's counters every test that reads a job makes (SPEC §5.4, §11)."""

from __future__ import annotations

from typing import Any

COUNTERS = ("delivered", "failed", "cancelled", "pending")


def assert_counters_add_up(job: dict[str, Any]) -> None:
    """Every counter is ≥ 0, `0 ≤ pending ≤ total_queued`, and the ends and `pending` add up to
    `total_queued` (a job without `cancelled` counts it 0)."""
    values = {name: job.get(name, 0) for name in COUNTERS}
    assert all(isinstance(v, int) and v >= 0 for v in values.values()), job
    assert 0 <= job["pending"] <= job["total_queued"], job
    assert sum(values.values()) == job["total_queued"], job
