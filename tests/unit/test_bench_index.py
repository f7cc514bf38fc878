"""bench/ddb_index.py, the front that answers the items index's Queries for the selection
benchmark: it must evaluate what the product sends as DynamoDB would, and refuse the rest."""

from __future__ import annotations

from typing import Any

import pytest

from bench.ddb_index import INDEX, UnsupportedError, _Index, compile_filter
from webhook_resend.aws import keys
from webhook_resend.aws.dynamodb import from_attrs, to_attrs
from webhook_resend.resends.filters import parse_item_filter

TENANT = "tn1"


def _entry(n: int) -> dict[str, Any]:
    created = f"2024-01-01T00:00:{n:02d}.000Z"
    item_id = f"00000000-0000-0000-0000-{n:012d}"
    return to_attrs(
        {
            **keys.item(TENANT, item_id),
            "gsi1pk": keys.items_index_pk(TENANT),
            "gsi1sk": keys.items_index_sk(created, item_id),
            "id": item_id,
            "model": "Post" if n % 2 else "Page",
            "tags": ["news", f"t{n % 3}"],
            "created_on": created,
            "changed_on": created,
        }
    )


def _query(index: _Index, **extra: Any) -> dict[str, Any]:
    request = {
        "TableName": "t",
        "IndexName": INDEX,
        "KeyConditionExpression": "gsi1pk = :pk",
        "ExpressionAttributeValues": {":pk": {"S": keys.items_index_pk(TENANT)}, **extra.pop("values", {})},
        **extra,
    }
    return index.query(request)


def test_bench_index_filter_agrees_with_the_products_filter_semantics() -> None:
    entries = [_entry(n) for n in range(30)]
    wanted = parse_item_filter(
        {
            "model": {"in": ["Post", "Other"]},
            "tags": [{"in": ["t1", "t2"]}],
            "changed_on": {"gte": "2024-01-01T00:00:10Z"},
        }
    )
    condition = wanted.compiled().condition
    assert condition is not None
    keeps = compile_filter(condition.expression, dict(condition.names), to_attrs(dict(condition.values)))

    chosen = [e["id"]["S"] for e in entries if keeps(e)]
    expected = [from_attrs(e)["id"] for e in entries if wanted.matches(from_attrs(e))]
    assert chosen == expected
    assert 0 < len(chosen) < len(entries)


def test_bench_index_pages_by_limit_with_a_last_key_and_counts() -> None:
    index = _Index()
    index.load([_entry(n) for n in reversed(range(25))])
    first = _query(index, Limit=10, ProjectionExpression="#i", ExpressionAttributeNames={"#i": "id"})
    rest = _query(index, ExclusiveStartKey=first["LastEvaluatedKey"])
    counted = _query(
        index,
        Select="COUNT",
        FilterExpression="contains(#t, :t)",
        ExpressionAttributeNames={"#t": "tags"},
        values={":t": {"S": "t0"}},
    )

    assert [e["id"]["S"][-2:] for e in first["Items"]] == [f"{n:02d}" for n in range(10)]
    assert all(set(e) == {"id"} for e in first["Items"])
    assert (first["Count"], first["ScannedCount"]) == (10, 10)
    assert [e["id"]["S"][-2:] for e in rest["Items"]] == [f"{n:02d}" for n in range(10, 25)]
    assert "LastEvaluatedKey" not in rest
    assert (counted["Count"], counted["ScannedCount"], "Items" in counted) == (9, 25, False)


def test_bench_index_refuses_what_it_does_not_evaluate() -> None:
    index = _Index()
    index.load([_entry(1)])
    with pytest.raises(UnsupportedError):
        _query(
            index,
            FilterExpression="begins_with(#m, :m)",
            ExpressionAttributeNames={"#m": "model"},
            values={":m": {"S": "P"}},
        )
    with pytest.raises(UnsupportedError):
        _query(index, ScanIndexForward=False)
