"""devstack.dynamodb_index answers exactly what unpatched moto answers, byte for byte.

The same script of requests (the project's request shapes, from aws/dynamodb.py,
resends/selections.py and catalog/content_items.py: every index of template.yaml's DataTable, key
conditions `=`, `<`, `<=`, `>`, `>=`, BETWEEN and begins_with, Limit with and without a
FilterExpression, ScanIndexForward false, ExclusiveStartKey page after page, ProjectionExpression,
Select COUNT, ReturnConsumedCapacity) runs through moto's HTTP application twice, unpatched and
patched, with writes between the reads that move items in and out of indexes (PutItem over an
item, UpdateItem setting and removing index keys, DeleteItem, BatchWriteItem, transactions that
succeed and transactions cancelled after some of their writes); every answer is compared as bytes.
"""

from __future__ import annotations

import functools
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from moto.backends import get_backend
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.test import Client

from devstack import dynamodb_index
from devstack.cfn import load_template
from devstack.lambdas import PROJECT_ROOT
from tests.unit.devstack.compare import assert_same_answers

TABLE = "data"
TENANTS = ["tnA", "tnB"]
AUTH = (
    "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, "
    "SignedHeaders=host;x-amz-date;x-amz-target, Signature=0"
)


def create_table_request() -> dict[str, Any]:
    """template.yaml's DataTable, as CreateTable (its keys, indexes and projections)."""
    props = load_template(PROJECT_ROOT / "template.yaml")["Resources"]["DataTable"]["Properties"]
    return {
        "TableName": TABLE,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": props["AttributeDefinitions"],
        "KeySchema": props["KeySchema"],
        "GlobalSecondaryIndexes": props["GlobalSecondaryIndexes"],
    }


def s(value: str) -> dict[str, str]:
    return {"S": value}


def item(rng: random.Random, tenant: str, n: int) -> dict[str, Any]:
    """A content item, job, delivery record or parked pair, with the index keys of its kind."""
    kind = rng.choice(["ITEM", "ITEM", "JOB", "REC", "PARK"])
    key = f"{n:05d}"
    attrs: dict[str, Any] = {
        "pk": s(f"{tenant}"),
        "sk": s(f"{kind}#{key}"),
        "n": {"N": str(rng.randint(0, 9))},
    }
    if kind == "ITEM":
        created = f"2026-0{rng.randint(1, 3)}-{rng.randint(10, 28)}"
        attrs.update(
            gsi1pk=s(f"{tenant}#ITEMS"),
            gsi1sk=s(f"{created}#{key}"),
            id=s(key),
            model=s(rng.choice(["Post", "Page"])),
            tags={"L": [s(t) for t in rng.sample(["news", "sport", "tech"], rng.randint(0, 2))]},
            created_on=s(created),
            payload=s("x" * rng.randint(0, 200)),
        )
        # Numbers and other types among the index's INCLUDE attributes: some written the way
        # Decimal writes them (projected as they are), some not ("1e2", "007": moto's projection
        # rewrites them), a string set (reordered), a list and a map holding numbers.
        extra = rng.randint(0, 3)
        if extra == 1:
            attrs["publish_on"] = {"N": rng.choice(["7", "1.50", "-3", "1e2", "007", "0.000"])}
        elif extra == 2:
            attrs["locales"] = {
                "L": [s("nl"), {"N": rng.choice(["2", "2.0", "1E1"])}, {"M": {"k": {"N": "5"}}}]
            }
        elif extra == 3:
            attrs["workflow_stage"] = {"SS": ["done", "draft", "review"]}
    elif kind == "JOB":
        attrs.update(gsi5pk=s(f"{tenant}#JOBS"), gsi5sk=s(f"2026-01-{rng.randint(10, 28)}#{key}"))
        attrs["status"] = s(rng.choice(["running", "completed"]))
    elif kind == "REC":
        status = rng.choice(["delivered", "failed", "retrying"])
        attrs.update(gsi2pk=s(f"{tenant}#JOB#{rng.randint(0, 2)}"), gsi2sk=s(f"{status}#{key}"))
        if status == "failed":
            attrs.update(gsi3pk=s(f"{tenant}#FAILED"), gsi3sk=s(f"2026-01-{rng.randint(10, 28)}#{key}"))
            attrs.update(job_id=s("j"), kind=s("item"), subject_id=s(key), webhook_id=s("w"), event=s("e"))
    else:
        attrs.update(
            gsi4pk=s(f"PARKED#{rng.randint(0, 1)}"),
            gsi4sk=s(f"2026-01-{rng.randint(10, 28)}#{tenant}#{key}"),
            message=s("m"),
            due_on=s("d"),
        )
    return attrs


def queries(rng: random.Random, tenant: str) -> Iterator[dict[str, Any]]:
    """One of each request shape, with random bounds and page sizes."""
    day = f"2026-0{rng.randint(1, 3)}-{rng.randint(10, 28)}"
    limit = rng.choice([2, 3, 7, 25])
    yield {"KeyConditionExpression": "pk = :pk", "ExpressionAttributeValues": {":pk": s(tenant)}}
    yield {
        "KeyConditionExpression": "pk = :pk",
        "ExpressionAttributeValues": {":pk": s(tenant)},
        "ScanIndexForward": False,
        "Limit": limit,
    }
    for prefix in ("REC#", "ITEM#0", "JOB#", "Z", ""):
        yield {
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :p)",
            "ExpressionAttributeValues": {":pk": s(tenant), ":p": s(prefix)},
            "Limit": limit,
            "ReturnConsumedCapacity": "TOTAL",
        }
    for op in ("<", "<=", ">", ">=", "="):
        yield {
            "KeyConditionExpression": f"pk = :pk AND sk {op} :b",
            "ExpressionAttributeValues": {":pk": s(tenant), ":b": s(f"ITEM#{rng.randint(0, 90):05d}")},
            "Limit": limit,
            "ScanIndexForward": rng.choice([True, False]),
        }
    yield {
        "KeyConditionExpression": "pk = :pk AND sk BETWEEN :a AND :b",
        "ExpressionAttributeValues": {":pk": s(tenant), ":a": s("ITEM#00040"), ":b": s("REC#00090")},
        "Limit": limit,
    }
    # Content items by filter (catalog/content_items.py, resends/selections.py).
    yield {
        "IndexName": "items_by_created",
        "KeyConditionExpression": "gsi1pk = :pk",
        "ExpressionAttributeValues": {":pk": s(f"{tenant}#ITEMS"), ":t": s("news")},
        "FilterExpression": "contains(tags, :t)",
        "Limit": limit,
        "ProjectionExpression": "id, created_on, n, tags",
    }
    yield {
        "IndexName": "items_by_created",
        "KeyConditionExpression": "gsi1pk = :pk AND gsi1sk > :since",
        "ExpressionAttributeValues": {":pk": s(f"{tenant}#ITEMS"), ":since": s(day), ":m": s("Post")},
        "FilterExpression": "model = :m",
        "ReturnConsumedCapacity": "INDEXES",
    }
    yield {
        "IndexName": "items_by_created",
        "KeyConditionExpression": "gsi1pk = :pk",
        "ExpressionAttributeValues": {":pk": s(f"{tenant}#ITEMS")},
        "Select": "COUNT",
        "Limit": limit,
    }
    # The list's total: COUNT with a filter, page after page (Limit, then each ExclusiveStartKey),
    # and a filter on an attribute the index does not project (moto filters the projection).
    yield {
        "IndexName": "items_by_created",
        "KeyConditionExpression": "gsi1pk = :pk",
        "ExpressionAttributeValues": {":pk": s(f"{tenant}#ITEMS"), ":t": s(rng.choice(["news", "tech"]))},
        "FilterExpression": "contains(tags, :t)",
        "Select": "COUNT",
        "Limit": limit,
    }
    yield {
        "IndexName": "items_by_created",
        "KeyConditionExpression": "gsi1pk = :pk AND gsi1sk >= :since",
        "ExpressionAttributeValues": {":pk": s(f"{tenant}#ITEMS"), ":since": s(day), ":z": {"N": "0"}},
        "FilterExpression": "n >= :z OR attribute_exists(publish_on)",
        "Select": "COUNT",
    }
    # The index's projection (keys and INCLUDE attributes, numbers among them) unfiltered, both ways.
    yield {
        "IndexName": "items_by_created",
        "KeyConditionExpression": "gsi1pk = :pk",
        "ExpressionAttributeValues": {":pk": s(f"{tenant}#ITEMS")},
        "ScanIndexForward": rng.choice([True, False]),
        "Limit": limit,
    }
    yield {
        "IndexName": "items_by_created",
        "KeyConditionExpression": "gsi1pk = :pk",
        "ExpressionAttributeValues": {":pk": s(f"{tenant}#ITEMS"), ":v": {"N": "100"}},
        "FilterExpression": "publish_on = :v",
        "ProjectionExpression": "id, publish_on, locales",
    }
    yield {
        "IndexName": "deliveries_by_job",
        "KeyConditionExpression": "gsi2pk = :pk AND begins_with(gsi2sk, :st)",
        "ExpressionAttributeValues": {":pk": s(f"{tenant}#JOB#{rng.randint(0, 2)}"), ":st": s("failed#")},
        "Limit": limit,
    }
    yield {
        "IndexName": "failed_deliveries",
        "KeyConditionExpression": "gsi3pk = :pk AND gsi3sk >= :since",
        "ExpressionAttributeValues": {":pk": s(f"{tenant}#FAILED"), ":since": s(day), ":k": s("item")},
        "FilterExpression": "kind = :k",
        "Limit": limit,
    }
    yield {
        "IndexName": "parked_by_due",
        "KeyConditionExpression": "gsi4pk = :pk AND gsi4sk < :bound",
        "ExpressionAttributeValues": {":pk": s(f"PARKED#{rng.randint(0, 1)}"), ":bound": s(day)},
        "Limit": limit,
    }
    yield {
        "IndexName": "jobs_by_tenant",
        "KeyConditionExpression": "gsi5pk = :pk",
        "ExpressionAttributeValues": {":pk": s(f"{tenant}#JOBS"), ":st": s("running")},
        "FilterExpression": "#s = :st",
        "ExpressionAttributeNames": {"#s": "status"},
        "ScanIndexForward": False,
        "Limit": limit,
    }


def fixed_item(tenant: str, n: int) -> dict[str, Any]:
    """A content item at the same keys every time, its projected attributes different."""
    return {
        "pk": s(tenant),
        "sk": s("ITEM#00001"),
        "gsi1pk": s(f"{tenant}#ITEMS"),
        "gsi1sk": s("2026-01-01#00001"),
        "id": s("00001"),
        "tags": {"L": [s("news"), s(f"put{n}")]},
        "publish_on": {"N": str(n)},
    }


def writes(
    rng: random.Random, counter: Iterator[int], indexed: dict[str, list[dict[str, str]]]
) -> Iterator[tuple[str, dict[str, Any]]]:
    """`indexed`: the sort keys of each tenant's content items as loaded."""
    tenant = rng.choice(TENANTS)
    n = rng.randint(0, 90)
    key = {"pk": s(tenant), "sk": s(f"ITEM#{n:05d}")}
    yield "PutItem", {"TableName": TABLE, "Item": item(rng, tenant, n)}
    yield (
        "UpdateItem",
        {
            "TableName": TABLE,
            "Key": key,
            "UpdateExpression": "SET gsi1pk = :p, gsi1sk = :s ADD n :one",
            "ExpressionAttributeValues": {
                ":p": s(f"{tenant}#ITEMS"),
                ":s": s("2026-02-15#x"),
                ":one": {"N": "1"},
            },
        },
    )
    # Writes that change an item's projected attributes and not its keys (a cached projection
    # must not outlive them): an update, and a put over an item with the same keys.
    yield (
        "UpdateItem",
        {
            "TableName": TABLE,
            "Key": {"pk": s(tenant), "sk": rng.choice(indexed[tenant])},
            "UpdateExpression": "SET model = :m, publish_on = :p, tags = :t",
            "ExpressionAttributeValues": {":m": s("Changed"), ":p": {"N": "1e2"}, ":t": {"L": [s("news")]}},
        },
    )
    yield "PutItem", {"TableName": TABLE, "Item": fixed_item(tenant, next(counter))}
    yield (
        "UpdateItem",
        {
            "TableName": TABLE,
            "Key": {"pk": s(tenant), "sk": s(f"REC#{rng.randint(0, 90):05d}")},
            "UpdateExpression": "REMOVE gsi2pk",
        },
    )
    yield (
        "DeleteItem",
        {"TableName": TABLE, "Key": {"pk": s(tenant), "sk": s(f"JOB#{rng.randint(0, 90):05d}")}},
    )
    yield (
        "BatchWriteItem",
        {
            "RequestItems": {
                TABLE: [
                    {"PutRequest": {"Item": item(rng, rng.choice(TENANTS), 200 + next(counter))}},
                    {"DeleteRequest": {"Key": {"pk": s(tenant), "sk": s(f"PARK#{rng.randint(0, 90):05d}")}}},
                ]
            }
        },
    )
    # A transaction that succeeds, and one cancelled by its last condition after two writes.
    for fail in (False, True):
        new = item(rng, tenant, 300 + next(counter))
        yield (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Put": {"TableName": TABLE, "Item": new}},
                    {
                        "Update": {
                            "TableName": TABLE,
                            "Key": {"pk": s(tenant), "sk": s(f"ITEM#{rng.randint(0, 90):05d}")},
                            "UpdateExpression": "SET gsi1sk = :s",
                            "ExpressionAttributeValues": {":s": s("2026-01-01#moved")},
                        }
                    },
                    {
                        "Delete": {
                            "TableName": TABLE,
                            "Key": {"pk": s(tenant), "sk": s(f"REC#{rng.randint(0, 90):05d}")},
                        }
                    },
                    {
                        "ConditionCheck": {
                            "TableName": TABLE,
                            "Key": key,
                            "ConditionExpression": "attribute_not_exists(pk)"
                            if fail
                            else "attribute_exists(pk) OR attribute_not_exists(pk)",
                        }
                    },
                ]
            },
        )


def script(seed: int) -> list[tuple[str, dict[str, Any]]]:
    """The requests, without their pagination (which follows each answer's LastEvaluatedKey)."""
    rng = random.Random(seed)
    steps: list[tuple[str, dict[str, Any]]] = [("CreateTable", create_table_request())]
    counter = iter(range(10**6))
    indexed: dict[str, list[dict[str, str]]] = {}
    for tenant in TENANTS:
        rows = [item(rng, tenant, n) for n in range(80)]
        indexed[tenant] = [row["sk"] for row in rows if "gsi1pk" in row]
        rows.append(fixed_item(tenant, next(counter)))
        for start in range(0, len(rows), 25):
            batch = [{"PutRequest": {"Item": row}} for row in rows[start : start + 25]]
            steps.append(("BatchWriteItem", {"RequestItems": {TABLE: batch}}))
    for _ in range(2):
        for tenant in TENANTS:
            steps.extend(("Query", {"TableName": TABLE, **q}) for q in queries(rng, tenant))
        steps.extend(writes(rng, counter, indexed))
    return steps


def post(client: Client, target: str, body: dict[str, Any]) -> Any:
    """One DynamoDB call to moto's HTTP application, as botocore sends it."""
    return client.post(
        "/",
        data=json.dumps(body),
        headers={
            "X-Amz-Target": f"DynamoDB_20120810.{target}",
            "Content-Type": "application/x-amz-json-1.0",
            "Authorization": AUTH,
            "Host": "dynamodb.us-east-1.amazonaws.com",
        },
    )


def run(steps: list[tuple[str, dict[str, Any]]]) -> list[tuple[int, bytes]]:
    """Every step through moto's HTTP application on a fresh backend; each Query's pages in turn."""
    get_backend("dynamodb").reset()
    client = Client(DomainDispatcherApplication(create_backend_app))
    answers: list[tuple[int, bytes]] = []

    def call(target: str, body: dict[str, Any]) -> bytes:
        try:
            response = post(client, target, body)
        except Exception as error:  # moto's server answers it 500; compare what was raised
            answers.append((500, repr(error).encode()))
            return b"{}"
        answers.append((response.status_code, response.get_data()))
        return response.get_data()

    for target, body in steps:
        answer = call(target, body)
        if target == "CreateTable":
            answers.pop()  # it holds its creation time
        pages = 0
        while target == "Query" and pages < 12:
            start = json.loads(answer).get("LastEvaluatedKey")
            if start is None:
                break
            answer = call(target, {**body, "ExclusiveStartKey": start})
            pages += 1
    get_backend("dynamodb").reset()
    return answers


@pytest.fixture
def unpatched_then_patched() -> Iterator[None]:
    """moto unpatched at the start; as it was (patched if a local stack ran here) at the end."""
    was_installed = dynamodb_index.installed()
    dynamodb_index.uninstall()
    try:
        yield
    finally:
        if was_installed:
            dynamodb_index.install()
        else:
            dynamodb_index.uninstall()


@functools.cache
def unpatched_answers(seed: int) -> list[tuple[int, bytes]]:
    """moto's answers to `script(seed)`, as released (the caller has uninstalled the layers)."""
    assert not dynamodb_index.installed()
    return run(script(seed))


def test_answers_are_unpatched_moto_s_byte_for_byte(unpatched_then_patched: None) -> None:
    steps = script(seed=19)
    expected = unpatched_answers(seed=19)
    dynamodb_index.install()
    answered = run(steps)

    queries_compared = sum(1 for _, body in expected if b'"ScannedCount"' in body)
    assert queries_compared > 150  # the pages really were compared
    assert any(b'"LastEvaluatedKey"' in body for _, body in expected)
    assert any(b"TransactionCanceledException" in body for _, body in expected)
    assert_same_answers(expected, answered)


def test_a_query_reads_its_partition_only(unpatched_then_patched: None) -> None:
    """The point of the layer: a page of a big table does not walk the table."""
    dynamodb_index.install()
    get_backend("dynamodb").reset()
    client = Client(DomainDispatcherApplication(create_backend_app))

    def call(target: str, body: dict[str, Any]) -> dict[str, Any]:
        return json.loads(post(client, target, body).get_data())

    call("CreateTable", create_table_request())
    rows = [{"pk": s("big"), "sk": s(f"ITEM#{n:06d}")} for n in range(5000)] + [
        {"pk": s("small"), "sk": s("ITEM#1")}
    ]
    for start in range(0, len(rows), 25):
        call(
            "BatchWriteItem",
            {"RequestItems": {TABLE: [{"PutRequest": {"Item": r}} for r in rows[start : start + 25]]}},
        )

    from moto.dynamodb.models.table import Table

    walked = 0
    original_all_items = Table.all_items

    def counting_all_items(self: Table) -> Any:
        nonlocal walked
        walked += 1
        return original_all_items(self)

    Table.all_items = counting_all_items  # type: ignore[method-assign]
    try:
        small = call(
            "Query",
            {
                "TableName": TABLE,
                "KeyConditionExpression": "pk = :pk",
                "ExpressionAttributeValues": {":pk": s("small")},
            },
        )
        page = call(
            "Query",
            {
                "TableName": TABLE,
                "KeyConditionExpression": "pk = :pk AND sk > :b",
                "ExpressionAttributeValues": {":pk": s("big"), ":b": s("ITEM#004000")},
                "Limit": 2,
            },
        )
    finally:
        Table.all_items = original_all_items  # type: ignore[method-assign]
        get_backend("dynamodb").reset()
    assert small["Count"] == 1
    assert [i["sk"]["S"] for i in page["Items"]] == ["ITEM#004001", "ITEM#004002"]
    assert page["LastEvaluatedKey"] == {"pk": s("big"), "sk": s("ITEM#004002")}
    assert walked == 0
