"""The item filter language of SPEC §5.2: parsing, matching, and the index range a filter implies.

`GET /content_items`, the Prepr-style bulk resend and native filter resends select content items
with the same filters: `id`, `model`, `workflow_stage`, `locales`, `tags` with `eq` / `in`, and
`created_on`, `changed_on`, `publish_on` with `gt` / `gte` / `lt` / `lte`. A filter arrives as a
JSON body or as a query string decoded by `webhook_resend.api.querystring`, travels in queue messages
as `ItemFilter.as_dict()`, and is applied to the items index, whose `"{created_on}#{id}"` sort
keys `ItemFilter.sort_key_range()` bounds. `ItemFilter.compiled()` turns every other condition
into a DynamoDB FilterExpression, so a Query answers the matching entries only (SPEC §10).

Plain code rather than a Pydantic model: the problems must name paths such as `tags[0].in` and
say which operators a field allows, and every problem of a request is reported at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from operator import ge, gt, le, lt
from typing import Any

from webhook_resend import clock
from webhook_resend.aws.dynamodb import QueryFilter
from webhook_resend.errors import FieldProblem, InvalidInputError

TEXT_FIELDS = ("id", "model", "workflow_stage")
LIST_FIELDS = ("locales", "tags")
TIME_FIELDS = ("created_on", "changed_on", "publish_on")
_FIELD_ORDER = TEXT_FIELDS + LIST_FIELDS + TIME_FIELDS
ITEM_FILTER_FIELDS: frozenset[str] = frozenset(_FIELD_ORDER)

MATCH_OPERATORS = ("eq", "in")
TIME_OPERATORS = ("gt", "gte", "lt", "lte")
MAX_IN_VALUES = 1000

_COMPARISONS: dict[str, Callable[[str, str], bool]] = {"gt": gt, "gte": ge, "lt": lt, "lte": le}
_EXAMPLE_TIME = "2024-01-02T03:04:05Z"
# DynamoDB's limits: at most 100 operands in one IN, and 4 KB for any expression string. A filter
# whose expression would not fit leaves its longest terms (an `in` of hundreds of values) to be
# evaluated here, on the entries DynamoDB answers: `Compiled.residual`.
_IN_OPERANDS_MAX = 100
_EXPRESSION_BUDGET = 3500
_DYNAMODB_OPERATORS = {"gt": ">", "gte": ">=", "lt": "<", "lte": "<="}
# '$' is the character right after '#', the separator in "{created_on}#{id}" sort keys: "{t}$"
# sorts after every key of an item created at t and before every key of a later item.
_AFTER_SEPARATOR = "$"


@dataclass(frozen=True)
class Term:
    """One operator applied to one field, its value normalised; a filter holds when all its terms do.

    `value` is a string for `eq` and the time operators (times in canonical form, ids as
    lowercase UUIDs) and a frozenset of strings for `in`.
    """

    field: str
    operator: str
    value: str | frozenset[str]

    def holds(self, record: Mapping[str, Any]) -> bool:
        actual = record.get(self.field)
        if self.field in TIME_FIELDS:
            # Stored times are canonical and fixed width, so text order is time order.
            return isinstance(actual, str) and _COMPARISONS[self.operator](actual, str(self.value))
        if self.field in LIST_FIELDS:
            # A lone string is one element, never a sequence of characters to search.
            elements = (actual,) if isinstance(actual, str) else (actual or ())
            if self.operator == "eq":
                return self.value in elements
            return any(element in self.value for element in elements)
        if actual is None:
            return False
        text = str(actual).lower() if self.field == "id" else actual
        return text == self.value if self.operator == "eq" else text in self.value

    def as_condition(self) -> dict[str, Any]:
        if isinstance(self.value, frozenset):
            return {self.operator: sorted(self.value)}
        return {self.operator: self.value}


@dataclass
class _Placeholders:
    """Names and values of one expression, numbered in the order they are first used."""

    names: dict[str, str]
    values: dict[str, Any]

    def name(self, field: str) -> str:
        placeholder = f"#{field}"
        self.names[placeholder] = field
        return placeholder

    def value(self, value: str) -> str:
        placeholder = f":f{len(self.values)}"
        self.values[placeholder] = value
        return placeholder


def _expression(term: Term, slots: _Placeholders) -> str:
    """The FilterExpression of one term (SPEC §5.2's semantics: a list field matches when any
    element does; a missing attribute never matches a condition on it)."""
    field = slots.name(term.field)
    if term.field in TIME_FIELDS:
        return f"{field} {_DYNAMODB_OPERATORS[term.operator]} {slots.value(str(term.value))}"
    wanted = sorted(term.value) if isinstance(term.value, frozenset) else [str(term.value)]
    if term.field in LIST_FIELDS:
        found = [f"contains({field}, {slots.value(v)})" for v in wanted]
        return found[0] if len(found) == 1 else "(" + " OR ".join(found) + ")"
    if term.operator == "eq":
        return f"{field} = {slots.value(wanted[0])}"
    groups = [
        f"{field} IN ({', '.join(slots.value(v) for v in wanted[i : i + _IN_OPERANDS_MAX])})"
        for i in range(0, len(wanted), _IN_OPERANDS_MAX)
    ]
    return groups[0] if len(groups) == 1 else "(" + " OR ".join(groups) + ")"


@dataclass(frozen=True)
class Compiled:
    """A filter as a Query takes it: `condition` for DynamoDB (None: nothing to evaluate), and the
    `residual` terms it could not take, for `ItemFilter.matches` on the entries it answers."""

    condition: QueryFilter | None
    residual: ItemFilter

    def keeps(self, entry: Mapping[str, Any]) -> bool:
        return self.residual.matches(entry)


def _term_order(term: Term) -> tuple[Any, ...]:
    rank = _FIELD_ORDER.index(term.field) if term.field in ITEM_FILTER_FIELDS else len(_FIELD_ORDER)
    value = (1, tuple(sorted(term.value))) if isinstance(term.value, frozenset) else (0, term.value)
    return rank, term.field, term.operator, value


@dataclass(frozen=True)
class ItemFilter:
    """A parsed item filter: the conjunction of its terms. No terms selects every item."""

    terms: tuple[Term, ...] = ()

    def __post_init__(self) -> None:
        # One order and no repeats, so filters that say the same thing compare equal however
        # they were written, and a filter survives `parse_item_filter(f.as_dict()) == f`.
        object.__setattr__(self, "terms", tuple(sorted(set(self.terms), key=_term_order)))

    @property
    def is_empty(self) -> bool:
        return not self.terms

    def matches(self, record: Mapping[str, Any]) -> bool:
        """Whether an item (or its index entry) passes every term.

        A missing time, workflow stage or id never matches a condition on it; a missing list
        is empty.
        """
        return all(term.holds(record) for term in self.terms)

    def sort_key_range(self) -> tuple[str | None, str | None]:
        """Inclusive bounds on the `"{created_on}#{id}"` index sort key, None where unbounded.

        The tightest of the `created_on` conditions; every item `matches` accepts lies inside.
        A low bound above the high bound means nothing can match.
        """
        low: str | None = None
        high: str | None = None
        for term in self.terms:
            if term.field != "created_on":
                continue
            bound = str(term.value)
            if term.operator in ("gt", "gte"):
                candidate = bound + _AFTER_SEPARATOR if term.operator == "gt" else bound
                low = candidate if low is None else max(low, candidate)
            else:
                candidate = bound + _AFTER_SEPARATOR if term.operator == "lte" else bound
                high = candidate if high is None else min(high, candidate)
        return low, high

    def compiled(self) -> Compiled:
        """The filter as DynamoDB evaluates it. `created_on` terms are left out: the key
        condition (`sort_key_range`) holds them exactly. Every other term becomes part of one
        FilterExpression (their conjunction), shortest first, while it fits DynamoDB's 4 KB
        expression limit; what does not fit (only an `in` of hundreds of values can) is the
        residual, evaluated on the entries DynamoDB answers."""
        slots = _Placeholders({}, {})
        parts: list[str] = []
        residual: list[Term] = []
        candidates = [t for t in self.terms if t.field != "created_on"]
        compiled = []
        for term in candidates:
            trial = _Placeholders({}, {})
            compiled.append((len(_expression(term, trial)), term))
        used = 0
        for size, term in sorted(compiled, key=lambda pair: pair[0]):
            if used + size + len(" AND ") > _EXPRESSION_BUDGET:
                residual.append(term)
                continue
            parts.append(_expression(term, slots))
            used += size + len(" AND ")
        condition = QueryFilter(" AND ".join(parts), slots.names, slots.values) if parts else None
        return Compiled(condition, ItemFilter(tuple(residual)))

    def as_dict(self) -> dict[str, list[dict[str, Any]]]:
        """The normalised filter, field → conditions, as `parse_item_filter` reads it back."""
        conditions: dict[str, list[dict[str, Any]]] = {}
        for term in self.terms:
            conditions.setdefault(term.field, []).append(term.as_condition())
        return conditions


def parse_item_filter(params: Mapping[str, Any], *, allowed_extra: Iterable[str] = ()) -> ItemFilter:
    """The item filter in request parameters (a JSON body, or a query string through `decode`).

    Every key must be a filter field or one of `allowed_extra`, which the caller validates
    itself. Raises one InvalidInputError listing every problem; an unknown field or operator is
    always a problem, so nothing is ever silently dropped from a filter.
    """
    extra = frozenset(allowed_extra)
    problems: list[FieldProblem] = []
    terms: list[Term] = []
    for key, value in params.items():
        name = str(key)
        if name in extra:
            continue
        if name not in ITEM_FILTER_FIELDS:
            problems.append(FieldProblem(name, _unknown_field(name, extra)))
            continue
        terms.extend(_parse_field(name, value, problems))
    if problems:
        raise InvalidInputError(problems)
    return ItemFilter(tuple(terms))


def _unknown_field(name: str, extra: frozenset[str]) -> str:
    message = f"unknown field '{name}'; allowed filters: {', '.join(_FIELD_ORDER)}"
    if extra:
        message += f"; other parameters: {', '.join(sorted(extra))}"
    return message


def _operators_of(name: str) -> tuple[str, ...]:
    return TIME_OPERATORS if name in TIME_FIELDS else MATCH_OPERATORS


def _query_form(path: str) -> str:
    """`tags[0].in` as a query string writes it: `tags[0][in]`."""
    name, *rest = path.split(".")
    return name + "".join(f"[{part}]" for part in rest)


def _shown(value: str) -> str:
    return value if len(value) <= 40 else value[:37] + "..."


def _not_a_condition(name: str, path: str, value: Any) -> str:
    operators = _operators_of(name)
    example = _shown(value) if isinstance(value, str) and value else "..."
    return (
        f'must be a condition object such as {{"{operators[0]}": ...}} or a non-empty list of them, '
        f"not a plain value; in a query string write {_query_form(path)}[{operators[0]}]={example} "
        f"(operators: {', '.join(operators)})"
    )


def _parse_field(name: str, value: Any, problems: list[FieldProblem]) -> list[Term]:
    if isinstance(value, Mapping):
        conditions = [(name, value)]
    elif isinstance(value, list | tuple):
        if not value:
            example = f'{{"{_operators_of(name)[0]}": ...}}'
            problems.append(
                FieldProblem(name, f"is an empty list; give at least one condition such as {example}")
            )
            return []
        conditions = [(f"{name}[{index}]", condition) for index, condition in enumerate(value)]
    else:
        problems.append(FieldProblem(name, _not_a_condition(name, name, value)))
        return []

    terms: list[Term] = []
    for path, condition in conditions:
        if not isinstance(condition, Mapping):
            problems.append(FieldProblem(path, _not_a_condition(name, path, condition)))
        elif not condition:
            operators = ", ".join(_operators_of(name))
            problems.append(FieldProblem(path, f"is an empty condition; give at least one of: {operators}"))
        else:
            for operator, operand in condition.items():
                term = _parse_operator(name, f"{path}.{operator}", str(operator), operand, problems)
                if term is not None:
                    terms.append(term)
    return terms


def _parse_operator(
    name: str, path: str, operator: str, operand: Any, problems: list[FieldProblem]
) -> Term | None:
    allowed = _operators_of(name)
    if operator not in allowed:
        known = operator in MATCH_OPERATORS or operator in TIME_OPERATORS
        what = (
            f"operator '{operator}' does not apply to {name}" if known else f"unknown operator '{operator}'"
        )
        problems.append(FieldProblem(path, f"{what}; allowed: {', '.join(allowed)}"))
        return None
    if name in TIME_FIELDS:
        return _parse_time(name, path, operator, operand, problems)
    if operator == "eq":
        text = _parse_text(name, path, operand, problems, hint="; to match any of several values use 'in'")
        return None if text is None else Term(name, operator, text)
    return _parse_in(name, path, operand, problems)


def _parse_text(
    name: str, path: str, value: Any, problems: list[FieldProblem], *, hint: str = ""
) -> str | None:
    if not isinstance(value, str):
        problems.append(FieldProblem(path, f"must be a string{hint}"))
        return None
    if not value:
        problems.append(FieldProblem(path, "must not be empty"))
        return None
    if name == "id":
        try:
            return str(uuid.UUID(value))
        except ValueError:
            problems.append(FieldProblem(path, f"'{_shown(value)}' is not a UUID"))
            return None
    return value


def _parse_in(name: str, path: str, operand: Any, problems: list[FieldProblem]) -> Term | None:
    if not isinstance(operand, list | tuple) or not operand:
        example = _shown(operand) if isinstance(operand, str) and operand else "..."
        problems.append(
            FieldProblem(
                path,
                f"must be a non-empty list of strings (at most {MAX_IN_VALUES}); "
                f"in a query string write {_query_form(path)}[0]={example}",
            )
        )
        return None
    if len(operand) > MAX_IN_VALUES:
        problems.append(FieldProblem(path, f"has {len(operand)} values; at most {MAX_IN_VALUES}"))
        return None
    values = [_parse_text(name, f"{path}[{index}]", value, problems) for index, value in enumerate(operand)]
    if any(value is None for value in values):
        return None
    return Term(name, "in", frozenset(value for value in values if value is not None))


def _parse_time(
    name: str, path: str, operator: str, operand: Any, problems: list[FieldProblem]
) -> Term | None:
    problem = FieldProblem(path, f"must be an ISO 8601 date-time such as {_EXAMPLE_TIME}")
    if not isinstance(operand, str):
        problems.append(problem)
        return None
    try:
        instant = clock.parse(operand)
    except ValueError:
        problems.append(problem)
        return None
    text = clock.canonical(instant)
    if instant.microsecond % 1000:
        # Stored times have whole milliseconds and canonical() truncates, so a finer bound t
        # is "after the millisecond of t" for gte and "up to it" for lt; left as they are, gte
        # would admit items from before t.
        operator = {"gte": "gt", "lt": "lte"}.get(operator, operator)
    return Term(name, operator, text)
