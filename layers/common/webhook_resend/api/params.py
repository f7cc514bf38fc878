"""Validation of the query parameters the resend and list routes share: paging, the event, and
the `webhook_id` selector. Each raises InvalidInputError naming the field. (Path ids are checked
by `models.base.canonical_id`; `errors.collect` gathers the problems of several parsers.)
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from webhook_resend.errors import FieldProblem, InvalidInputError
from webhook_resend.models.base import EVENTS

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
MAX_WEBHOOK_IDS = 100


def parse_paging(params: Mapping[str, Any], *, max_limit: int = MAX_LIMIT) -> tuple[int, int]:
    """`skip` (≥ 0, default 0) and `limit` (1..max_limit, default 25)."""
    problems = []
    values = {}
    for name, default, low, high in (("skip", 0, 0, None), ("limit", DEFAULT_LIMIT, 1, max_limit)):
        raw = params.get(name, default)
        try:
            if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
                raise ValueError
            value = int(raw)
        except (TypeError, ValueError):
            problems.append(FieldProblem(name, f"must be a whole number, got {raw!r}"))
            continue
        if value < low or (high is not None and value > high):
            bound = f"between {low} and {high}" if high is not None else f"at least {low}"
            problems.append(FieldProblem(name, f"must be {bound}, got {value}"))
        values[name] = value
    if problems:
        raise InvalidInputError(problems)
    return values["skip"], values["limit"]


def parse_event(params: Mapping[str, Any], *, required: bool = True) -> str | None:
    event = params.get("event")
    if event is None:
        if required:
            raise InvalidInputError(FieldProblem("event", f"is required; one of {', '.join(EVENTS)}"))
        return None
    if event not in EVENTS:
        raise InvalidInputError(FieldProblem("event", f"must be one of {', '.join(EVENTS)}, got {event!r}"))
    return str(event)


def _uuid(value: Any, path: str, problems: list[FieldProblem]) -> str | None:
    try:
        if isinstance(value, str):
            return str(uuid.UUID(value))
    except ValueError:
        pass
    problems.append(FieldProblem(path, f"must be a webhook id (UUID), got {value!r}"))
    return None


def parse_webhook_selector(params: Mapping[str, Any]) -> frozenset[str] | None:
    """The webhook ids `webhook_id` selects (`[{"eq": id}]`, `[{"in": [ids]}]`, or the object
    form; all conditions must hold), or None when absent: every subscribed webhook.
    """
    if "webhook_id" not in params:
        return None
    raw = params["webhook_id"]
    conditions = [raw] if isinstance(raw, dict) else raw
    problems: list[FieldProblem] = []
    if not isinstance(conditions, list) or not conditions:
        raise InvalidInputError(
            FieldProblem("webhook_id", 'must be a condition such as [{"eq": id}] or [{"in": [ids]}]')
        )
    selected: frozenset[str] | None = None
    for index, condition in enumerate(conditions):
        path = f"webhook_id[{index}]" if isinstance(raw, list) else "webhook_id"
        if not isinstance(condition, dict) or not condition:
            problems.append(FieldProblem(path, 'must be an object such as {"eq": id} or {"in": [ids]}'))
            continue
        for operator, operand in condition.items():
            ids: set[str] = set()
            if operator == "eq":
                found = _uuid(operand, f"{path}.eq", problems)
                ids = {found} if found else set()
            elif operator == "in":
                if not isinstance(operand, list) or not operand or len(operand) > MAX_WEBHOOK_IDS:
                    problems.append(
                        FieldProblem(f"{path}.in", f"must be a list of 1 to {MAX_WEBHOOK_IDS} webhook ids")
                    )
                    continue
                ids = {
                    found
                    for i, value in enumerate(operand)
                    if (found := _uuid(value, f"{path}.in[{i}]", problems))
                }
            else:
                problems.append(
                    FieldProblem(f"{path}.{operator}", f"unknown operator {operator!r}; allowed: eq, in")
                )
                continue
            selected = frozenset(ids) if selected is None else selected & ids
    if problems:
        raise InvalidInputError(problems)
    return selected or frozenset()
