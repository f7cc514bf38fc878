"""bench/compare.py: whether two `make bench` runs agree within 10 % (issue 17)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench import compare

ROOT = Path(__file__).resolve().parents[2]


def run(**figures: float) -> dict[str, float]:
    out: dict[str, float] = {}
    for key, value in figures.items():
        out[key] = value
        if key.startswith("t_"):
            out[f"{key}.met"] = 1
    return out


def test_targeted_figures_within_ten_percent_agree() -> None:
    lines, apart = compare.compare(
        run(t_cpu_over=1.20, t_wall_over=1.00), run(t_cpu_over=1.30, t_wall_over=1.05)
    )
    assert apart == []
    assert any(line.startswith("t_cpu_over") and "8.0 %" in line for line in lines)


def test_a_targeted_figure_more_than_ten_percent_apart_is_named() -> None:
    _, apart = compare.compare(run(t_cpu_over=1.0, t_x=2.0), run(t_cpu_over=1.25, t_x=2.0))
    assert apart == ["t_cpu_over"]


def test_untargeted_ratios_are_shown_but_never_fail_the_comparison() -> None:
    lines, apart = compare.compare(run(info_over_base=1.0), run(info_over_base=3.0))
    assert apart == []
    assert any(line.startswith("info_over_base") and "info" in line for line in lines)


def test_a_figure_missing_from_one_run_is_listed_not_compared() -> None:
    lines, apart = compare.compare(run(t_a=1.0, t_b=1.0), run(t_a=1.0))
    assert apart == []
    assert any(line.startswith("t_b") and "missing" in line for line in lines)


def test_the_command_exits_1_when_runs_disagree(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    first.write_text(json.dumps(run(t_a=1.0)))
    second.write_text(json.dumps(run(t_a=2.0)))
    done = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / "bench" / "compare.py"), str(first), str(second)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stdout
    assert "1 targeted figures more than 10% apart: t_a" in done.stdout
