"""bench/harness.py's paired ratios (issue 17: ratios that two runs of `make bench` agree on)."""

from __future__ import annotations

import statistics
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from harness import paired_ratio


def test_a_paired_ratio_is_the_median_of_each_rounds_ratio() -> None:
    assert paired_ratio([2.0, 3.0, 10.0], [1.0, 2.0, 4.0]) == 2.0  # ratios 2, 1.5, 2.5


def test_a_round_whose_two_runs_were_both_slowed_still_gives_its_ratio() -> None:
    # Round 2 ran while the machine was three times as busy: both its runs took 3x. The medians
    # of each side pick different rounds (1.3 / 1.0); each round's own ratio stays near 1.2.
    subject = [1.2, 1.3, 3.6, 1.25, 3.3]
    baseline = [1.0, 1.05, 3.0, 1.0, 2.75]
    assert statistics.median(subject) / statistics.median(baseline) == pytest.approx(1.3 / 1.05)
    assert paired_ratio(subject, baseline) == pytest.approx(1.2)


def test_rounds_that_do_not_pair_up_are_refused() -> None:
    with pytest.raises(ValueError, match="3 subject runs for 2 baseline runs"):
        paired_ratio([1.0, 2.0, 3.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="0 subject runs for 0 baseline runs"):
        paired_ratio([], [])
