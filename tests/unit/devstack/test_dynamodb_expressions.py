"""devstack.dynamodb_expressions: condition expressions parse to what moto's own parse gives, from
the first parse of a text and from its kept tree, and every answer stays moto's own.

`expression_script()` is the project's conditional writes (the consumer's commit: first-record
Puts with `_FIRST_RECORD_CONDITION`, the count Update, the job's counter Update, in one
transaction; the selection's step Update; `attribute_not_exists(pk)` Puts), run twice so the
second time its conditions fail, and conditions of every kind the parser has (comparisons, IN,
BETWEEN, NOT, AND/OR with parentheses, every function, size(), nested paths, list indexes), each
text met again with other values (and names) so a kept tree must take the request's own, and
conditions moto refuses (a missing value or name, a reserved word, redundant parentheses, bad
syntax). It runs through moto's HTTP application unpatched and patched; answers are compared
as bytes (test_moto_dispatch runs it with every layer too). Parses are also compared directly:
the condition moto makes (its classes and values, how it evaluates items), what the parser
records as names and values found, and what it raises.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

import pytest
from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.models.dynamo_type import DynamoType, Item

from devstack import dynamodb_expressions
from tests.unit.devstack.compare import assert_same_answers
from tests.unit.devstack.test_dynamodb_index import TABLE, create_table_request, run

NOT_TERMINAL = "(attribute_not_exists(pk) OR NOT (#s IN (:delivered, :failed, :cancelled)))"
TERMINAL = {":delivered": {"S": "delivered"}, ":failed": {"S": "failed"}, ":cancelled": {"S": "cancelled"}}
FIRST_RECORD = f"{NOT_TERMINAL} AND attribute_not_exists(#c)"


@pytest.fixture
def unpatched_at_first() -> Iterator[None]:
    """The layer off at the start; as it was (on if a local stack ran here) at the end."""
    was_installed = dynamodb_expressions.installed()
    dynamodb_expressions.uninstall()
    try:
        yield
    finally:
        if was_installed:
            dynamodb_expressions.install()
        else:
            dynamodb_expressions.uninstall()


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def _key(pk: str, sk: str) -> dict[str, Any]:
    return {"pk": s(pk), "sk": s(sk)}


def _commit(job: str, pairs: range) -> dict[str, Any]:
    """The consumer's commit (aws/dynamodb.py Store._commit_chunk): a first-record Put per pair,
    a count Update, the job's counter Update."""
    items: list[dict[str, Any]] = [
        {
            "Put": {
                "TableName": TABLE,
                "Item": {
                    **_key("tnA", f"DELIVERY#{job}#item-{p}#wh#0"),
                    "status": s("delivered"),
                    "attempts": n(1),
                    "counted": s("delivered"),
                    "tags": {"L": [s("a"), s("b")]},
                },
                "ConditionExpression": FIRST_RECORD,
                "ExpressionAttributeNames": {"#s": "status", "#c": "counted"},
                "ExpressionAttributeValues": TERMINAL,
            }
        }
        for p in pairs
    ]
    items.append(
        {
            "Update": {
                "TableName": TABLE,
                "Key": _key("tnA", f"DELIVERY#{job}#task-1#cb#0"),
                "UpdateExpression": "SET #c = :outcome, expires_at = if_not_exists(expires_at, :expires)",
                "ConditionExpression": "attribute_not_exists(#c)",
                "ExpressionAttributeNames": {"#c": "counted"},
                "ExpressionAttributeValues": {":outcome": s("failed"), ":expires": n(1900000000)},
            }
        }
    )
    items.append(
        {
            "Update": {
                "TableName": TABLE,
                "Key": _key("tnA", f"JOB#{job}"),
                "UpdateExpression": "ADD delivered :d, failed :f, pending :p SET last_counted_on = :when",
                "ExpressionAttributeValues": {
                    ":d": n(len(pairs)),
                    ":f": n(0),
                    ":p": n(-len(pairs)),
                    ":when": s("T"),
                },
            }
        }
    )
    return {"TransactItems": items}


def _put(
    sk: str, condition: str, names: dict[str, str] | None, values: dict[str, Any] | None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "TableName": TABLE,
        "Item": {**_key("tnA", sk), "status": s("new"), "n": n(5)},
        "ConditionExpression": condition,
    }
    if names is not None:
        body["ExpressionAttributeNames"] = names
    if values is not None:
        body["ExpressionAttributeValues"] = values
    return body


# (condition, names, values): each met twice in the script, the second time with `again` values
CONDITIONS: list[tuple[str, dict[str, str] | None, dict[str, Any] | None, dict[str, Any] | None]] = [
    ("n = :v", None, {":v": n(5)}, {":v": n(6)}),
    ("(n = :v)", None, {":v": n(5)}, {":v": n(4)}),
    ("n = :v AND model = :w", None, {":v": n(5), ":w": s("Post")}, {":v": n(5), ":w": s("Page")}),
    ("n <> :v AND model = :m", None, {":v": n(5), ":m": s("Post")}, {":v": n(4), ":m": s("Post")}),
    ("n < :v OR n >= :w", None, {":v": n(9), ":w": n(1)}, {":v": n(1), ":w": n(9)}),
    ("n BETWEEN :lo AND :hi", None, {":lo": n(1), ":hi": n(9)}, {":lo": n(6), ":hi": n(9)}),
    (
        "model IN (:a, :b, :c)",
        None,
        {":a": s("Post"), ":b": s("Page"), ":c": s("x")},
        {":a": s("x"), ":b": s("y"), ":c": s("z")},
    ),
    ("NOT attribute_exists(#x)", {"#x": "gone"}, None, None),
    ("attribute_exists(#x)", {"#x": "model"}, None, None),
    ("begins_with(sk, :p)", None, {":p": s("ITEM#")}, {":p": s("JOB#")}),
    ("contains(tags, :t)", None, {":t": s("news")}, {":t": s("none")}),
    ("contains(#t, :t)", {"#t": "tags"}, {":t": s("news")}, {":t": s("news")}),
    ("contains(#t, :t)", {"#t": "model"}, {":t": s("Po")}, {":t": s("Pa")}),
    ("size(payload) > :n", None, {":n": n(3)}, {":n": n(300)}),
    ("attribute_type(n, :type)", None, {":type": s("N")}, {":type": s("S")}),
    (
        "(model = :a OR model = :b) AND NOT (n < :v)",
        None,
        {":a": s("Post"), ":b": s("Page"), ":v": n(1)},
        {":a": s("x"), ":b": s("Page"), ":v": n(1)},
    ),
    ("#m.#k = :v", {"#m": "meta", "#k": "kind"}, {":v": s("post")}, {":v": s("page")}),
    ("meta.kind = :v", None, {":v": s("post")}, {":v": s("page")}),
    ("tags[0] = :t", None, {":t": s("news")}, {":t": s("tech")}),
    ("tags = :l", None, {":l": {"L": [s("news"), s("tech")]}}, {":l": {"L": [s("news")]}}),
    ("meta = :m", None, {":m": {"M": {"kind": s("post")}}}, {":m": {"M": {"kind": s("page")}}}),
    ("ns = :ns", None, {":ns": {"NS": ["1", "2"]}}, {":ns": {"NS": ["2", "1"]}}),
    (
        "walk_step = :step AND #state = :selecting",
        {"#state": "state"},
        {":step": n(1), ":selecting": s("selecting")},
        {":step": n(2), ":selecting": s("selecting")},
    ),
    ("#s = :v", {"#s": "status"}, {":v": s("new")}, {":v": s("old")}),
    ("#s = :v", {"#s": "model"}, {":v": s("Post")}, {":v": s("old")}),
]
# Conditions moto refuses (each met twice: a refused text is never kept); the second, third and
# last are texts CONDITIONS has had parsed (kept): a value missing, no values, an empty value
REFUSED: list[tuple[str, dict[str, str] | None, dict[str, Any] | None]] = [
    ("n = :missing", None, {":v": n(1)}),
    ("n = :v AND model = :w", None, {":v": n(1)}),
    ("n = :v", None, None),
    ("#nope = :v", {"#x": "model"}, {":v": n(1)}),
    ("status = :v", None, {":v": s("new")}),  # a reserved word
    ("((n = :v))", None, {":v": n(5)}),
    ("n = = :v", None, {":v": n(5)}),
    ("contains(n)", None, {":v": n(5)}),
    ("n = :v AND", None, {":v": n(5)}),
    ("n ! :v", None, {":v": n(5)}),
    (":v.x = n", None, {":v": n(5)}),
    ("n = :v", None, {":v": {}}),
]


def expression_script() -> list[tuple[str, dict[str, Any]]]:
    steps: list[tuple[str, dict[str, Any]]] = [("CreateTable", create_table_request())]
    for job in ("j1", "j2"):
        steps.append(("PutItem", _put(f"JOB#{job}", "attribute_not_exists(pk)", None, None)))
    for _ in range(2):  # the second time, every first record is counted: the transaction is refused
        steps.append(("TransactWriteItems", _commit("j1", range(0, 6))))
    steps.append(("TransactWriteItems", _commit("j2", range(3, 9))))
    steps.append(("GetItem", {"TableName": TABLE, "Key": _key("tnA", "JOB#j1"), "ConsistentRead": True}))
    item = {
        **_key("tnA", "ITEM#1"),
        "model": s("Post"),
        "n": n(5),
        "tags": {"L": [s("news"), s("tech")]},
        "meta": {"M": {"kind": s("post")}},
        "ns": {"NS": ["1", "2"]},
        "payload": s("x" * 40),
        "walk_step": n(1),
        "state": s("selecting"),
        "status": s("new"),
    }
    for number, (condition, names, values, again) in enumerate(CONDITIONS):
        for round_values in (values, again):
            steps.append(("PutItem", {"TableName": TABLE, "Item": item}))
            update: dict[str, Any] = {
                "TableName": TABLE,
                "Key": _key("tnA", "ITEM#1"),
                "UpdateExpression": "SET touched = :touched",
                "ConditionExpression": condition,
                "ExpressionAttributeValues": {**(round_values or {}), ":touched": n(number)},
                "ReturnValues": "ALL_NEW",
            }
            if names is not None:
                update["ExpressionAttributeNames"] = names
            steps.append(("UpdateItem", update))
            steps.append(("PutItem", _put("ITEM#1", condition, names, round_values)))
            steps.append(
                (
                    "DeleteItem",
                    {
                        "TableName": TABLE,
                        "Key": _key("tnA", "ITEM#1"),
                        "ConditionExpression": condition,
                        **({"ExpressionAttributeNames": names} if names is not None else {}),
                        **({"ExpressionAttributeValues": round_values} if round_values is not None else {}),
                        "ReturnValues": "ALL_OLD",
                    },
                )
            )
    for condition, names, values in REFUSED * 2:
        steps.append(("PutItem", _put("ITEM#2", condition, names, values)))
    steps.append(
        (
            "TransactWriteItems",
            {"TransactItems": [{"Put": _put("ITEM#3", "n = :missing", None, {":v": n(1)})}]},
        )
    )
    return steps


@functools.cache
def unpatched_answers() -> list[tuple[int, bytes]]:
    """moto's answers to `expression_script()`, as released (the caller has uninstalled the
    layers)."""
    assert not dynamodb_expressions.installed()
    return run(expression_script())


def test_answers_are_unpatched_moto_s(unpatched_at_first: None) -> None:
    expected = unpatched_answers()
    dynamodb_expressions.install()
    answered = run(expression_script())

    bodies = b"\n".join(body for _, body in expected)
    assert b"TransactionCanceledException" in bodies  # the second commit was refused
    assert bodies.count(b"ConditionalCheckFailedException") > 20  # conditions passed and failed
    assert b'"Attributes"' in bodies
    assert b"reserved keyword" in bodies
    assert b"redundant parentheses" in bodies
    assert any(status == 500 for status, _ in expected)  # a missing value: moto's KeyError
    assert_same_answers(expected, answered)


def _shape(value: Any) -> Any:
    """A condition as plain data: its classes and their attributes, all the way down."""
    if isinstance(value, (list, tuple)):
        return [_shape(v) for v in value]
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if hasattr(value, "__dict__"):
        return (type(value).__name__, {k: _shape(v) for k, v in sorted(vars(value).items())})
    return value


ITEMS = [
    Item(
        DynamoType(s("tnA")),
        DynamoType(s("ITEM#1")),
        {
            "pk": s("tnA"),
            "sk": s("ITEM#1"),
            "model": s("Post"),
            "n": n(5),
            "tags": {"L": [s("news"), s("tech")]},
            "meta": {"M": {"kind": s("post")}},
            "status": s("new"),
            "counted": s("delivered"),
        },
    ),
    Item(DynamoType(s("tnA")), DynamoType(s("ITEM#2")), {"pk": s("tnA"), "sk": s("ITEM#2"), "n": n(0)}),
]


def _parse(condition: str, names: Any, values: Any) -> Any:
    """What a parse gives: the condition (as data, and evaluated on ITEMS), the names and values
    it records, or what it raises."""
    parser = ConditionExpressionParser(condition, names, values)
    try:
        op = parser.parse()
    except Exception as error:  # moto's own, compared
        return ("raised", type(error).__name__, str(error), parser.expr_attr_names_found)
    evaluated = []
    for item in ITEMS:
        try:
            evaluated.append(op.expr(item))
        except Exception as error:  # moto's own, compared
            evaluated.append((type(error).__name__, str(error)))
    return (_shape(op), evaluated, parser.expr_attr_names_found, parser.expr_attr_values_found)


CASES = [
    (FIRST_RECORD, {"#s": "status", "#c": "counted"}, TERMINAL),
    (NOT_TERMINAL, {"#s": "status"}, {**TERMINAL, ":failed": s("new")}),
    *[(c, names, v) for c, names, values, again in CONDITIONS for v in (values, again)],
    *REFUSED,
]


def test_parses_are_moto_s_from_the_first_and_from_a_kept_tree(unpatched_at_first: None) -> None:
    expected = [_parse(*case) for case in CASES]
    dynamodb_expressions.install()
    first = [_parse(*case) for case in CASES]
    kept = [_parse(*case) for case in CASES]  # every accepted text is kept by now

    assert sum(1 for e in expected if e[0] == "raised") >= len(REFUSED)
    for number, want in enumerate(expected):
        assert first[number] == want, f"case {number} {CASES[number][0]!r} differs on its first parse"
        assert kept[number] == want, f"case {number} {CASES[number][0]!r} differs from its kept tree"


def test_a_kept_tree_takes_the_request_s_values_and_shares_nothing(
    unpatched_at_first: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    dynamodb_expressions.install()
    walked = 0
    parse_paths = ConditionExpressionParser._parse_paths

    def counting(self: ConditionExpressionParser, nodes: Any) -> Any:
        nonlocal walked
        walked += 1
        return parse_paths(self, nodes)

    monkeypatch.setattr(ConditionExpressionParser, "_parse_paths", counting)
    condition = "#t = :l AND n IN (:a, :b)"
    names = {"#t": "tags"}
    first_list = {"L": [s("news"), s("tech")]}
    second_list = {"L": [s("tech")]}

    first = ConditionExpressionParser(condition, names, {":l": first_list, ":a": n(1), ":b": n(5)}).parse()
    second = ConditionExpressionParser(
        condition, dict(names), {":l": second_list, ":a": n(2), ":b": n(3)}
    ).parse()

    assert walked == 1  # the second parse took the kept tree
    assert first.lhs.rhs.value is first_list["L"]
    assert second.lhs.rhs.value is second_list["L"]  # the request's own value, not the first's
    assert [v.value for v in second.rhs.arguments[1:]] == ["2", "3"]
    assert second is not first
    assert second.lhs is not first.lhs
    assert second.rhs is not first.rhs
    assert (first.expr(ITEMS[0]), second.expr(ITEMS[0])) == (True, False)


def test_a_refused_text_is_not_kept(unpatched_at_first: None) -> None:
    dynamodb_expressions.install()

    for _ in range(2):
        with pytest.raises(KeyError):
            ConditionExpressionParser("n = :missing", None, {":v": n(1)}).parse()
        with pytest.raises(ValueError, match="Bad comparison"):
            ConditionExpressionParser("n = = :v", None, {":v": n(1)}).parse()

    assert ("n = = :v", None) not in dynamodb_expressions._trees
    assert ("n = :missing", None) not in dynamodb_expressions._trees
    assert "n = :missing" in dynamodb_expressions._tokens  # it lexed: its tokens are kept
    assert "n = = :v" in dynamodb_expressions._tokens
