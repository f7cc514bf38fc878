"""The DynamoDB adapter: records in and out of the one table, keyed by `keys`.

Takes its client in the constructor. Payloads and free-form JSON are stored as JSON strings, so
nothing a tenant sends is subject to DynamoDB's number and empty-value rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

from webhook_resend import keys
from webhook_resend.models import ContentItem, Task, Webhook

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_BATCH_GET_MAX = 100


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, set):
        return sorted(_plain(v) for v in value)
    return value


def to_attrs(record: dict[str, Any]) -> dict[str, Any]:
    return {k: _serializer.serialize(v) for k, v in record.items() if v is not None}


def from_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: _plain(_deserializer.deserialize(v)) for k, v in attrs.items()}


class Store:
    """Reads and writes the records of the data table."""

    def __init__(self, client: Any, table_name: str) -> None:
        self._client = client
        self._table = table_name

    # -- generic ----------------------------------------------------------------------------------
    def _get(self, key: dict[str, str], *, consistent: bool = False) -> dict[str, Any] | None:
        answer = self._client.get_item(TableName=self._table, Key=to_attrs(key), ConsistentRead=consistent)
        return from_attrs(answer["Item"]) if "Item" in answer else None

    def _put(self, record: dict[str, Any]) -> dict[str, Any] | None:
        answer = self._client.put_item(TableName=self._table, Item=to_attrs(record), ReturnValues="ALL_OLD")
        return from_attrs(answer["Attributes"]) if answer.get("Attributes") else None

    def _delete(self, key: dict[str, str]) -> bool:
        answer = self._client.delete_item(TableName=self._table, Key=to_attrs(key), ReturnValues="ALL_OLD")
        return bool(answer.get("Attributes"))

    def batch_get(self, key_list: Sequence[dict[str, str]]) -> list[dict[str, Any]]:
        """Every record found for the keys (any order); retries unprocessed keys."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(key_list), _BATCH_GET_MAX):
            pending: list[dict[str, Any]] = [to_attrs(k) for k in key_list[start : start + _BATCH_GET_MAX]]
            while pending:
                answer = self._client.batch_get_item(RequestItems={self._table: {"Keys": pending}})
                found.extend(from_attrs(a) for a in answer.get("Responses", {}).get(self._table, []))
                pending = answer.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
        return found

    # -- tenants ----------------------------------------------------------------------------------
    def put_tenant(self, record: dict[str, Any]) -> None:
        self._client.put_item(
            TableName=self._table,
            Item=to_attrs({**keys.tenant(record["tenant_id"]), **record}),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get_tenant(self, tenant_id: str) -> dict[str, Any] | None:
        return self._get(keys.tenant(tenant_id))

    # -- content items ----------------------------------------------------------------------------
    def get_item(self, tenant_id: str, item_id: str) -> ContentItem | None:
        record = self._get(keys.item(tenant_id, item_id))
        return _item_from(record) if record else None

    def put_item(self, tenant_id: str, item: ContentItem) -> bool:
        """Store the item; True when it did not exist before."""
        record = {
            **keys.item(tenant_id, item.id),
            "gsi1pk": keys.items_index_pk(tenant_id),
            "gsi1sk": keys.items_index_sk(item.created_on, item.id),
            **item.model_dump(exclude={"payload"}),
            "payload": json.dumps(item.payload, separators=(",", ":")),
        }
        return self._put(record) is None

    def delete_item(self, tenant_id: str, item_id: str) -> bool:
        return self._delete(keys.item(tenant_id, item_id))

    def get_items(self, tenant_id: str, item_ids: Sequence[str]) -> dict[str, ContentItem]:
        records = self.batch_get([keys.item(tenant_id, i) for i in dict.fromkeys(item_ids)])
        return {r["id"]: _item_from(r) for r in records}

    def scan_item_index(
        self, tenant_id: str, lo: str | None = None, hi: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """The tenant's index entries in (created_on, id) order, between inclusive sort-key bounds.

        A Query on the tenant's index partition (never a Scan); entries hold the filterable
        attributes only.
        """
        condition = "gsi1pk = :pk"
        values: dict[str, Any] = {":pk": keys.items_index_pk(tenant_id)}
        if lo is not None and hi is not None:
            condition += " AND gsi1sk BETWEEN :lo AND :hi"
            values.update({":lo": lo, ":hi": hi})
        elif lo is not None:
            condition += " AND gsi1sk >= :lo"
            values[":lo"] = lo
        elif hi is not None:
            condition += " AND gsi1sk <= :hi"
            values[":hi"] = hi
        if lo is not None and hi is not None and lo > hi:
            return
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": keys.ITEMS_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": to_attrs(values),
        }
        while True:
            answer = self._client.query(**request)
            for attrs in answer.get("Items", []):
                yield from_attrs(attrs)
            if "LastEvaluatedKey" not in answer:
                return
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    # -- tasks ------------------------------------------------------------------------------------
    def get_task(self, tenant_id: str, task_id: str) -> Task | None:
        record = self._get(keys.task(tenant_id, task_id))
        return _task_from(record) if record else None

    def get_tasks(self, tenant_id: str, task_ids: Sequence[str]) -> dict[str, Task]:
        records = self.batch_get([keys.task(tenant_id, i) for i in dict.fromkeys(task_ids)])
        return {r["id"]: _task_from(r) for r in records}

    def put_task(self, tenant_id: str, task: Task) -> bool:
        record = {
            **keys.task(tenant_id, task.id),
            "id": task.id,
            "data": json.dumps(task.data, separators=(",", ":")),
            "result": json.dumps(task.result, separators=(",", ":")),
            "created_on": task.created_on,
            "changed_on": task.changed_on,
        }
        return self._put(record) is None

    def delete_task(self, tenant_id: str, task_id: str) -> bool:
        return self._delete(keys.task(tenant_id, task_id))

    # -- webhooks ---------------------------------------------------------------------------------
    def get_webhook(self, tenant_id: str, webhook_id: str) -> tuple[Webhook, str] | None:
        """The webhook and its secret."""
        record = self._get(keys.webhook(tenant_id, webhook_id))
        return _webhook_from(record) if record else None

    def put_webhook(self, tenant_id: str, webhook: Webhook, secret: str) -> bool:
        record = {
            **keys.webhook(tenant_id, webhook.id),
            **webhook.model_dump(exclude={"secret"}),
            "secret": secret,
        }
        return self._put(record) is None

    def delete_webhook(self, tenant_id: str, webhook_id: str) -> bool:
        return self._delete(keys.webhook(tenant_id, webhook_id))

    def list_webhooks(self, tenant_id: str) -> list[tuple[Webhook, str]]:
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_attrs({":pk": keys.webhooks_pk(tenant_id)}),
        }
        found: list[tuple[Webhook, str]] = []
        while True:
            answer = self._client.query(**request)
            found.extend(_webhook_from(from_attrs(a)) for a in answer.get("Items", []))
            if "LastEvaluatedKey" not in answer:
                return found
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]


def _item_from(record: dict[str, Any]) -> ContentItem:
    return ContentItem.model_validate({**record, "payload": json.loads(record.get("payload") or "{}")})


def _task_from(record: dict[str, Any]) -> Task:
    return Task(
        id=record["id"],
        data=json.loads(record["data"]),
        result=json.loads(record.get("result") or "null"),
        created_on=record["created_on"],
        changed_on=record["changed_on"],
    )


def _webhook_from(record: dict[str, Any]) -> tuple[Webhook, str]:
    fields = {k: v for k, v in record.items() if k in Webhook.model_fields and k != "secret"}
    return Webhook.model_validate(fields), record["secret"]
