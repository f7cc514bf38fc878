"""The comparison every byte-for-byte test of the devstack layers ends with."""

from __future__ import annotations

from typing import Any


def assert_same_answers(expected: list[Any], answered: list[Any]) -> None:
    """moto's answers as released (`expected`) and with the layers, one by one (messages of its own:
    pytest rewrites the asserts of test modules only)."""
    assert len(answered) == len(expected), f"{len(answered)} answers for {len(expected)}"
    for number, (want, got) in enumerate(zip(expected, answered, strict=True)):
        assert got == want, f"answer {number} differs"
