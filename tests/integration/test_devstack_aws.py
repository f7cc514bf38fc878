"""devstack.aws: the local stack's moto server answers DynamoDB requests one at a time, as
DynamoDB makes each item write atomic and isolates transactions.

The races need a thread switch inside moto's handling of a request; the tests make switches
frequent (`sys.setswitchinterval`) so that, without the serialization, they show up in a
couple of hundred requests (measured on plain ThreadedMotoServer: 2 to 18 of 200 increments
lost to a concurrent failed transaction's rollback, in every one of six runs).
"""

from __future__ import annotations

import sys
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from devstack.aws import MotoServer, OneDynamoDBRequestAtATime

ROUNDS = 200
# moto's backends are per process, shared by every server and mock in it: a table of its own.
TABLE = f"devstack-aws-{uuid.uuid4()}"


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    server = MotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    client = boto3.client(
        "dynamodb",
        endpoint_url=f"http://{host}:{port}",
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield client
    finally:
        sys.setswitchinterval(interval)
        client.delete_table(TableName=TABLE)
        server.stop()


def test_moto_server_keeps_writes_made_while_another_transaction_fails(dynamodb: Any) -> None:
    # Given a transaction failing over and over on another thread (moto rolls one back by putting
    # back a copy of the whole table taken before it began)
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "counter"}, "n": {"N": "0"}})
    stop = threading.Event()
    failures = [0]

    def fail_transactions() -> None:
        while not stop.is_set():
            try:
                dynamodb.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": TABLE,
                                "Key": {"pk": {"S": "elsewhere"}},
                                "UpdateExpression": "SET v = :one",
                                "ConditionExpression": "attribute_exists(never)",
                                "ExpressionAttributeValues": {":one": {"N": "1"}},
                            }
                        }
                    ]
                )
            except dynamodb.exceptions.TransactionCanceledException:
                failures[0] += 1

    failer = threading.Thread(target=fail_transactions)
    failer.start()
    try:
        # When a counter is incremented meanwhile
        for _ in range(ROUNDS):
            dynamodb.update_item(
                TableName=TABLE,
                Key={"pk": {"S": "counter"}},
                UpdateExpression="ADD n :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
    finally:
        stop.set()
        failer.join()

    # Then no increment was undone
    item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "counter"}}, ConsistentRead=True)["Item"]
    assert failures[0] > 0
    assert int(item["n"]["N"]) == ROUNDS


def test_moto_server_never_shows_half_an_update(dynamodb: Any) -> None:
    # Given an item whose counters sum to zero, and an update that keeps them so (as a pair's
    # count moves `pending` to `delivered`)
    names = [f"c{i}" for i in range(8)]
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "job"}, **{n: {"N": "0"} for n in names}})
    expression = "ADD " + ", ".join(f"{n} {':up' if i % 2 == 0 else ':down'}" for i, n in enumerate(names))
    done = threading.Event()

    def update() -> None:
        try:
            for _ in range(ROUNDS):
                dynamodb.update_item(
                    TableName=TABLE,
                    Key={"pk": {"S": "job"}},
                    UpdateExpression=expression,
                    ExpressionAttributeValues={":up": {"N": "1"}, ":down": {"N": "-1"}},
                )
        finally:
            done.set()

    # When it is read over and over while the update runs
    sums: list[int] = []
    updater = threading.Thread(target=update)
    updater.start()
    while not done.is_set():
        item = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "job"}}, ConsistentRead=True)["Item"]
        sums.append(sum(int(item[n]["N"]) for n in names))
    updater.join()

    # Then every read saw the whole update or none of it
    final = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "job"}}, ConsistentRead=True)["Item"]
    assert int(final["c0"]["N"]) == ROUNDS
    assert len(sums) > 10
    assert set(sums) == {0}


# -- the middleware alone ---------------------------------------------------------------------
class BlockingApp:
    """A WSGI app that holds every request until released, and records which ran."""

    def __init__(self) -> None:
        self.entered = threading.Semaphore(0)
        self.release = threading.Event()
        self.ran: list[str] = []

    def __call__(self, environ: dict[str, Any], start_response: Any) -> list[bytes]:
        self.ran.append(environ.get("HTTP_X_AMZ_TARGET", "none"))
        self.entered.release()
        self.release.wait(5)
        start_response("200 OK", [])
        return [b"ok"]


def call(app: OneDynamoDBRequestAtATime, target: str | None) -> threading.Thread:
    environ = {"HTTP_X_AMZ_TARGET": target} if target else {}
    thread = threading.Thread(target=lambda: list(app(environ, lambda *a: None)), daemon=True)
    thread.start()
    return thread


def test_one_dynamodb_request_at_a_time_holds_a_second_dynamodb_request_only() -> None:
    inner = BlockingApp()
    app = OneDynamoDBRequestAtATime(inner)

    # Given a DynamoDB request in progress
    first = call(app, "DynamoDB_20120810.UpdateItem")
    assert inner.entered.acquire(timeout=5)

    # When a second DynamoDB request and two others arrive
    second = call(app, "DynamoDB_20120810.GetItem")
    sqs = call(app, "AmazonSQS.ReceiveMessage")
    plain = call(app, None)

    # Then the others run alongside the first; the second DynamoDB request waits for it
    assert inner.entered.acquire(timeout=5)
    assert inner.entered.acquire(timeout=5)
    assert not inner.entered.acquire(timeout=0.2)
    assert inner.ran[0] == "DynamoDB_20120810.UpdateItem"
    assert sorted(inner.ran[1:]) == ["AmazonSQS.ReceiveMessage", "none"]
    inner.release.set()
    for thread in (first, second, sqs, plain):
        thread.join(5)
    assert inner.ran[-1] == "DynamoDB_20120810.GetItem"


def _put_and_fail(table: str, keys: list[str]) -> list[dict[str, Any]]:
    """A transaction that writes `keys` and fails on its last item's condition."""
    items: list[dict[str, Any]] = [
        {"Put": {"TableName": table, "Item": {"pk": {"S": key}, "v": {"S": "new"}}}} for key in keys
    ]
    items.append(
        {
            "Update": {
                "TableName": table,
                "Key": {"pk": {"S": "guard"}},
                "UpdateExpression": "SET v = :new",
                "ConditionExpression": "attribute_exists(never)",
                "ExpressionAttributeValues": {":new": {"S": "new"}},
            }
        }
    )
    return items


def test_moto_server_never_copies_a_table_for_a_transaction(
    dynamodb: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import moto.dynamodb.models as models

    class Recording:
        """The real copy module, recording what it deep-copies."""

        def __init__(self, real: Any) -> None:
            self.real = real
            self.copied: list[str] = []

        def deepcopy(self, value: Any, memo: Any = None) -> Any:
            self.copied.append(type(value).__name__)
            return self.real.deepcopy(value, memo)

    # Given the server's copy module (it stands in front of the real one), recording
    recording = Recording(models.copy._real)
    monkeypatch.setattr(models.copy, "_real", recording)
    dynamodb.put_item(TableName=TABLE, Item={"pk": {"S": "kept"}, "v": {"S": "old"}})

    # When a transaction of ten writes and a failing condition runs
    with pytest.raises(dynamodb.exceptions.TransactionCanceledException):
        dynamodb.transact_write_items(
            TransactItems=_put_and_fail(TABLE, [f"k{i}" for i in range(10)] + ["kept"])
        )

    # Then its table was never copied (only the items it touched were), and the rollback undid
    # every write
    assert "Table" not in recording.copied
    found = dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "kept"}}, ConsistentRead=True)["Item"]
    assert found["v"]["S"] == "old"
    assert "Item" not in dynamodb.get_item(TableName=TABLE, Key={"pk": {"S": "k0"}}, ConsistentRead=True)
