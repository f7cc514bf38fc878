"""`python -m devstack` stops within its deadline whatever is still running (issue 19)."""

from __future__ import annotations

import threading
import time

from devstack.__main__ import stop_within


class Local:
    def __init__(self, takes: float) -> None:
        self.takes = takes
        self.release = threading.Event()
        self.stopped = False

    def stop(self) -> None:
        self.release.wait(self.takes)
        self.stopped = True


def test_a_stack_that_stops_in_time_is_stopped() -> None:
    local = Local(takes=0.0)
    assert stop_within(local, 2.0) is True  # type: ignore[arg-type]
    assert local.stopped


def test_a_stop_still_running_at_the_deadline_is_left_behind() -> None:
    local = Local(takes=30.0)  # an invocation that holds the stop (a long delivery batch)
    started = time.monotonic()
    assert stop_within(local, 0.3) is False  # type: ignore[arg-type]
    assert time.monotonic() - started < 2.0
    assert not local.stopped
    local.release.set()
