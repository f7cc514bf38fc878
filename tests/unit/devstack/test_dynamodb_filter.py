"""devstack.dynamodb_filter: FilterExpressions evaluated over cached casts answer what moto does.

Every filter shape `ItemFilter.compiled()` writes (each field and operator, an `in` of more than
100 values, several terms at once) and the shapes moto's evaluation treats specially (`contains`
on lists, string sets, number sets and strings, numbers written in many forms, attributes that are
missing, of another type than the value, or not projected by the index, NOT, `<>`, BETWEEN,
`begins_with`, `attribute_exists`, and shapes left to moto: nested paths, `size()`) run as Queries
of the items index, COUNT and not, page by page, through moto unpatched and patched, with writes
between the rounds that change filtered attributes without moving the items' keys; every answer is
compared as bytes. A cast cache that a write does not drop is caught.
"""

from __future__ import annotations

import functools
import random
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer

from devstack import dynamodb_filter, dynamodb_index
from tests.unit.devstack.compare import assert_same_answers
from tests.unit.devstack.test_dynamodb_index import (  # noqa: F401 (a fixture)
    TABLE,
    create_table_request,
    run,
    s,
    unpatched_then_patched,
)
from webhook_resend.resends.filters import parse_item_filter

TENANT = "tnF"
_serialize = TypeSerializer().serialize
# Numbers as DynamoDB may hold them: the same value written differently, and different values.
NUMBERS = ["7", "7.0", "07", "7e0", "70E-1", "1e2", "100", "100.00", "-3", "0", "0.000", "1.5"]


def n(value: str) -> dict[str, str]:
    return {"N": value}


def text_or_other(rng: random.Random, choices: list[str]) -> dict[str, Any] | None:
    """A string attribute as items should hold it, or missing, or of another type."""
    roll = rng.random()
    if roll < 0.15:
        return None
    if roll < 0.25:
        return rng.choice(
            [n(rng.choice(NUMBERS)), {"L": [s(rng.choice(choices))]}, {"NULL": True}, {"BOOL": False}]
        )
    return s(rng.choice(choices))


def list_or_other(rng: random.Random, choices: list[str]) -> dict[str, Any] | None:
    """A list attribute (tags, locales) as a list of strings, or a string set, a number set, a
    lone string, a list with numbers and maps in it, empty, missing."""
    picked = rng.sample(choices, rng.randint(1, len(choices)))
    roll = rng.randint(0, 9)
    if roll == 0:
        return None
    if roll == 1:
        return {"SS": picked}
    if roll == 2:
        return {"NS": rng.sample(["1", "7", "100", "1.5"], 2)}
    if roll == 3:
        return s(",".join(picked))  # a lone string: contains() looks for a substring
    if roll == 4:
        return {"L": [*map(s, picked), n(rng.choice(NUMBERS)), {"M": {"k": s("news")}}]}
    if roll == 5:
        return {"L": []}
    return {"L": [s(v) for v in picked]}


def item(rng: random.Random, number: int) -> dict[str, Any]:
    created = f"2026-0{rng.randint(1, 3)}-{rng.randint(10, 28)}T00:00:00Z"
    key = f"{number:05d}"
    attrs: dict[str, Any] = {
        "pk": s(TENANT),
        "sk": s(f"ITEM#{key}"),
        "gsi1pk": s(f"{TENANT}#ITEMS"),
        "gsi1sk": s(f"{created}#{key}"),
        "id": s(f"00000000-0000-4000-8000-{number:012d}"),
        "created_on": s(created),
        "n": n(rng.choice(NUMBERS)),  # not projected to the items index
    }
    optional = {
        "model": text_or_other(rng, ["Post", "Page", "post"]),
        "workflow_stage": text_or_other(rng, ["Done", "Draft", "Review"]),
        "tags": list_or_other(rng, ["news", "sport", "tech", "new"]),
        "locales": list_or_other(rng, ["nl-NL", "en-GB", "en"]),
        # Ordered comparisons of values of different types raise in moto (a 500): times are
        # strings, null or missing; publish_on holds the numbers the number shapes compare.
        "changed_on": rng.choice(
            [None, {"NULL": True}, *(s(f"2026-02-{d}T00:00:00Z") for d in (10, 15, 20))]
        ),
        "publish_on": rng.choice([None, {"NULL": True}, n(rng.choice(NUMBERS)), n(rng.choice(NUMBERS))]),
    }
    attrs.update({name: value for name, value in optional.items() if value is not None})
    return attrs


ITEM_FILTERS: list[dict[str, Any]] = [
    {"model": {"eq": "Post"}},
    {"model": {"in": ["Post", "Page"]}},
    {"workflow_stage": {"eq": "Done"}},
    {"workflow_stage": {"in": ["Draft", "Review"]}},
    {"id": {"eq": "00000000-0000-4000-8000-000000000003"}},
    {"id": {"in": [f"00000000-0000-4000-8000-{k:012d}" for k in range(0, 30, 4)]}},
    {"tags": {"eq": "news"}},
    {"tags": {"in": ["news", "tech"]}},
    {"locales": {"eq": "en"}},
    {"locales": {"in": ["nl-NL", "en-GB"]}},
    {"changed_on": {"gt": "2026-02-10T00:00:00Z"}},
    {"changed_on": {"gte": "2026-02-15T00:00:00Z"}},
    {"changed_on": {"lt": "2026-02-15T00:00:00Z"}},
    {"changed_on": {"lte": "2026-02-15T00:00:00Z"}},
    {"changed_on": [{"gt": "2026-02-10T00:00:00Z"}, {"lte": "2026-02-20T00:00:00Z"}]},
    # An `in` of more than DynamoDB's 100 operands: IN groups joined by OR.
    {"model": {"in": ["Post", *[f"Model{k:03d}" for k in range(150)]]}},
    {"tags": {"in": ["sport", *[f"tag{k:03d}" for k in range(30)]]}},
    {
        "model": {"in": ["Post", "Page"]},
        "tags": {"eq": "news"},
        "locales": {"in": ["en", "nl-NL"]},
        "workflow_stage": {"eq": "Done"},
        "changed_on": {"gte": "2026-02-15T00:00:00Z"},
        "created_on": {"gte": "2026-02-01T00:00:00Z"},
    },
]

# Shapes the project's filters do not write, but moto's evaluation distinguishes.
OTHER_FILTERS: list[tuple[str, dict[str, Any]]] = [
    ("contains(tags, :v)", {":v": n("7")}),  # a number in lists and number sets
    ("contains(locales, :v)", {":v": s("n")}),  # a substring of lone strings only
    ("contains(model, :v)", {":v": s("os")}),
    ("contains(tags, :v)", {":v": {"L": [s("news")]}}),
    ("contains(tags, :v)", {":v": {"SS": ["news"]}}),  # unhashable in a set: False
    ("n = :v", {":v": n("7.00")}),  # not projected: missing in every entry
    ("publish_on = :v", {":v": n("100")}),
    ("publish_on IN (:a, :b, :c)", {":a": n("7"), ":b": n("1E2"), ":c": s("x")}),
    ("publish_on BETWEEN :a AND :b", {":a": n("0"), ":b": n("8")}),
    ("publish_on >= :v", {":v": n("7")}),
    ("publish_on > :v", {":v": s("2026")}),  # a number against a string: moto raises (a 500)
    ("publish_on <> :v", {":v": n("7")}),
    ("NOT (model = :v)", {":v": s("Post")}),
    ("begins_with(model, :v)", {":v": s("P")}),
    ("attribute_exists(locales) AND attribute_not_exists(tags)", {}),
    (
        "model = :a OR (workflow_stage <> :b AND contains(tags, :c))",
        {":a": s("Page"), ":b": s("Done"), ":c": s("tech")},
    ),
    ("locales[0] = :v", {":v": s("en")}),  # a nested path: moto's own evaluation
    ("size(tags) > :v", {":v": n("1")}),  # size(): moto's own evaluation
]


def filter_queries(rng: random.Random) -> list[dict[str, Any]]:
    filters: list[tuple[str, dict[str, str], dict[str, Any]]] = []
    for params in ITEM_FILTERS:
        condition = parse_item_filter(params).compiled().condition
        assert condition is not None
        values = {name: _serialize(value) for name, value in condition.values.items()}
        filters.append((condition.expression, dict(condition.names), values))
    filters += [(expression, {}, values) for expression, values in OTHER_FILTERS]
    requests = []
    for expression, names, values in filters:
        request: dict[str, Any] = {
            "TableName": TABLE,
            "IndexName": "items_by_created",
            "KeyConditionExpression": "gsi1pk = :pk",
            "ExpressionAttributeValues": {":pk": s(f"{TENANT}#ITEMS"), **values},
            "FilterExpression": expression,
        }
        if names:
            request["ExpressionAttributeNames"] = names
        requests.append({**request, "Select": "COUNT", "Limit": rng.choice([8, 40])})
        requests.append({**request, "Limit": rng.choice([8, 40]), "ScanIndexForward": rng.random() < 0.5})
    # The base table (its own casts, every attribute there): the same filter on the full items.
    requests.append(
        {
            "TableName": TABLE,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": s(TENANT), ":v": n("7"), ":t": s("news")},
            "FilterExpression": "n = :v OR contains(tags, :t)",
            "Limit": 9,
        }
    )
    return requests


def rewrites(rng: random.Random, count: int) -> list[tuple[str, dict[str, Any]]]:
    """Writes that change filtered attributes and leave every key (and index entry) in place."""
    steps: list[tuple[str, dict[str, Any]]] = []
    for number in rng.sample(range(count), 8):
        key = {"pk": s(TENANT), "sk": s(f"ITEM#{number:05d}")}
        steps.append(
            (
                "UpdateItem",
                {
                    "TableName": TABLE,
                    "Key": key,
                    "UpdateExpression": "SET model = :m, tags = :t, publish_on = :p, n = :n",
                    "ExpressionAttributeValues": {
                        ":m": s(rng.choice(["Post", "Page", "Changed"])),
                        ":t": {"L": [s("news"), s("tech")]} if rng.random() < 0.5 else {"SS": ["sport"]},
                        ":p": n(rng.choice(NUMBERS)),
                        ":n": n(rng.choice(NUMBERS)),
                    },
                },
            )
        )
    for number in rng.sample(range(count), 3):
        replacement = item(rng, number)
        replacement["tags"] = {"L": [s("news")]}
        steps.append(("PutItem", {"TableName": TABLE, "Item": replacement}))
    number = rng.randrange(count)
    steps.append(
        (
            "UpdateItem",
            {
                "TableName": TABLE,
                "Key": {"pk": s(TENANT), "sk": s(f"ITEM#{number:05d}")},
                "UpdateExpression": "REMOVE tags, model",
            },
        )
    )
    return steps


def filter_script(seed: int, count: int = 30) -> list[tuple[str, dict[str, Any]]]:
    rng = random.Random(seed)
    steps: list[tuple[str, dict[str, Any]]] = [("CreateTable", create_table_request())]
    rows = [item(rng, k) for k in range(count)]
    for start in range(0, count, 25):
        batch = [{"PutRequest": {"Item": row}} for row in rows[start : start + 25]]
        steps.append(("BatchWriteItem", {"RequestItems": {TABLE: batch}}))
    steps.extend(("Query", q) for q in filter_queries(rng))
    steps.extend(rewrites(rng, count))
    steps.extend(("Query", q) for q in filter_queries(rng))
    return steps


@functools.cache
def unpatched_answers(seed: int) -> list[tuple[int, bytes]]:
    """moto's answers to `filter_script(seed)`, as released (the caller has uninstalled the layer)."""
    assert not dynamodb_index.installed()
    return run(filter_script(seed))


def test_filters_answer_unpatched_moto_s_bytes(unpatched_then_patched: None) -> None:  # noqa: F811
    expected = unpatched_answers(seed=7)
    dynamodb_index.install()
    answered = run(filter_script(seed=7))

    assert sum(1 for _, body in expected if b'"ScannedCount"' in body) > 150
    assert any(status == 500 for status, _ in expected)  # the number compared with a string
    counts = [body for _, body in expected if b'"Count"' in body and b'"Items"' not in body]
    assert any(b'"Count": 0' not in body for body in counts)  # COUNT pages that found something
    assert_same_answers(expected, answered)


def test_filter_evaluator_compiles_the_project_s_shapes() -> None:
    """The shapes above really take the cached path (not moto's), except the two left to moto."""
    from moto.dynamodb.comparisons import get_filter_expression

    compiled, left = [], []
    for params in ITEM_FILTERS:
        condition = parse_item_filter(params).compiled().condition
        assert condition is not None
        values = {name: _serialize(value) for name, value in condition.values.items()}
        parsed = get_filter_expression(condition.expression, dict(condition.names), values)
        compiled.append(dynamodb_filter.compile_filter(parsed) is not None)
    for expression, values in OTHER_FILTERS:
        parsed = get_filter_expression(expression, {}, values)
        if dynamodb_filter.compile_filter(parsed) is None:
            left.append(expression)

    assert all(compiled)
    assert left == ["locales[0] = :v", "size(tags) > :v"]


def test_a_cast_cache_a_write_does_not_drop_is_caught(
    unpatched_then_patched: None,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The comparison above fails if a write leaves an item's cached casts in place."""
    expected = unpatched_answers(seed=7)

    def stale(self: Any, item: Any) -> None:
        self.item = item
        self.size = item.size()
        self.projections = {}  # the projection is dropped, the casts are not

    monkeypatch.setattr(dynamodb_index._Record, "written", stale)
    dynamodb_index.install()
    answered = run(filter_script(seed=7))

    assert len(answered) == len(expected)
    assert any(got != want for want, got in zip(expected, answered, strict=True))
