"""`Store.put_items`, the bulk write of content items, against a fake DynamoDB client: 25 items a
BatchWriteItem, unprocessed items asked again, and what could not be written answered by id."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from webhook_resend.aws import dynamodb
from webhook_resend.aws.dynamodb import Store, item_record, to_attrs
from webhook_resend.models.records import ContentItem

TENANT = "tn0123456789abcdef01234567"


def items(count: int) -> list[ContentItem]:
    return [
        ContentItem(
            id=f"00000000-0000-4000-8000-{n:012d}",
            model="Post",
            created_on="2026-01-01T00:00:00.000Z",
            changed_on="2026-01-01T00:00:00.000Z",
            payload={"n": n},
        )
        for n in range(count)
    ]


class FakeDynamo:
    """BatchWriteItem that leaves the last `unprocess` items of a call unprocessed, for the first
    `throttled_calls` calls, and fails the calls numbered in `failing` (from 0)."""

    def __init__(self, unprocess: int = 0, throttled_calls: int = 0, failing: tuple[int, ...] = ()) -> None:
        self.unprocess, self.throttled_calls, self.failing = unprocess, throttled_calls, failing
        self.calls: list[list[dict[str, Any]]] = []
        self.written: list[dict[str, Any]] = []

    def batch_write_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:
        [(table, requests)] = RequestItems.items()
        number = len(self.calls)
        self.calls.append(requests)
        if number in self.failing:
            raise ClientError({"Error": {"Code": "InternalServerError"}}, "BatchWriteItem")
        keep = self.unprocess if number < self.throttled_calls else 0
        done = requests[: len(requests) - keep]
        self.written.extend(r["PutRequest"]["Item"] for r in done)
        left = requests[len(requests) - keep :]
        return {"UnprocessedItems": {table: left} if left else {}}


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dynamodb.time, "sleep", lambda seconds: None)


def test_put_items_writes_25_a_call_the_records_put_item_writes() -> None:
    fake = FakeDynamo()
    batch = items(60)

    unwritten = Store(fake, "table").put_items(TENANT, batch)

    assert unwritten == set()
    assert [len(c) for c in fake.calls] == [25, 25, 10]
    assert fake.written == [to_attrs(item_record(TENANT, i)) for i in batch]


def test_put_items_asks_again_for_unprocessed_items_only() -> None:
    fake = FakeDynamo(unprocess=5, throttled_calls=2)

    unwritten = Store(fake, "table").put_items(TENANT, items(25))

    assert unwritten == set()
    assert [len(c) for c in fake.calls] == [25, 5, 5]
    assert len(fake.written) == 25


def test_put_items_answers_what_stayed_unprocessed_and_what_came_after() -> None:
    fake = FakeDynamo(unprocess=3, throttled_calls=100)
    batch = items(30)

    unwritten = Store(fake, "table").put_items(TENANT, batch)

    # the first chunk's last 3 never went through; the next chunk was not tried on a throttled table
    assert unwritten == {i.id for i in batch[22:]}
    assert len(fake.calls) == dynamodb._READ_ROUNDS
    assert {r["id"]["S"] for r in fake.written} == {i.id for i in batch[:22]}


def test_put_items_failed_call_leaves_its_chunk_and_later_ones_unwritten() -> None:
    fake = FakeDynamo(failing=(1,))
    batch = items(75)

    unwritten = Store(fake, "table").put_items(TENANT, batch)

    assert unwritten == {i.id for i in batch[25:]}
    assert len(fake.calls) == 2
    assert {r["id"]["S"] for r in fake.written} == {i.id for i in batch[:25]}
