"""The DynamoDB adapter: records in and out of the one table, keyed by `keys`.

Takes its client in the constructor. Payloads and free-form JSON are stored as JSON strings, so
nothing a tenant sends is subject to DynamoDB's number and empty-value rules.

The exactly-once commit protocol (`Store.commit`), which keeps `delivered + failed + pending ==
total_queued` however often SQS delivers a message and wherever a Lambda dies:
1. One TransactWriteItems per job chunk: the pairs' delivery records and one aggregated `ADD` of
   the job's counters for the pairs that just ended.
2. A pair counts on its first delivery record (URL index 0): its `counted` attribute is set under
   `attribute_not_exists`, in that record's Put, or else in an Update of that record alone.
3. A record that reached `delivered`/`failed` is never rewritten (a late duplicate is refused).
4. A cancelled transaction is retried without the items whose condition failed (already done);
   a refused first-record Put becomes the counting Update, so an ended pair counts once, not never.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import random
import time
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from webhook_resend import clock
from webhook_resend.aws import keys
from webhook_resend.models.messages import PairMessage
from webhook_resend.models.records import ContentItem, Delivery, Job, Task, Webhook, job_status
from webhook_resend.observability import logger

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()
_BATCH_GET_MAX = 100
_TRANSACTION_MAX = 100
_COMMIT_ROUNDS = 4
_READ_ROUNDS = 6
_BACKOFF_SECONDS = 0.05
_BATCH_WRITE_MAX = 25
_PARK_ROUNDS = 4
_UNPARK_CONCURRENCY = 16
# A pair's count is carried by its first delivery record (URL index 0): the attribute is set,
# once, in the transaction that moves the job's counters (see Store.commit).
COUNTED = "counted"
_NOT_TERMINAL = "(attribute_not_exists(pk) OR NOT (#s IN (:delivered, :failed)))"
_TERMINAL_VALUES = {":delivered": {"S": "delivered"}, ":failed": {"S": "failed"}}
_RECORD_CONDITION = {
    "ConditionExpression": _NOT_TERMINAL,
    "ExpressionAttributeNames": {"#s": "status"},
    "ExpressionAttributeValues": _TERMINAL_VALUES,
}
_FIRST_RECORD_CONDITION = {
    "ConditionExpression": f"{_NOT_TERMINAL} AND attribute_not_exists(#c)",
    "ExpressionAttributeNames": {"#s": "status", "#c": COUNTED},
    "ExpressionAttributeValues": _TERMINAL_VALUES,
}


@dataclass(frozen=True)
class QueryFilter:
    """A FilterExpression with its names and (plain) values: what DynamoDB evaluates on the
    entries a Query reads, before answering them."""

    expression: str
    names: Mapping[str, str]
    values: Mapping[str, Any]


class StoreBusyError(Exception):
    """DynamoDB kept some keys of a read unprocessed (throttling) through every retry."""


def _pause(round_number: int) -> None:
    """Exponential backoff with full jitter: 50 ms, 100 ms, 200 ms... at most, spread out so that
    throttled consumers do not come back in step."""
    time.sleep(random.uniform(0, _BACKOFF_SECONDS * 2**round_number))


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


def _attr(value: Any) -> dict[str, Any]:
    # Strings and integers, nearly every attribute the service writes, without boto3's type walk
    # (the consumer serializes a few thousand per batch). bool is an int: it goes to boto3.
    kind = type(value)
    if kind is str:
        return {"S": value}
    if kind is int:
        return {"N": str(value)}
    return _serializer.serialize(value)


def to_attrs(record: dict[str, Any]) -> dict[str, Any]:
    return {k: _attr(v) for k, v in record.items() if v is not None}


def _value(attr: dict[str, Any]) -> Any:
    if "S" in attr:
        return attr["S"]
    if "N" in attr:
        number = attr["N"]
        return int(number) if number.lstrip("-").isdigit() else _plain(Decimal(number))
    return _plain(_deserializer.deserialize(attr))


def from_attrs(attrs: dict[str, Any]) -> dict[str, Any]:
    return {k: _value(v) for k, v in attrs.items()}


@dataclass
class PairOutcome:
    """What one message changed: its delivery records, and the pair's terminal state if reached."""

    tenant_id: str
    job_id: str
    subject_id: str
    webhook_id: str
    records: list[Delivery]
    terminal: str | None  # "delivered" | "failed" | None (still retrying)


@dataclass(frozen=True)
class ParkedPair:
    """A pair waiting in DynamoDB for its next attempt (see delivery/parking.py): the message it
    goes back on the queue as, when it is due, and why it waits."""

    message: PairMessage
    due_on: str  # canonical time
    reason: str
    expires_at: int = 0  # TTL of the parked item (epoch seconds); 0 when read back

    @property
    def key(self) -> dict[str, str]:
        m = self.message
        return keys.parked(m.tenant_id, m.job_id, m.subject_id, m.webhook_id)


@dataclass(frozen=True)
class BudgetAnswer:
    """What one conditional write of a rate budget did (see delivery/pacing.py): `taken`, and the
    budget's next free slot after it, or as found when refused (None: the budget has no item)."""

    taken: bool
    tat: int | None


def _needs_count_update(outcome: PairOutcome) -> bool:
    """An ended pair whose first record the batch does not rewrite is counted by an Update."""
    return outcome.terminal is not None and all(r.url_index != 0 for r in outcome.records)


def _error_code(exc: Exception) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "ClientError")
    return type(exc).__name__


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


def delivery_record(record: dict[str, Any]) -> dict[str, Any]:
    """A delivery record as read, with the ids its key holds (see Store._delivery_put)."""
    return {**record, **keys.delivery_ids(record["pk"], record["sk"])}


def delivery_from(record: dict[str, Any]) -> Delivery:
    return Delivery.model_validate(delivery_record(record))


def _job_from(record: dict[str, Any]) -> Job:
    counts = {k: int(record.get(k, 0)) for k in ("total_queued", "delivered", "failed", "pending")}
    return Job(
        id=record["id"],
        source=record["source"],
        event=record.get("event"),
        status=job_status(**counts, cancelled=bool(record.get("cancelled"))),  # type: ignore[arg-type]
        created_on=record["created_on"],
        # Derived, not written by a separate update: no window where a job is completed
        # without its completion time.
        completed_on=record.get("completed_on")
        or (record.get("last_counted_on") if counts["pending"] <= 0 else None),
        total_items=int(record.get("total_items", 0)),
        **counts,
    )


def encode_cursor(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode()


def decode_cursor(cursor: str, attributes: set[str], fixed: dict[str, str]) -> dict[str, Any] | None:
    """The DynamoDB start key a cursor holds, or None unless it is one this listing could have
    given out: exactly these key attributes, string values, and the `fixed` values (the
    listing's own partition), so a cursor can neither break a Query nor read another listing."""
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(value, dict) or set(value) != attributes:
        return None
    if not all(isinstance(v, dict) and set(v) == {"S"} and isinstance(v["S"], str) for v in value.values()):
        return None
    if any(value[name]["S"] != wanted for name, wanted in fixed.items()):
        return None
    return value


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

    def _query(
        self, condition: str, values: dict[str, Any], index: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Every record a key condition selects, page after page (a Query, never a Scan)."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": to_attrs(values),
            **({"IndexName": index} if index else {}),
        }
        while True:
            answer = self._client.query(**request)
            for attrs in answer.get("Items", []):
                yield from_attrs(attrs)
            if "LastEvaluatedKey" not in answer:
                return
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def batch_get(self, key_list: Sequence[dict[str, str]]) -> list[dict[str, Any]]:
        """Every record found for the keys (any order); retries unprocessed keys."""
        found: list[dict[str, Any]] = []
        for start in range(0, len(key_list), _BATCH_GET_MAX):
            pending: list[dict[str, Any]] = [to_attrs(k) for k in key_list[start : start + _BATCH_GET_MAX]]
            for round_number in range(_READ_ROUNDS):
                answer = self._client.batch_get_item(RequestItems={self._table: {"Keys": pending}})
                found.extend(from_attrs(a) for a in answer.get("Responses", {}).get(self._table, []))
                pending = answer.get("UnprocessedKeys", {}).get(self._table, {}).get("Keys", [])
                if not pending:
                    break
                # Unprocessed keys mean the table is throttled: back off before asking again.
                _pause(round_number)
            else:
                raise StoreBusyError(f"{len(pending)} keys still unprocessed after {_READ_ROUNDS} rounds")
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

    def _item_index_request(
        self, tenant_id: str, lo: str | None, hi: str | None, query_filter: QueryFilter | None
    ) -> dict[str, Any] | None:
        """The Query of the tenant's items index between inclusive sort-key bounds, with the
        filter DynamoDB evaluates; None when the bounds select nothing."""
        if lo is not None and hi is not None and lo > hi:
            return None
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
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": keys.ITEMS_INDEX,
            "KeyConditionExpression": condition,
        }
        if query_filter is not None:
            request["FilterExpression"] = query_filter.expression
            request["ExpressionAttributeNames"] = dict(query_filter.names)
            values.update(query_filter.values)
        request["ExpressionAttributeValues"] = to_attrs(values)
        return request

    def query_item_index(
        self,
        tenant_id: str,
        lo: str | None = None,
        hi: str | None = None,
        query_filter: QueryFilter | None = None,
        *,
        start: dict[str, Any] | None = None,
        limit: int | None = None,
        attributes: Sequence[str] | None = None,
    ) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
        """One page of the tenant's index entries in (created_on, id) order: those of the entries
        DynamoDB read (at most `limit`, from `start`) that pass `query_filter`, and the key the
        next page starts from (None after the last). A Query on the tenant's index partition,
        never a Scan; entries hold the filterable attributes only, or just `attributes`."""
        request = self._item_index_request(tenant_id, lo, hi, query_filter)
        if request is None:
            return [], None
        if start:
            request["ExclusiveStartKey"] = start
        if limit:
            request["Limit"] = limit
        if attributes:
            names = {f"#a{i}": name for i, name in enumerate(attributes)}
            request["ProjectionExpression"] = ", ".join(names)
            request["ExpressionAttributeNames"] = {**request.get("ExpressionAttributeNames", {}), **names}
        answer = self._client.query(**request)
        return [from_attrs(a) for a in answer.get("Items", [])], answer.get("LastEvaluatedKey")

    def iter_item_index(
        self,
        tenant_id: str,
        lo: str | None = None,
        hi: str | None = None,
        query_filter: QueryFilter | None = None,
        *,
        attributes: Sequence[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every entry `query_item_index` answers, page after page."""
        start: dict[str, Any] | None = None
        while True:
            entries, start = self.query_item_index(
                tenant_id, lo, hi, query_filter, start=start, attributes=attributes
            )
            yield from entries
            if start is None:
                return

    def count_item_index(
        self,
        tenant_id: str,
        lo: str | None = None,
        hi: str | None = None,
        query_filter: QueryFilter | None = None,
    ) -> int:
        """How many index entries pass `query_filter` (Select=COUNT: DynamoDB answers numbers,
        not entries)."""
        request = self._item_index_request(tenant_id, lo, hi, query_filter)
        if request is None:
            return 0
        request["Select"] = "COUNT"
        total = 0
        while True:
            answer = self._client.query(**request)
            total += int(answer.get("Count", 0))
            if "LastEvaluatedKey" not in answer:
                return total
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
        return [_webhook_from(r) for r in self._query("pk = :pk", {":pk": keys.webhooks_pk(tenant_id)})]

    # -- jobs -------------------------------------------------------------------------------------
    def put_job(self, tenant_id: str, job: Job, expires_at: int) -> bool:
        """Write a new job; False when a job of that id exists already."""
        record = {
            **keys.job(tenant_id, job.id),
            **job.model_dump(exclude={"status"}),
            "expires_at": expires_at,
        }
        try:
            self._client.put_item(
                TableName=self._table, Item=to_attrs(record), ConditionExpression="attribute_not_exists(pk)"
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def get_job(self, tenant_id: str, job_id: str) -> Job | None:
        record = self._get(keys.job(tenant_id, job_id), consistent=True)
        return _job_from(record) if record else None

    def unqueue(self, tenant_id: str, job_id: str, count: int) -> None:
        """Take pairs that could not be queued out of the job, so its counters stay true."""
        if count <= 0:
            return
        self._client.update_item(
            TableName=self._table,
            Key=to_attrs(keys.job(tenant_id, job_id)),
            UpdateExpression="ADD total_queued :minus, pending :minus SET last_counted_on = :now",
            ExpressionAttributeValues=to_attrs({":minus": -count, ":now": clock.now_text()}),
        )

    # -- deliveries -------------------------------------------------------------------------------
    def get_records(self, key_list: Sequence[dict[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        return {(r["pk"], r["sk"]): r for r in self.batch_get(key_list)}

    def deactivate_webhook(self, tenant_id: str, webhook_id: str) -> None:
        # A webhook deleted meanwhile has nothing to deactivate.
        with contextlib.suppress(self._client.exceptions.ConditionalCheckFailedException):
            self._client.update_item(
                TableName=self._table,
                Key=to_attrs(keys.webhook(tenant_id, webhook_id)),
                UpdateExpression="SET active = :false",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=to_attrs({":false": False}),
            )

    def _delivery_put(
        self, tenant_id: str, record: Delivery, expires_at: int, counted: str | None = None
    ) -> dict[str, Any]:
        """The record's Put; with `counted`, it carries its pair's count (see `commit`)."""
        item = {
            **keys.delivery(tenant_id, record.job_id, record.subject_id, record.webhook_id, record.url_index),
            "gsi2pk": keys.deliveries_index_pk(tenant_id, record.job_id),
            "gsi2sk": keys.deliveries_index_sk(
                record.status, record.subject_id, record.webhook_id, record.url_index
            ),
            # Neither the ids the key holds nor defaults (kind "item", method POST, no attempt yet)
            # are repeated: readers restore them (delivery_record, the model's defaults).
            **record.model_dump(exclude_defaults=True, exclude=keys.DELIVERY_ID_FIELDS),
            "expires_at": expires_at,
        }
        if counted:
            item[COUNTED] = counted
        if record.status == "failed":
            # The sparse index a resend by outcome reads ("failed since ...").
            item["gsi3pk"] = keys.failed_index_pk(tenant_id)
            item["gsi3sk"] = keys.failed_index_sk(
                record.last_attempt_on or "",
                record.job_id,
                record.subject_id,
                record.webhook_id,
                record.url_index,
            )
        # A record that reached its end is never rewritten (a duplicate message may run late), nor
        # is a pair's first record once it carries the pair's count.
        return {
            "Put": {
                "TableName": self._table,
                "Item": to_attrs(item),
                **(_FIRST_RECORD_CONDITION if record.url_index == 0 else _RECORD_CONDITION),
            }
        }

    def _count_update(self, outcome: PairOutcome, expires_at: int) -> dict[str, Any]:
        """Count an ended pair on its first record without rewriting it (the record is already
        terminal, or the pair's first URL is not a target any more); creates a bare counting item
        when that record does not exist (a task with only a postback)."""
        key = keys.delivery(outcome.tenant_id, outcome.job_id, outcome.subject_id, outcome.webhook_id, 0)
        return {
            "Update": {
                "TableName": self._table,
                "Key": to_attrs(key),
                "UpdateExpression": "SET #c = :outcome, expires_at = if_not_exists(expires_at, :expires)",
                "ConditionExpression": "attribute_not_exists(#c)",
                "ExpressionAttributeNames": {"#c": COUNTED},
                "ExpressionAttributeValues": {
                    ":outcome": {"S": outcome.terminal or ""},
                    ":expires": {"N": str(expires_at)},
                },
            }
        }

    def _counter_update(
        self, tenant_id: str, job_id: str, delivered: int, failed: int, when: str
    ) -> dict[str, Any]:
        return {
            "Update": {
                "TableName": self._table,
                "Key": to_attrs(keys.job(tenant_id, job_id)),
                # The time of the last count is the completion time once nothing is pending.
                "UpdateExpression": "ADD delivered :d, failed :f, pending :p SET last_counted_on = :when",
                "ExpressionAttributeValues": to_attrs(
                    {":d": delivered, ":f": failed, ":p": -(delivered + failed), ":when": when}
                ),
            }
        }

    def commit(self, outcomes: Sequence[PairOutcome], when: str, expires_at: int) -> list[PairOutcome]:
        """Write the outcomes of one batch; answer the ones that could not be written.

        Each transaction holds whole pairs of one job: their delivery records, and one aggregated
        counter update for the pairs that just ended. A pair that ends is counted on its first
        record (URL index 0), conditionally: in that record's Put when the batch writes it, else
        in an Update of that record alone. The condition makes a pair count once however often
        its message runs, with no item of its own. A cancelled transaction is retried without the
        items whose condition failed (already done); a first record that could not be rewritten
        still counts its pair through the Update.
        """
        by_job: dict[tuple[str, str], list[PairOutcome]] = {}
        for outcome in outcomes:
            by_job.setdefault((outcome.tenant_id, outcome.job_id), []).append(outcome)
        unwritten: list[PairOutcome] = []
        for (tenant_id, job_id), group in by_job.items():
            chunk: list[PairOutcome] = []
            size = 1  # the counter update
            for outcome in group:
                need = len(outcome.records) + (1 if _needs_count_update(outcome) else 0)
                if chunk and size + need > _TRANSACTION_MAX:
                    unwritten += self._commit_chunk(tenant_id, job_id, chunk, when, expires_at)
                    chunk, size = [], 1
                chunk.append(outcome)
                size += need
            if chunk:
                unwritten += self._commit_chunk(tenant_id, job_id, chunk, when, expires_at)
        return unwritten

    def end_failed(
        self, pairs: Sequence[PairMessage], reason: str, when: str, expires_at: int
    ) -> list[PairMessage]:
        """End pairs `failed` without an attempt (e.g. a publish SQS never answered): each gets a
        failed first record (URL index 0) with `reason`, counted through the protocol above, so
        a pair counted already (delivered, or ended by a copy) is left as it is. Answers the
        pairs that could not be written."""
        outcomes = [
            PairOutcome(
                tenant_id=p.tenant_id,
                job_id=p.job_id,
                subject_id=p.subject_id,
                webhook_id=p.webhook_id,
                records=[
                    Delivery(
                        job_id=p.job_id,
                        subject_id=p.subject_id,
                        kind=p.kind,
                        webhook_id=p.webhook_id,
                        url_index=0,
                        url="",
                        event=p.event,
                        status="failed",
                        last_error=reason,
                        last_attempt_on=when,
                    )
                ],
                terminal="failed",
            )
            for p in pairs
        ]
        by_outcome = {id(o): p for o, p in zip(outcomes, pairs, strict=True)}
        return [by_outcome[id(o)] for o in self.commit(outcomes, when, expires_at)]

    def _commit_chunk(
        self, tenant_id: str, job_id: str, chunk: list[PairOutcome], when: str, expires_at: int
    ) -> list[PairOutcome]:
        # (operation, pair it belongs to, does it count the pair)
        operations: list[tuple[dict[str, Any], PairOutcome, bool]] = []
        for outcome in chunk:
            for r in outcome.records:
                counts = outcome.terminal is not None and r.url_index == 0
                put = self._delivery_put(tenant_id, r, expires_at, outcome.terminal if counts else None)
                operations.append((put, outcome, counts))
            if _needs_count_update(outcome):
                operations.append((self._count_update(outcome, expires_at), outcome, True))
        for round_number in range(_COMMIT_ROUNDS):
            delivered = sum(1 for _, o, counts in operations if counts and o.terminal == "delivered")
            failed = sum(1 for _, o, counts in operations if counts and o.terminal == "failed")
            items = [op for op, _, _ in operations]
            if delivered or failed:
                items.append(self._counter_update(tenant_id, job_id, delivered, failed, when))
            if not items:
                return []
            try:
                self._client.transact_write_items(TransactItems=items)
                return []
            except self._client.exceptions.TransactionCanceledException as exc:
                reasons = exc.response.get("CancellationReasons") or []
                done = {i for i, r in enumerate(reasons) if r.get("Code") == "ConditionalCheckFailed"}
                if done:
                    kept = []
                    for i, (request, outcome, counts) in enumerate(operations):
                        if i not in done:
                            kept.append((request, outcome, counts))
                        elif counts and "Put" in request:
                            # Another run ended the first record first: the pair is still
                            # counted, by the Update, which is refused in turn if it was counted.
                            kept.append((self._count_update(outcome, expires_at), outcome, True))
                    operations = kept
                    continue
            except ClientError as exc:
                # Throttling or a conflicting transaction: back off and try the same writes again.
                logger.warning("delivery commit failed", extra={"error": exc.response["Error"]["Code"]})
            except BotoCoreError as exc:
                # A timeout or a closed connection: the transaction may or may not have been
                # applied; writing it again is safe (every item of it is conditional, or counted
                # only with a conditional one).
                logger.warning("delivery commit failed", extra={"error": type(exc).__name__})
            _pause(round_number)
        return list(chunk)

    def list_deliveries(
        self, tenant_id: str, job_id: str, status: str | None, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Delivery], dict[str, Any] | None]:
        condition = "gsi2pk = :pk"
        values: dict[str, Any] = {":pk": keys.deliveries_index_pk(tenant_id, job_id)}
        if status:
            condition += " AND begins_with(gsi2sk, :status)"
            values[":status"] = f"{status}#"
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": keys.DELIVERIES_INDEX,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": to_attrs(values),
            "Limit": limit,
        }
        if cursor:
            request["ExclusiveStartKey"] = cursor
        answer = self._client.query(**request)
        records = [delivery_from(from_attrs(a)) for a in answer.get("Items", [])]
        return records, answer.get("LastEvaluatedKey")

    def failed_since(
        self,
        tenant_id: str,
        since: str,
        *,
        webhook_ids: Sequence[str] = (),
        event: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The tenant's delivery records that ended failed at or after `since` (an index Query),
        narrowed by DynamoDB to `webhook_ids` and `event` when given."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": keys.FAILED_INDEX,
            "KeyConditionExpression": "gsi3pk = :pk AND gsi3sk >= :since",
        }
        values: dict[str, Any] = {":pk": keys.failed_index_pk(tenant_id), ":since": since}
        conditions = []
        if webhook_ids:
            # Records do not repeat the ids their key holds; the index's sort key holds the
            # webhook id between separators (keys.failed_index_sk), where no other id of the same
            # record can equal it (distinct random UUIDs, or "callback").
            names = [f":w{i}" for i in range(len(webhook_ids))]
            values.update(
                {name: f"#{webhook_id}#" for name, webhook_id in zip(names, webhook_ids, strict=True)}
            )
            found = [f"contains(gsi3sk, {name})" for name in names]
            conditions.append(found[0] if len(found) == 1 else "(" + " OR ".join(found) + ")")
        if event:
            conditions.append("#event = :event")
            values[":event"] = event
            request["ExpressionAttributeNames"] = {"#event": "event"}
        if conditions:
            request["FilterExpression"] = " AND ".join(conditions)
        request["ExpressionAttributeValues"] = to_attrs(values)
        while True:
            answer = self._client.query(**request)
            for attrs in answer.get("Items", []):
                yield delivery_record(from_attrs(attrs))
            if "LastEvaluatedKey" not in answer:
                return
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    # -- parked pairs -----------------------------------------------------------------------------
    def park(self, pairs: Sequence[ParkedPair], parked_on: str) -> list[ParkedPair]:
        """Write each pair's parked item, 25 a BatchWriteItem; answer the pairs not written.

        One item per pair (beside its delivery records): parking a pair again replaces it. It is
        also an entry of the sparse, sharded index `parked_by_due`, where the waker finds it.
        """
        unique = {(p.key["pk"], p.key["sk"]): p for p in pairs}
        unwritten: list[ParkedPair] = []
        chunks = list(unique.items())
        for start in range(0, len(chunks), _BATCH_WRITE_MAX):
            chunk = dict(chunks[start : start + _BATCH_WRITE_MAX])
            pending = [{"PutRequest": {"Item": self._parked_item(p, parked_on)}} for p in chunk.values()]
            for round_number in range(_PARK_ROUNDS):
                try:
                    answer = self._client.batch_write_item(RequestItems={self._table: pending})
                except (ClientError, BotoCoreError) as exc:
                    # botocore has retried already: these pairs stay on the queue instead.
                    logger.warning("parking failed", extra={"error": _error_code(exc), "pairs": len(pending)})
                    break
                pending = answer.get("UnprocessedItems", {}).get(self._table, [])
                if not pending:
                    break
                time.sleep(0.05 * 2**round_number)
            for request in pending:
                item = request["PutRequest"]["Item"]
                unwritten.append(chunk[(item["pk"]["S"], item["sk"]["S"])])
        return unwritten

    def _parked_item(self, pair: ParkedPair, parked_on: str) -> dict[str, Any]:
        m = pair.message
        ids = (m.tenant_id, m.job_id, m.subject_id, m.webhook_id)
        return to_attrs(
            {
                **pair.key,
                "gsi4pk": keys.parked_index_pk(keys.parked_shard(*ids)),
                "gsi4sk": keys.parked_index_sk(pair.due_on, *ids),
                "message": m.model_dump_json(),
                "due_on": pair.due_on,
                "reason": pair.reason,
                "parked_on": parked_on,
                "expires_at": pair.expires_at,
            }
        )

    def due_parked(
        self, shard: int, now: str, limit: int, start: dict[str, Any] | None = None
    ) -> tuple[list[ParkedPair], dict[str, Any] | None]:
        """One page of a shard's parked pairs due at or before `now`, soonest first (a Query of
        the index that reads only what is due), and where the next page starts."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": keys.PARKED_INDEX,
            "KeyConditionExpression": "gsi4pk = :pk AND gsi4sk < :bound",
            "ExpressionAttributeValues": to_attrs(
                {":pk": keys.parked_index_pk(shard), ":bound": keys.parked_due_bound(now)}
            ),
            "Limit": limit,
        }
        if start:
            request["ExclusiveStartKey"] = start
        answer = self._client.query(**request)
        found = []
        for attrs in answer.get("Items", []):
            record = from_attrs(attrs)
            try:
                message = PairMessage.model_validate_json(record["message"])
            except (KeyError, ValidationError):
                # Left for its TTL: waking it could only fail again.
                logger.error("unreadable parked pair", extra={"pk": record.get("pk"), "sk": record.get("sk")})
                continue
            found.append(ParkedPair(message, record["due_on"], record.get("reason", "")))
        return found, answer.get("LastEvaluatedKey")

    def unpark(self, pairs: Sequence[ParkedPair]) -> Counter[str]:
        """Delete the parked items of pairs that went back on the queue, each only while it still
        holds the due time that was read: a pair parked again meanwhile keeps its new item.
        Answers how many were `deleted`, `changed` (parked again, or gone) and `failed`."""

        def delete(pair: ParkedPair) -> str:
            try:
                self._client.delete_item(
                    TableName=self._table,
                    Key=to_attrs(pair.key),
                    ConditionExpression="due_on = :due",
                    ExpressionAttributeValues={":due": {"S": pair.due_on}},
                )
            except self._client.exceptions.ConditionalCheckFailedException:
                return "changed"
            except (ClientError, BotoCoreError) as exc:
                # Woken again by the next run: a duplicate message, which the consumer absorbs.
                logger.warning("parked pair not deleted", extra={"error": _error_code(exc)})
                return "failed"
            return "deleted"

        if not pairs:
            return Counter()
        with ThreadPoolExecutor(max_workers=min(_UNPARK_CONCURRENCY, len(pairs))) as pool:
            return Counter(pool.map(delete, pairs))

    # -- dead letters -----------------------------------------------------------------------------
    def subject_records(self, tenant_id: str, job_id: str, subject_id: str) -> list[dict[str, Any]]:
        """Every delivery record of one job × subject, all its webhooks and URLs (one partition),
        with the ids its key holds; counting-only items (see `_count_update`) among them. Read
        consistently: the dead-letter consumer must see what a late copy of the message just
        wrote, or it could leave a record it never saw unended."""
        request: dict[str, Any] = {
            "TableName": self._table,
            # Delivery records' sort keys start with "W#" (keys.delivery).
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :records)",
            "ExpressionAttributeValues": to_attrs(
                {":pk": keys.pair_pk(tenant_id, job_id, subject_id), ":records": "W#"}
            ),
            "ConsistentRead": True,
        }
        found: list[dict[str, Any]] = []
        while True:
            answer = self._client.query(**request)
            found += [delivery_record(from_attrs(attrs)) for attrs in answer.get("Items", [])]
            if "LastEvaluatedKey" not in answer:
                return found
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    # -- schedules --------------------------------------------------------------------------------
    def put_schedule(self, tenant_id: str, record: dict[str, Any]) -> bool:
        """Record a schedule; False when the tenant has one of that name already."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item=to_attrs({**keys.schedule(tenant_id, record["name"]), **record}),
                ConditionExpression="attribute_not_exists(pk)",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def list_schedules(self, tenant_id: str) -> list[dict[str, Any]]:
        return list(self._query("pk = :pk", {":pk": keys.schedules_pk(tenant_id)}))

    def delete_schedule(self, tenant_id: str, name: str) -> bool:
        return self._delete(keys.schedule(tenant_id, name))

    # -- rate budgets (delivery/pacing.py) --------------------------------------------------------
    def restart_budget(
        self, key: Mapping[str, str], tat_us: int, now_us: int, expires_at: int
    ) -> BudgetAnswer:
        """Start an idle budget (no item, or its next free slot passed) over: its next free slot
        becomes `tat_us`."""
        return self._budget_write(
            key,
            "SET #t = :tat, expires_at = :expires",
            "attribute_not_exists(#t) OR #t < :now",
            {":tat": tat_us, ":now": now_us, ":expires": expires_at},
        )

    def extend_budget(
        self, key: Mapping[str, str], add_us: int, now_us: int, latest_us: int, expires_at: int
    ) -> BudgetAnswer:
        """Move a busy budget's next free slot on by `add_us`, only while it lies between `now_us`
        and `latest_us` (so the slots taken all fit); applied atomically, like ADD."""
        return self._budget_write(
            key,
            "SET #t = #t + :add, expires_at = :expires",
            "#t BETWEEN :now AND :latest",
            {":add": add_us, ":now": now_us, ":latest": latest_us, ":expires": expires_at},
        )

    def _budget_write(
        self, key: Mapping[str, str], update: str, condition: str, values: dict[str, Any]
    ) -> BudgetAnswer:
        """One conditional UpdateItem of a budget item (about 90 bytes: 1 write unit, refused or
        not). A refusal answers the item as it is (ReturnValuesOnConditionCheckFailure), so the
        next write needs no read."""
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key=to_attrs(dict(key)),
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#t": "tat"},
                ExpressionAttributeValues=to_attrs(values),
                ReturnValues="UPDATED_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            found = exc.response.get("Item") or {}
            return BudgetAnswer(False, int(found["tat"]["N"]) if "tat" in found else None)
        return BudgetAnswer(True, int(answer["Attributes"]["tat"]["N"]))

    def slow_webhook(
        self, tenant_id: str, webhook_id: str, per_second: float, now_ms: int, taken_ms: int
    ) -> bool:
        """Record a 429/503's halving on the webhook's record (`paced_per_second`, `paced_on`),
        unless it was halved at or after `taken_ms`, when the answering request was paced: the
        answers to requests sent at the old pace halve it once. False when not written (halved
        meanwhile, or the webhook is gone)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=to_attrs(keys.webhook(tenant_id, webhook_id)),
                UpdateExpression="SET paced_per_second = :rate, paced_on = :now",
                ConditionExpression=(
                    "attribute_exists(pk) AND (attribute_not_exists(paced_on) OR paced_on < :taken)"
                ),
                ExpressionAttributeValues=to_attrs(
                    {":rate": Decimal(f"{per_second:.6f}"), ":now": now_ms, ":taken": taken_ms}
                ),
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def pull_budget(self, key: Mapping[str, str], tat_us: int) -> bool:
        """Bring a budget's next free slot back to `tat_us` if it lies beyond (after a halving, the
        slots reserved at the old pace are given up and taken again at the new one)."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=to_attrs(dict(key)),
                UpdateExpression="SET #t = :tat",
                ConditionExpression="#t > :tat",
                ExpressionAttributeNames={"#t": "tat"},
                ExpressionAttributeValues=to_attrs({":tat": tat_us}),
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True
