"""Every function has sample events in events/, and each one runs through its handler on moto
(as `sam local invoke -e events/<file>` would run it) without a server error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack.cfn import load_template

ROOT = Path(__file__).resolve().parents[2]
EVENTS = sorted((ROOT / "events").glob("*.json"))
TEMPLATE = load_template(ROOT / "template.yaml")
FUNCTIONS = {
    resource["Properties"]["Handler"].split(".")[0]: logical_id
    for logical_id, resource in TEMPLATE["Resources"].items()
    if resource["Type"] == "AWS::Serverless::Function"
}


def _function_of(event_file: Path) -> str:
    stem = next(
        (name for name in sorted(FUNCTIONS, key=len, reverse=True) if event_file.stem.startswith(name)), None
    )
    assert stem is not None, f"{event_file.name} names no function ({', '.join(sorted(FUNCTIONS))})"
    return FUNCTIONS[stem]


def test_sample_events_cover_every_function():
    covered = {_function_of(path) for path in EVENTS}

    assert covered == set(FUNCTIONS.values())


@pytest.mark.parametrize("event_file", EVENTS, ids=[path.stem for path in EVENTS])
def test_sample_event_runs_without_a_server_error(stack, event_file):
    event = json.loads(event_file.read_text())

    result = stack.invoke(_function_of(event_file), event)

    assert isinstance(result, dict), result
    assert result.get("statusCode", 200) < 500, result
