"""moto's FilterExpression evaluation (5.2.5) over values cast once per item, not once per Query.

moto evaluates a Query's FilterExpression on every item its walk answers, and each
`AttributePath.expr` turns the attribute into Python values again (`DynamoType.cast_value`: a
`Decimal` for every number, a new list or set of them for every list or set): for the list's
`total`, a COUNT with `contains(tags, :t)` over every content item of a tenant, that was most of
its time. `compile_filter` turns moto's parsed expression (its `Op`/`Func`/`Operand` tree) into a
function of a lookup, attribute name -> (type, cast value) or None, which `dynamodb_index` serves
from a cache on each item's record, dropped whenever the item is written. Each node does what
moto's `expr` of that node does, in the same order, with the same Python operators on the same
values (so the same answers, and the same exceptions where moto raises one); only nodes of the
shapes below are compiled, and any other expression (nested paths, `size()`, `attribute_type`...)
is left to moto's own `expr`: `compile_filter` answers None.

The shapes: AND, OR, NOT, `=`, `<>`, `<`, `<=`, `>`, `>=`, IN, BETWEEN, `contains`,
`begins_with`, `attribute_exists`, `attribute_not_exists`, over top-level attribute names and
expression values: every FilterExpression `ItemFilter.compiled()` writes (`webhook_resend.resends.
filters`), and the project's other Queries' filters.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from moto.dynamodb import comparisons as c

# attribute name -> (its DynamoDB type, its DynamoType.cast_value), or None if the item has none
Lookup = Callable[[str], "tuple[str, Any] | None"]
Evaluator = Callable[[Lookup], Any]


class _Unsupported(Exception):
    pass


def compile_filter(expression: Any) -> Evaluator | None:
    """An evaluator that answers what `expression.expr(item)` answers, given a lookup of the
    item's top-level attributes; None if the expression holds a node it does not reproduce."""
    try:
        return _node(expression)
    except _Unsupported:
        return None


def _operand(node: Any) -> tuple[Callable[[Lookup], Any], Callable[[Lookup], Any]]:
    """(its value, its type) as functions of the lookup: moto's `Operand.expr` and `get_type`."""
    kind = type(node)
    if kind is c.AttributePath:
        if len(node.path) != 1 or not isinstance(node.path[0], str):
            raise _Unsupported
        name = node.path[0]

        def value(get: Lookup) -> Any:
            found = get(name)
            return None if found is None else found[1]

        def type_of(get: Lookup) -> Any:
            found = get(name)
            return None if found is None else found[0]

        return value, type_of
    if kind is c.AttributeValue:
        try:
            constant = node.expr(None)  # pure: moto computes the same value for every item
        except Exception as error:  # an invalid number: moto raises it item by item
            raise _Unsupported from error
        if isinstance(constant, list | dict | set):
            # moto builds a new one for each item; nothing below changes it, but keep it private
            def fresh(get: Lookup) -> Any:
                return node.expr(None)

            return fresh, lambda get: node.type
        value_type = node.type
        return (lambda get: constant), (lambda get: value_type)
    raise _Unsupported


def _comparison(node: Any, compare: Callable[[Any, Any], bool], none_false: bool) -> Evaluator:
    lhs, _ = _operand(node.lhs)
    rhs, _ = _operand(node.rhs)
    if none_false:

        def ordered(get: Lookup) -> Any:
            left = lhs(get)
            right = rhs(get)
            if left is not None and right is not None:
                return compare(left, right)
            return False

        return ordered

    def plain(get: Lookup) -> Any:
        left = lhs(get)
        right = rhs(get)
        return compare(left, right)

    return plain


def _node(node: Any) -> Evaluator:  # one branch per moto node type
    kind = type(node)
    if kind is c.OpAnd:
        left, right = _node(node.lhs), _node(node.rhs)
        return lambda get: left(get) and right(get)
    if kind is c.OpOr:
        left, right = _node(node.lhs), _node(node.rhs)
        return lambda get: left(get) or right(get)
    if kind is c.OpNot:
        inner = _node(node.lhs)
        return lambda get: not inner(get)
    if kind is c.OpDefault:
        return lambda get: True
    if kind is c.OpEqual:
        return _comparison(node, lambda a, b: a == b, none_false=False)
    if kind is c.OpNotEqual:
        return _comparison(node, lambda a, b: a != b, none_false=False)
    if kind is c.OpLessThan:
        return _comparison(node, lambda a, b: a < b, none_false=True)
    if kind is c.OpLessThanOrEqual:
        return _comparison(node, lambda a, b: a <= b, none_false=True)
    if kind is c.OpGreaterThan:
        return _comparison(node, lambda a, b: a > b, none_false=True)
    if kind is c.OpGreaterThanOrEqual:
        return _comparison(node, lambda a, b: a >= b, none_false=True)
    if kind is c.FuncContains:
        attr, attr_type = _operand(node.attr)
        operand, _ = _operand(node.operand)

        def contains(get: Lookup) -> bool:
            if attr_type(get) in ("S", "SS", "NS", "BS", "L"):
                try:
                    return operand(get) in attr(get)
                except TypeError:
                    return False
            return False

        return contains
    if kind is c.FuncIn:
        attr, _ = _operand(node.attr)
        candidates = [_operand(v)[0] for v in node.possible_values]

        def is_in(get: Lookup) -> bool:
            return any(attr(get) == candidate(get) for candidate in candidates)

        return is_in
    if kind is c.FuncBetween:
        attr, _ = _operand(node.attr)
        start, _ = _operand(node.start)
        end, _ = _operand(node.end)

        def between(get: Lookup) -> bool:
            low = start(get)
            value = attr(get)
            high = end(get)
            return value is not None and low <= value <= high

        return between
    if kind is c.FuncBeginsWith:
        attr, attr_type = _operand(node.attr)
        substr, substr_type = _operand(node.substr)

        def begins_with(get: Lookup) -> bool:
            if attr_type(get) != "S":
                return False
            if substr_type(get) != "S":
                return False
            return attr(get).startswith(substr(get))

        return begins_with
    if kind is c.FuncAttrExists:
        _, attr_type = _operand(node.attr)
        return lambda get: attr_type(get) is not None
    raise _Unsupported
