"""bench/run.py's table and its ending when parts fail (issue 17 point 3)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bench import run


def row(key: str, value: float, **over: Any) -> dict[str, Any]:
    return {
        "key": key,
        "value": value,
        "unit": "s",
        "baseline": None,
        "baseline_label": "",
        "ratio": None,
        "target": "",
        "met": None,
        "note": "",
        **over,
    }


def test_the_table_of_no_rows_is_its_header() -> None:
    lines = run.table([]).splitlines()

    assert lines[0].split() == ["metric", "value", "baseline", "ratio", "target", "met?", "note"]
    assert set(lines[1]) == {"-"}
    assert len(lines) == 2


def test_the_table_aligns_each_row_under_its_header() -> None:
    text = run.table(
        [
            row("a_long_metric_name_s", 1.5, baseline=1.25, baseline_label="boto3", ratio=1.5),
            row("b_s", 0.25, target="<= 1.5", met=False),
        ]
    )
    header, _, first, second = text.splitlines()

    assert first.startswith("a_long_metric_name_s")
    assert "1.250 s (boto3)" in first
    assert "1.500x" in first
    assert "NO" in second
    assert "<= 1.5" in second
    # the value column ends at the same place on every line
    assert header.index("value") + len("value") == first.index("1.500 s") + len("1.500 s")


def test_a_run_whose_every_part_fails_still_prints_its_table_and_fails(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def failing(command: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 1, stdout="", stderr="Traceback: boom")

    monkeypatch.setattr(run.subprocess, "run", failing)
    out = tmp_path / "figures.json"

    status = run.main(["--only", "status,transports", "--json", str(out)])

    printed = capsys.readouterr()
    assert status == 1
    assert "status FAILED: Traceback: boom" in printed.out
    assert "transports FAILED: Traceback: boom" in printed.out
    assert "parts that failed: status, transports" in printed.err
    figures = json.loads(out.read_text())
    assert figures["bench_parts_failed"] == 2
    assert figures["bench_targets_met"] == 0
