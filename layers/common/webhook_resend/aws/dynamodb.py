"""The DynamoDB adapter: records in and out of the one table, keyed by `keys`.

Takes its client in the constructor. Payloads and free-form JSON are stored as JSON strings, so
nothing a tenant sends is subject to DynamoDB's number and empty-value rules.

The exactly-once commit protocol (`Store.commit`), which keeps `delivered + failed + cancelled +
pending == total_queued` however often SQS delivers a message and wherever a Lambda dies:
1. One TransactWriteItems per job chunk: the pairs' delivery records and one aggregated `ADD` of
   the job's counters for the pairs that just ended.
2. A pair counts on its first delivery record (URL index 0): its `counted` attribute is set under
   `attribute_not_exists`, in that record's Put, or else in an Update of that record alone.
3. A record that reached `delivered`/`failed`/`cancelled` is never rewritten (a late duplicate is
   refused).
4. A cancelled transaction is retried without the items whose condition failed (already done);
   a refused first-record Put becomes the counting Update, so an ended pair counts once, not never.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from webhook_resend import clock
from webhook_resend.aws import keys
from webhook_resend.models import progress
from webhook_resend.models.messages import PageMessage, PairMessage
from webhook_resend.models.records import (
    CANCELLED,
    PAUSED,
    RUNNING_STATUSES,
    SELECTED,
    SELECTING,
    ContentItem,
    Delivery,
    EventDelivery,
    Job,
    Selection,
    Task,
    Walk,
    Webhook,
    job_status,
)
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
_NOT_TERMINAL = "(attribute_not_exists(pk) OR NOT (#s IN (:delivered, :failed, :cancelled)))"
_TERMINAL_VALUES = {
    ":delivered": {"S": "delivered"},
    ":failed": {"S": "failed"},
    ":cancelled": {"S": "cancelled"},
}
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
# -- a job's progress counters (issue 15), moved by the commit's counter update --------------------
# Pairs ended in one 10-second window (models/progress.py): `ended_w<window>`; the counter update
# adds to its window's and removes the minute before the one `rate` reads.
ENDED_PREFIX = "ended_w"
# Failed pairs by cause (`cause:404`, `cause:timeout`): the completion event's top five.
CAUSE_PREFIX = "cause:"
# Set once, under a condition, by whoever sends the event that ends a job (resend.completed, ...):
# the job's end is announced exactly once.
END_NOTIFIED = "end_notified"
# The parking reason of a pair its paused job holds (delivery/parking.py): parked under its job.
HELD_REASON = "paused"


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
    terminal: str | None  # "delivered" | "failed" | "cancelled" | None (still retrying)
    cause: str | None = None  # why a failed pair failed (models/progress.py); else read from records

    def failure_cause(self) -> str:
        return self.cause or progress.pair_cause(self.records)


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


class DeadlinePassed(Exception):
    """A read given a deadline ran past it; `read`: what it had read (counted) by then."""

    def __init__(self, read: int) -> None:
        super().__init__(read)
        self.read = read


@dataclass(frozen=True)
class Outbox:
    """What a job's start still has to queue (see resends/outbox.py): `body`, its fan-out messages
    as JSON text, written with the job and deleted once they are queued; due for the waker's sweep
    at `due_on`, should the start die first."""

    tenant_id: str
    job_id: str
    due_on: str  # canonical time
    body: str
    expires_at: int = 0  # TTL (epoch seconds); 0 when read back

    def record(self) -> dict[str, Any]:
        ids = (self.tenant_id, self.job_id)
        return {
            **keys.outbox(*ids),
            "gsi4pk": keys.outbox_index_pk(keys.outbox_shard(*ids)),
            "gsi4sk": keys.outbox_index_sk(self.due_on, *ids),
            # `message` and `due_on`: the attributes the index projects (as for parked pairs).
            "message": self.body,
            "due_on": self.due_on,
            "expires_at": self.expires_at,
        }


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


def item_record(tenant_id: str, item: ContentItem) -> dict[str, Any]:
    """A content item as the table stores it: its keys, its entry in the items index (the index
    projects the filterable attributes) and its payload as JSON text."""
    return {
        **keys.item(tenant_id, item.id),
        "gsi1pk": keys.items_index_pk(tenant_id),
        "gsi1sk": keys.items_index_sk(item.created_on, item.id),
        **item.model_dump(exclude={"payload"}),
        "payload": json.dumps(item.payload, separators=(",", ":")),
    }


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


def ended_windows(record: dict[str, Any]) -> dict[int, int]:
    """The job item's pairs ended per 10-second window."""
    return {
        int(name.removeprefix(ENDED_PREFIX)): int(value)
        for name, value in record.items()
        if name.startswith(ENDED_PREFIX) and name.removeprefix(ENDED_PREFIX).isdigit()
    }


def failure_causes(record: dict[str, Any]) -> dict[str, int]:
    """The job item's failed pairs by cause."""
    return {
        name.removeprefix(CAUSE_PREFIX): int(v) for name, v in record.items() if name.startswith(CAUSE_PREFIX)
    }


def _progress(record: dict[str, Any], status: str, pending: int) -> dict[str, Any]:
    """`rate` and `eta` of a job item, as of now; both None unless the job is running."""
    if status not in RUNNING_STATUSES:
        return {"rate": None, "eta": None}
    now = clock.now().timestamp()
    per_second = progress.rate(ended_windows(record), now, clock.parse(record["created_on"]).timestamp())
    return {"rate": round(per_second, 3), "eta": progress.eta(pending, per_second, running=True)}


def status_of(record: Mapping[str, Any]) -> str:
    """A job item's status, derived from its stored state and counters (models.records.job_status)."""
    return job_status(
        int(record.get("pending", 0)),
        record.get("state"),
        int(record.get("total_queued", 0)),
        int(record.get("taken_back", 0)),
    )


def _job_from(record: dict[str, Any]) -> Job:
    counts = {
        k: int(record.get(k, 0)) for k in ("total_queued", "delivered", "failed", "cancelled", "pending")
    }
    status = status_of(record)
    # Derived, not written by a separate update: no window where a job is completed without its
    # completion time, which is its last count or the end of its selection, whichever came last
    # (for a cancelled job, once nothing is pending: its last count or the cancel).
    completed_on = record.get("completed_on")
    ended = status in ("completed", "rejected") or (status == CANCELLED and counts["pending"] <= 0)
    if completed_on is None and ended:
        completed_on = max(
            (record[k] for k in ("last_counted_on", "selected_on", "cancelled_on") if record.get(k)),
            default=None,
        )
    return Job(
        id=record["id"],
        source=record["source"],
        event=record.get("event"),
        status=status,  # type: ignore[arg-type]
        created_on=record["created_on"],
        completed_on=completed_on,
        total_items=int(record.get("total_items", 0)),
        reason=record.get("reason"),
        paused_on=record.get("paused_on"),
        cancelled_on=record.get("cancelled_on"),
        **counts,
        **_progress(record, status, counts["pending"]),
    )


def _event_from(record: dict[str, Any]) -> EventDelivery:
    fields = {k: v for k, v in record.items() if k in EventDelivery.model_fields}
    return EventDelivery.model_validate({**fields, "event": json.loads(record.get("event") or "{}")})


def job_document(record: dict[str, Any]) -> Job:
    """The job document of a job item as stored (see `Store.job_record`)."""
    return _job_from(record)


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


# -- a job's asynchronous selection (resends/selections.py): where it stands, on its job record ---
# The job's status while it selects, and where its walk stands (models.records.Walk).
_WALK_ATTRIBUTES = {"state", "walk_step", "walk_phase", "walk_owner", "walk_cursor", "selected_count"}
# Job list filters by status (GET /resends): the status is derived from the stored state and the
# counters (models.records.job_status), so each is a FilterExpression over both.
_ENDED = "(attribute_not_exists(#state) OR #state = :selected)"
_ALL_TAKEN_BACK = f"({_ENDED} AND total_queued <= :zero AND taken_back > :zero)"
_STATUS_FILTERS = {
    "selecting": "#state = :selecting",
    "running": f"{_ENDED} AND pending > :zero",
    "completed": f"{_ENDED} AND pending <= :zero AND NOT {_ALL_TAKEN_BACK}",
    "rejected": f"#state = :rejected OR {_ALL_TAKEN_BACK}",
    "paused": "#state = :paused",
    "cancelled": "#state = :cancelled",
}
_JOB_LIST_READ = 200  # entries a filtered job list reads per Query
_JOB_LIST_QUERIES = 5  # Queries one filtered page may take: at most 1,000 jobs read
_MARKER_CONCURRENCY = 16


def _walk_attributes(walk: Walk) -> dict[str, Any]:
    # What it selects is an item of its own (keys.selection): a filter may hold an `in` of a
    # thousand values, and the job record, rewritten by every consumer batch that counts, and
    # read by every GET /resends/{id}, stays small.
    return {
        "state": walk.state,
        "walk_step": walk.step,
        "walk_phase": walk.phase,
        "selected_count": walk.counted,
    }


def _walk_from(record: dict[str, Any], selection: dict[str, Any]) -> Walk:
    cursor = record.get("walk_cursor")
    return Walk(
        state=record.get("state"),
        step=int(record.get("walk_step", 0)),
        phase=record.get("walk_phase", "count"),
        owner=record.get("walk_owner"),
        cursor=json.loads(cursor) if cursor else None,
        counted=int(record.get("selected_count", 0)),
        selection=Selection.model_validate_json(selection["selection"]),
    )


def _cancelled_by_condition(exc: Exception) -> bool:
    reasons = getattr(exc, "response", {}).get("CancellationReasons") or []
    return any(r.get("Code") == "ConditionalCheckFailed" for r in reasons)


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
        return self._put(item_record(tenant_id, item)) is None

    def put_items(self, tenant_id: str, items: Sequence[ContentItem]) -> set[str]:
        """Store the items (ids unique), 25 a BatchWriteItem, in the record `put_item` writes;
        answer the ids not written (unprocessed through every retry, or DynamoDB unavailable).

        Unprocessed items are asked again with backoff. A call that fails (after botocore's own
        retries) leaves its chunk and every later one unwritten: the caller says which.
        """
        unwritten = self._batch_put(
            [to_attrs(item_record(tenant_id, i)) for i in items],
            rounds=_READ_ROUNDS,
            pause=_pause,
            stop_on_error=True,
            failure="item batch write failed",
            counted="items",
        )
        return {item["id"]["S"] for item in unwritten}

    def _batch_put(
        self,
        items: list[dict[str, Any]],
        *,
        rounds: int,
        pause: Callable[[int], None],
        stop_on_error: bool,
        failure: str,
        counted: str,
    ) -> list[dict[str, Any]]:
        """Put the items (AttributeValue form, keys unique) 25 a BatchWriteItem, asking again
        for the unprocessed ones up to `rounds` times with `pause(round)` between; answer the
        items not written. A call that fails (after botocore's own retries) is logged as
        `failure` and leaves its chunk unwritten; with `stop_on_error`, once a chunk left anything
        unwritten, every later chunk is left unwritten too, unasked.
        """
        unwritten: list[dict[str, Any]] = []
        for start in range(0, len(items), _BATCH_WRITE_MAX):
            chunk = items[start : start + _BATCH_WRITE_MAX]
            if unwritten and stop_on_error:
                unwritten += chunk
                continue
            pending = [{"PutRequest": {"Item": item}} for item in chunk]
            for round_number in range(rounds):
                try:
                    answer = self._client.batch_write_item(RequestItems={self._table: pending})
                except (ClientError, BotoCoreError) as exc:
                    logger.warning(failure, extra={"error": _error_code(exc), counted: len(pending)})
                    break
                pending = answer.get("UnprocessedItems", {}).get(self._table, [])
                if not pending:
                    break
                # Unprocessed items mean the table is throttled: back off before asking again.
                pause(round_number)
            unwritten += [request["PutRequest"]["Item"] for request in pending]
        return unwritten

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
        *,
        deadline: float | None = None,
    ) -> int:
        """How many index entries pass `query_filter` (Select=COUNT: DynamoDB answers numbers,
        not entries). With `deadline` (time.monotonic()), DeadlinePassed once it has passed
        between two Queries."""
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
            if deadline is not None and time.monotonic() > deadline:
                raise DeadlinePassed(total)
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
    def put_job(
        self,
        tenant_id: str,
        job: Job,
        expires_at: int,
        walk: Walk | None = None,
        outbox: Outbox | None = None,
    ) -> bool:
        """Write a new job (with `walk`, one that selects asynchronously: see the selections block
        below; with `outbox`, what its start is about to queue, in the same transaction); False
        when a job of that id exists already."""
        record = {
            **keys.job(tenant_id, job.id),
            # The sparse index of the tenant's jobs, newest first (GET /resends).
            "gsi5pk": keys.jobs_index_pk(tenant_id),
            "gsi5sk": keys.jobs_index_sk(job.created_on, job.id),
            **job.model_dump(exclude={"status", "rate", "eta"}),  # status, rate, eta: derived on read
            **(_walk_attributes(walk) if walk else {}),
            "expires_at": expires_at,
        }
        beside = []
        if walk is not None:
            beside.append(
                {
                    **keys.selection(tenant_id, job.id),
                    "selection": walk.selection.model_dump_json(),
                    "expires_at": expires_at,
                }
            )
        if outbox is not None:
            beside.append(outbox.record())
        if beside:
            return self._put_new([record, *beside])
        try:
            self._client.put_item(
                TableName=self._table, Item=to_attrs(record), ConditionExpression="attribute_not_exists(pk)"
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def _put_new(self, records: Sequence[dict[str, Any]]) -> bool:
        """A job and the items beside it, all new, in one transaction; False when one exists."""
        new = "attribute_not_exists(pk)"
        try:
            self._client.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": self._table, "Item": to_attrs(r), "ConditionExpression": new}}
                    for r in records
                ]
            )
        except self._client.exceptions.TransactionCanceledException as exc:
            if _cancelled_by_condition(exc):
                return False
            raise
        return True

    def get_job(self, tenant_id: str, job_id: str) -> Job | None:
        record = self._get(keys.job(tenant_id, job_id), consistent=True)
        return _job_from(record) if record else None

    def unqueue(self, tenant_id: str, job_id: str, count: int, reason: str, *, outbox: bool = False) -> None:
        """Take pairs that could not be queued out of the job, so its counters stay true, saying
        why (`taken_back` counts them: a job that queued none is rejected); with `outbox`, delete
        the job's outbox in the same transaction (its sweep must never queue pairs the job no
        longer counts)."""
        if count <= 0:
            if outbox:
                self.drop_outbox(tenant_id, job_id)
            return
        update = self._take_back_update(tenant_id, job_id, count, reason, clock.now_text())
        if not outbox:
            self._client.update_item(**update)
            return
        delete = {"TableName": self._table, "Key": to_attrs(keys.outbox(tenant_id, job_id))}
        self._client.transact_write_items(TransactItems=[{"Update": update}, {"Delete": delete}])

    def _take_back_update(
        self, tenant_id: str, job_id: str, count: int, reason: str, now: str
    ) -> dict[str, Any]:
        """The job's update for `count` pairs SQS refused: out of its counts, counted in
        `taken_back` (all of them: the job is rejected), `reason` saying so."""
        return {
            "TableName": self._table,
            "Key": to_attrs(keys.job(tenant_id, job_id)),
            "UpdateExpression": "ADD total_queued :minus, pending :minus, taken_back :count "
            "SET reason = :reason, last_counted_on = :now",
            "ExpressionAttributeValues": to_attrs(
                {":minus": -count, ":count": count, ":reason": reason, ":now": now}
            ),
        }

    # -- outboxes (resends/outbox.py) -------------------------------------------------------------
    def drop_outbox(self, tenant_id: str, job_id: str) -> bool:
        """Delete the job's outbox: its start queued what it held. False when the delete failed
        (the sweep then queues it again, later: duplicates the consumer absorbs)."""
        try:
            self._client.delete_item(TableName=self._table, Key=to_attrs(keys.outbox(tenant_id, job_id)))
        except (ClientError, BotoCoreError) as exc:
            logger.warning("outbox not deleted", extra={"job_id": job_id, "error": _error_code(exc)})
            return False
        return True

    def replace_outbox(self, outbox: Outbox) -> None:
        """Write the job's outbox anew (what its start has still to queue changed)."""
        self._client.put_item(TableName=self._table, Item=to_attrs(outbox.record()))

    def get_outbox(self, tenant_id: str, job_id: str) -> Outbox | None:
        record = self._get(keys.outbox(tenant_id, job_id), consistent=True)
        if record is None:
            return None
        return Outbox(tenant_id, job_id, record["due_on"], record["message"])

    def due_outboxes(
        self, shard: int, now: str, limit: int, start: dict[str, Any] | None = None
    ) -> tuple[list[Outbox], dict[str, Any] | None]:
        """One page of a shard's outboxes due at or before `now`, soonest first, and where the
        next page starts."""
        request = self._due_request(keys.outbox_index_pk(shard), now, limit)
        if start:
            request["ExclusiveStartKey"] = start
        answer = self._client.query(**request)
        found = []
        for attrs in answer.get("Items", []):
            record = from_attrs(attrs)
            tenant_id, _, job_id = str(record["pk"]).partition("#JOB#")
            found.append(Outbox(tenant_id, job_id, record["due_on"], record["message"]))
        return found, answer.get("LastEvaluatedKey")

    def sweep_outbox(self, outbox: Outbox) -> bool:
        """Delete an outbox its sweep queued, only while it holds the due time that was read;
        False when it changed or went meanwhile."""
        try:
            self._client.delete_item(
                TableName=self._table,
                Key=to_attrs(keys.outbox(outbox.tenant_id, outbox.job_id)),
                ConditionExpression="due_on = :due",
                ExpressionAttributeValues={":due": {"S": outbox.due_on}},
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # -- deliveries -------------------------------------------------------------------------------
    def get_records(self, key_list: Sequence[dict[str, str]]) -> dict[tuple[str, str], dict[str, Any]]:
        return {(r["pk"], r["sk"]): r for r in self.batch_get(key_list)}

    def deactivate_webhook(self, tenant_id: str, webhook_id: str) -> Webhook | None:
        """Turn the webhook inactive; the webhook when this call did (not when it was inactive
        already, or deleted meanwhile, which has nothing to deactivate): its `webhook.deactivated`
        event is sent once."""
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key=to_attrs(keys.webhook(tenant_id, webhook_id)),
                UpdateExpression="SET active = :false",
                ConditionExpression="attribute_exists(pk) AND active = :true",
                ExpressionAttributeValues=to_attrs({":false": False, ":true": True}),
                ReturnValues="ALL_NEW",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return None
        return _webhook_from(from_attrs(answer["Attributes"]))[0]

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
        self,
        tenant_id: str,
        job_id: str,
        delivered: int,
        failed: int,
        when: str,
        causes: Mapping[str, int] | None = None,
        cancelled: int = 0,
    ) -> dict[str, Any]:
        ended = delivered + failed + cancelled
        adds = ["delivered :d", "failed :f", "pending :p"]
        values: dict[str, Any] = {":d": delivered, ":f": failed, ":p": -ended, ":when": when}
        if cancelled:
            adds.append("cancelled :c")
            values[":c"] = cancelled
        # -- progress (issue 15): the pairs ended in this window, failed pairs by cause; the windows
        # of the minute before the one `rate` reads are removed (models/progress.py), so the item
        # keeps at most a minute of windows while pairs keep ending. Same update: no extra write.
        names: dict[str, str] = {}
        window = progress.window_of(clock.parse(when).timestamp())
        names["#ew"] = f"{ENDED_PREFIX}{window}"
        adds.append("#ew :ended")
        values[":ended"] = ended
        for i, (cause, count) in enumerate(sorted((causes or {}).items())):
            names[f"#fc{i}"] = f"{CAUSE_PREFIX}{cause}"
            adds.append(f"#fc{i} :fc{i}")
            values[f":fc{i}"] = count
        stale = []
        for i, old in enumerate(progress.stale_windows(window)):
            names[f"#ow{i}"] = f"{ENDED_PREFIX}{old}"
            stale.append(f"#ow{i}")
        expression = f"ADD {', '.join(adds)} SET last_counted_on = :when REMOVE {', '.join(stale)}"
        return {
            "Update": {
                "TableName": self._table,
                "Key": to_attrs(keys.job(tenant_id, job_id)),
                # The time of the last count is the completion time once nothing is pending.
                "UpdateExpression": expression,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": to_attrs(values),
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
            cancelled = sum(1 for _, o, counts in operations if counts and o.terminal == "cancelled")
            causes = Counter(
                o.failure_cause() for _, o, counts in operations if counts and o.terminal == "failed"
            )
            items = [op for op, _, _ in operations]
            if delivered or failed or cancelled:
                items.append(
                    self._counter_update(tenant_id, job_id, delivered, failed, when, causes, cancelled)
                )
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

    def _failed_request(
        self,
        key_condition: str,
        values: dict[str, Any],
        webhook_ids: Sequence[str],
        event: str | None,
        of_job: str | None = None,
    ) -> dict[str, Any]:
        """A Query of the failed-deliveries index, narrowed by DynamoDB to `webhook_ids`, `event`
        and the job `of_job`.

        Records do not repeat the ids their key holds; the index's sort key holds the job and
        webhook ids between separators (keys.failed_index_sk), where no other id of the same
        record can equal them (distinct random UUIDs, or "callback")."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": keys.FAILED_INDEX,
            "KeyConditionExpression": key_condition,
        }
        values = dict(values)
        conditions = []
        if webhook_ids:
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
        if of_job:
            conditions.append("contains(gsi3sk, :job)")
            values[":job"] = f"#{of_job}#"
        if conditions:
            request["FilterExpression"] = " AND ".join(conditions)
        request["ExpressionAttributeValues"] = to_attrs(values)
        return request

    def failed_since(
        self,
        tenant_id: str,
        since: str,
        *,
        webhook_ids: Sequence[str] = (),
        event: str | None = None,
        of_job: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """The tenant's delivery records that ended failed at or after `since` (an index Query),
        narrowed by DynamoDB to `webhook_ids`, `event` and the job `of_job` when given."""
        request = self._failed_request(
            "gsi3pk = :pk AND gsi3sk >= :since",
            {":pk": keys.failed_index_pk(tenant_id), ":since": since},
            webhook_ids,
            event,
            of_job,
        )
        while True:
            answer = self._client.query(**request)
            for attrs in answer.get("Items", []):
                yield delivery_record(from_attrs(attrs))
            if "LastEvaluatedKey" not in answer:
                return
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    # -- a job's end, announced once (issue 15) ----------------------------------------------------
    def job_record(self, tenant_id: str, job_id: str) -> dict[str, Any] | None:
        """The job item as stored (counters, progress windows, causes), read consistently: a
        batch that just moved its counters must see its own write."""
        return self._get(keys.job(tenant_id, job_id), consistent=True)

    def claim_job_end(
        self,
        tenant_id: str,
        job_id: str,
        event_type: str,
        when: str,
        *,
        drained: bool,
        record: dict[str, Any],
        windows: Sequence[int] = (),
        running: bool = False,
    ) -> dict[str, Any] | None:
        """Mark the job's end announced (`end_notified`), only if no one has and, with `drained`,
        only while nothing is pending; the job item after the write when this call won, else None.
        Of two batches that finish a job at once, exactly one wins. The progress windows of
        `record` (the item as read) are removed, and those of `windows` (the windows commits may
        have written since it was read; removing one that is not there is no error): a job that
        ended shows no rate. With `running`, only while the job is running (not selecting,
        paused or cancelled): a claim made on a read older than the last counts."""
        condition = f"attribute_exists(created_on) AND attribute_not_exists({END_NOTIFIED})"
        values: dict[str, Any] = {":type": event_type, ":when": when}
        if drained:
            condition += " AND pending <= :zero"
            values[":zero"] = 0
        ended = [n for n in record if n.startswith(ENDED_PREFIX)]
        ended += [f"{ENDED_PREFIX}{w}" for w in windows if f"{ENDED_PREFIX}{w}" not in record]
        names = {f"#ow{i}": name for i, name in enumerate(ended)}
        if running:
            condition += " AND (attribute_not_exists(#state) OR #state = :selected)"
            names["#state"] = "state"
            values[":selected"] = SELECTED
        expression = f"SET {END_NOTIFIED} = :type, end_notified_on = :when"
        if ended:
            expression += " REMOVE " + ", ".join(n for n in names if n.startswith("#ow"))
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key=to_attrs(keys.job(tenant_id, job_id)),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeValues=to_attrs(values),
                **({"ExpressionAttributeNames": names} if names else {}),
                ReturnValues="ALL_NEW",
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return None
        return from_attrs(answer["Attributes"])

    # -- a job's controls (resends/control.py): one conditional write each, whatever its size -------
    def control_job(
        self, tenant_id: str, job_id: str, move: str, when: str
    ) -> tuple[dict[str, Any] | None, bool]:
        """Apply `move` (pause, resume or cancel) to the job in one conditional UpdateItem:
        * pause, from selecting or running: `state` paused, the state it left kept in `paused_from`;
        * resume, from paused: `state` back to what it left (selecting, or selected: running);
        * cancel, from selecting, running or paused: `state` cancelled, for good.
        Answers (the item after the write, True) when the job moved, (the item as found, False)
        when the condition refused it ((None, False): no such job)."""
        running = "((attribute_not_exists(#state) OR #state = :selected) AND pending > :zero)"
        values: dict[str, Any] = {":now": when}
        if move == "pause":
            # paused_from first: moto applies SET actions in order (DynamoDB reads the old item).
            expression = (
                "SET paused_from = if_not_exists(#state, :selected), #state = :paused, paused_on = :now"
            )
            condition = f"#state = :selecting OR {running}"
            values.update({":selecting": SELECTING, ":selected": SELECTED, ":paused": PAUSED, ":zero": 0})
        elif move == "resume":
            expression = "SET #state = paused_from, resumed_on = :now REMOVE paused_from"
            condition = "#state = :paused AND attribute_exists(paused_from)"
            values[":paused"] = PAUSED
        elif move == "cancel":
            expression = "SET #state = :cancelled, cancelled_on = :now REMOVE paused_from"
            condition = f"#state IN (:selecting, :paused) OR {running}"
            values.update(
                {
                    ":selecting": SELECTING,
                    ":selected": SELECTED,
                    ":paused": PAUSED,
                    ":cancelled": CANCELLED,
                    ":zero": 0,
                }
            )
        else:
            raise ValueError(f"unknown move {move!r}")
        try:
            answer = self._client.update_item(
                TableName=self._table,
                Key=to_attrs(keys.job(tenant_id, job_id)),
                UpdateExpression=expression,
                ConditionExpression=f"attribute_exists(created_on) AND ({condition})",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=to_attrs(values),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except self._client.exceptions.ConditionalCheckFailedException as exc:
            found = exc.response.get("Item")
            if not found or "created_on" not in found:
                return None, False
            return from_attrs(found), False
        return from_attrs(answer["Attributes"]), True

    # -- tenant settings (issue 15) ----------------------------------------------------------------
    def set_notify_url(self, tenant_id: str, url: str | None) -> bool:
        """Set (or, with None, clear) the tenant's notify_url; False when the tenant is gone."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=to_attrs(keys.tenant(tenant_id)),
                UpdateExpression="SET notify_url = :url" if url else "REMOVE notify_url",
                ConditionExpression="attribute_exists(pk)",
                **({"ExpressionAttributeValues": to_attrs({":url": url})} if url else {}),
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    # -- operational events (issue 15): their delivery records, never counted in a job --------------
    def _event_item(self, tenant_id: str, record: EventDelivery, expires_at: int) -> dict[str, Any]:
        return to_attrs(
            {
                **keys.event(tenant_id, record.created_on, record.id),
                **record.model_dump(exclude={"event"}, exclude_none=True),
                "event": json.dumps(record.event, separators=(",", ":")),
                "expires_at": expires_at,
            }
        )

    def put_event(self, tenant_id: str, record: EventDelivery, expires_at: int) -> None:
        self._client.put_item(
            TableName=self._table,
            Item=self._event_item(tenant_id, record, expires_at),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def get_event(self, tenant_id: str, created_on: str, event_id: str) -> EventDelivery | None:
        record = self._get(keys.event(tenant_id, created_on, event_id), consistent=True)
        return _event_from(record) if record else None

    def save_event(self, tenant_id: str, record: EventDelivery, expires_at: int) -> bool:
        """Write an attempt's result; False when the record had ended already (a duplicate of its
        message ran first): an ended record is never rewritten."""
        try:
            self._client.put_item(
                TableName=self._table,
                Item=self._event_item(tenant_id, record, expires_at),
                **_RECORD_CONDITION,
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def list_events(
        self, tenant_id: str, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[EventDelivery], dict[str, Any] | None]:
        """The tenant's operational events, newest first (a Query of its events partition)."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": to_attrs({":pk": keys.events_pk(tenant_id)}),
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if cursor:
            request["ExclusiveStartKey"] = cursor
        answer = self._client.query(**request)
        return [_event_from(from_attrs(a)) for a in answer.get("Items", [])], answer.get("LastEvaluatedKey")

    # -- parked pairs -----------------------------------------------------------------------------
    def park(self, pairs: Sequence[ParkedPair], parked_on: str) -> list[ParkedPair]:
        """Write each pair's parked item, 25 a BatchWriteItem; answer the pairs not written.

        One item per pair (beside its delivery records): parking a pair again replaces it. It is
        also an entry of the sparse, sharded index `parked_by_due`, where the waker finds it.
        """
        unique = {(p.key["pk"], p.key["sk"]): p for p in pairs}
        # botocore has retried a call that fails already: its pairs stay on the queue instead.
        unwritten = self._batch_put(
            [self._parked_item(p, parked_on) for p in unique.values()],
            rounds=_PARK_ROUNDS,
            pause=lambda round_number: time.sleep(0.05 * 2**round_number),
            stop_on_error=False,
            failure="parking failed",
            counted="pairs",
        )
        return [unique[(item["pk"]["S"], item["sk"]["S"])] for item in unwritten]

    def _parked_item(self, pair: ParkedPair, parked_on: str) -> dict[str, Any]:
        m = pair.message
        ids = (m.tenant_id, m.job_id, m.subject_id, m.webhook_id)
        shard = keys.parked_shard(*ids)
        # A pair its paused job holds is found under the job (resume, cancel), never by the waker.
        index_pk = (
            keys.held_index_pk(m.tenant_id, m.job_id, shard)
            if pair.reason == HELD_REASON
            else keys.parked_index_pk(shard)
        )
        return to_attrs(
            {
                **pair.key,
                "gsi4pk": index_pk,
                "gsi4sk": keys.parked_index_sk(pair.due_on, *ids),
                # Under its job too, whatever the reason: where a cancel's walk finds it.
                "gsi6pk": keys.parked_job_index_pk(m.tenant_id, m.job_id, shard),
                "gsi6sk": keys.parked_job_index_sk(m.subject_id, m.webhook_id),
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
        return self._parked_page(self._due_request(keys.parked_index_pk(shard), now, limit), start)

    def _due_request(self, index_pk: str, now: str, limit: int) -> dict[str, Any]:
        """A Query of one partition of `parked_by_due` for what is due at or before `now`."""
        return {
            "TableName": self._table,
            "IndexName": keys.PARKED_INDEX,
            "KeyConditionExpression": "gsi4pk = :pk AND gsi4sk < :bound",
            "ExpressionAttributeValues": to_attrs({":pk": index_pk, ":bound": keys.parked_due_bound(now)}),
            "Limit": limit,
        }

    def held_parked(
        self, tenant_id: str, job_id: str, shard: int, limit: int, start: dict[str, Any] | None = None
    ) -> tuple[list[ParkedPair], dict[str, Any] | None]:
        """One page of the pairs a paused job holds in one shard (a Query of the job's own index
        partition), and where the next page starts."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": keys.PARKED_INDEX,
            "KeyConditionExpression": "gsi4pk = :pk",
            "ExpressionAttributeValues": to_attrs({":pk": keys.held_index_pk(tenant_id, job_id, shard)}),
            "Limit": limit,
        }
        return self._parked_page(request, start)

    def job_parked(
        self, tenant_id: str, job_id: str, shard: int, limit: int, start: dict[str, Any] | None = None
    ) -> tuple[list[ParkedPair], dict[str, Any] | None]:
        """One page of every pair the job has parked in one shard, whatever the reason (held by a
        pause, or waiting for a backoff, a deferral or a rate limit): a Query of the job's own
        partition of `parked_by_job`, and where the next page starts."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": keys.PARKED_JOB_INDEX,
            "KeyConditionExpression": "gsi6pk = :pk",
            "ExpressionAttributeValues": to_attrs(
                {":pk": keys.parked_job_index_pk(tenant_id, job_id, shard)}
            ),
            "Limit": limit,
        }
        return self._parked_page(request, start)

    def _parked_page(
        self, request: dict[str, Any], start: dict[str, Any] | None
    ) -> tuple[list[ParkedPair], dict[str, Any] | None]:
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

    # -- selections: a job's asynchronous walk (resends/selections.py) ----------------------------
    def get_walk(self, tenant_id: str, job_id: str) -> tuple[Job, Walk | None] | None:
        """The job and where its selection stands (None for a job selected at once), read
        consistently; None when there is no such job."""
        record = self._get(keys.job(tenant_id, job_id), consistent=True)
        if record is None:
            return None
        if "walk_step" not in record:
            return _job_from(record), None
        selection = self._get(keys.selection(tenant_id, job_id), consistent=True)
        return _job_from(record), (_walk_from(record, selection) if selection else None)

    def claim_step(
        self,
        tenant_id: str,
        job_id: str,
        step: int,
        owner: str,
        *,
        phase: str,
        cursor: dict[str, Any] | None,
        items: int = 0,
        pairs: int = 0,
        counted: int = 0,
        page: PageMessage | None = None,
        end: str | None = None,
        reason: str | None = None,
        expires_at: int = 0,
    ) -> bool:
        """Claim step `step` of a job's selection for the message `owner` (see Walk.action_for):
        one write moves the walk to the next step, where `cursor` says it starts, and counts
        what this step selected (`items`, `pairs`; the count phase's `counted`) before any of it
        is sent. With `page`, the step's pairs are kept beside the job in the same transaction,
        so a redelivered step sends exactly those. With `end` (a state: selected or rejected),
        the selection ends here. False when this was not the step to claim (nothing written)."""
        now = clock.now_text()
        names = {"#state": "state"}
        values: dict[str, Any] = {
            ":step": step,
            ":next": step + 1,
            ":owner": owner,
            ":phase": phase,
            ":selecting": SELECTING,
            ":items": items,
            ":pairs": pairs,
            ":counted": counted,
        }
        sets = ["walk_step = :next", "walk_owner = :owner", "walk_phase = :phase"]
        removes = []
        if cursor is None:
            removes.append("walk_cursor")
        else:
            sets.append("walk_cursor = :cursor")
            values[":cursor"] = json.dumps(cursor, separators=(",", ":"))
        if end is not None:
            sets += ["#state = :end", "selected_on = :now"]
            values.update({":end": end, ":now": now})
            if end != SELECTING and reason is not None:
                sets.append("reason = :reason")
                values[":reason"] = reason
            if end == "rejected":
                sets.append("completed_on = :now")
        expression = "SET " + ", ".join(sets)
        expression += " ADD total_items :items, total_queued :pairs, pending :pairs, selected_count :counted"
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        update = {
            "TableName": self._table,
            "Key": to_attrs(keys.job(tenant_id, job_id)),
            "UpdateExpression": expression,
            "ConditionExpression": "walk_step = :step AND #state = :selecting",
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": to_attrs(values),
        }
        if page is None:
            try:
                self._client.update_item(**update)
            except self._client.exceptions.ConditionalCheckFailedException:
                return False
            return True
        kept = {
            **keys.selection_step(tenant_id, job_id, step),
            "page": page.model_dump_json(),
            "publishers": 1,
            "expires_at": expires_at,
        }
        put = {
            "TableName": self._table,
            "Item": to_attrs(kept),
            "ConditionExpression": "attribute_not_exists(pk)",
        }
        try:
            self._client.transact_write_items(TransactItems=[{"Update": update}, {"Put": put}])
        except self._client.exceptions.TransactionCanceledException as exc:
            if _cancelled_by_condition(exc):
                return False
            raise
        return True

    def get_step_page(self, tenant_id: str, job_id: str, step: int) -> tuple[PageMessage, bool] | None:
        """The pairs step `step` counted, and whether they were all settled (sent, taken back or
        ended); None for a step that kept none (a count step, or one that selected nothing)."""
        record = self._get(keys.selection_step(tenant_id, job_id, step), consistent=True)
        if record is None:
            return None
        return PageMessage.model_validate_json(record["page"]), "published_on" in record

    def begin_republish(self, tenant_id: str, job_id: str, step: int) -> bool:
        """A redelivered step is about to send its pairs again: count it among their publishers,
        so the first publisher can no longer take refused pairs back (another run may have sent
        them). False when the pairs were settled already: nothing to send."""
        try:
            self._client.update_item(
                TableName=self._table,
                Key=to_attrs(keys.selection_step(tenant_id, job_id, step)),
                UpdateExpression="ADD publishers :one",
                ConditionExpression="attribute_exists(pk) AND attribute_not_exists(published_on)",
                ExpressionAttributeValues=to_attrs({":one": 1}),
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def take_back_step(self, tenant_id: str, job_id: str, step: int, refused: int, reason: str) -> bool:
        """Take `refused` pairs of a step out of its job (SQS answered it did not take them),
        and mark the step's pairs settled, in one transaction; only while the step's first
        publisher is its only one (else another run may have sent them: False, nothing written)."""
        now = clock.now_text()
        step_update = {
            "TableName": self._table,
            "Key": to_attrs(keys.selection_step(tenant_id, job_id, step)),
            "UpdateExpression": "SET published_on = :now, taken_back = :refused",
            "ConditionExpression": "publishers = :one AND attribute_not_exists(published_on)",
            "ExpressionAttributeValues": to_attrs({":now": now, ":refused": refused, ":one": 1}),
        }
        job_update = self._take_back_update(tenant_id, job_id, refused, reason, now)
        try:
            self._client.transact_write_items(TransactItems=[{"Update": step_update}, {"Update": job_update}])
        except self._client.exceptions.TransactionCanceledException as exc:
            if _cancelled_by_condition(exc):
                return False
            raise
        return True

    def mark_step_published(self, tenant_id: str, job_id: str, step: int) -> None:
        """Every pair of the step is queued or ended: a redelivered step sends nothing again."""
        self._client.update_item(
            TableName=self._table,
            Key=to_attrs(keys.selection_step(tenant_id, job_id, step)),
            UpdateExpression="SET published_on = if_not_exists(published_on, :now)",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=to_attrs({":now": clock.now_text()}),
        )

    def end_walk(self, tenant_id: str, job_id: str, step: int, state: str, reason: str) -> bool:
        """End a selection that stands at `step` (still selecting) with `state` (selected or
        rejected) and `reason`; False when the walk is elsewhere or ended already."""
        now = clock.now_text()
        sets = "#state = :end, reason = :reason, selected_on = :now"
        if state == "rejected":
            sets += ", completed_on = :now"
        try:
            self._client.update_item(
                TableName=self._table,
                Key=to_attrs(keys.job(tenant_id, job_id)),
                UpdateExpression=f"SET {sets}",
                ConditionExpression="walk_step = :step AND #state = :selecting",
                ExpressionAttributeNames={"#state": "state"},
                ExpressionAttributeValues=to_attrs(
                    {":end": state, ":reason": reason, ":now": now, ":step": step, ":selecting": SELECTING}
                ),
            )
        except self._client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def mark_selected(
        self, tenant_id: str, job_id: str, step: int, wanted: dict[str, list[str]], expires_at: int
    ) -> dict[str, tuple[bool, list[str]]]:
        """For a resend by outcome, whose pairs may appear on several steps: mark each subject
        and its webhooks (`wanted`, subject → webhook ids) selected by `step`, unless an earlier
        step did. Answers, per subject, whether `step` is the first to select it and the webhooks
        it selected. Idempotent for a step: a redelivered step gets the same answer."""

        def mark(subject_id: str) -> tuple[str, tuple[bool, list[str]]]:
            webhook_ids = wanted[subject_id]
            names = {"#first": "first_step", **{f"#w{i}": f"W#{w}" for i, w in enumerate(webhook_ids)}}
            sets = [
                "#first = if_not_exists(#first, :step)",
                "expires_at = if_not_exists(expires_at, :expires)",
            ]
            sets += [f"#w{i} = if_not_exists(#w{i}, :step)" for i in range(len(webhook_ids))]
            answer = self._client.update_item(
                TableName=self._table,
                Key=to_attrs(keys.selection_marker(tenant_id, job_id, subject_id)),
                UpdateExpression="SET " + ", ".join(sets),
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=to_attrs({":step": step, ":expires": expires_at}),
                ReturnValues="ALL_NEW",
            )
            marked = from_attrs(answer["Attributes"])
            mine = [w for w in webhook_ids if marked.get(f"W#{w}") == step]
            return subject_id, (marked.get("first_step") == step, mine)

        if not wanted:
            return {}
        with ThreadPoolExecutor(max_workers=min(_MARKER_CONCURRENCY, len(wanted))) as pool:
            return dict(pool.map(mark, list(wanted)))

    def count_item_index_page(
        self,
        tenant_id: str,
        lo: str | None,
        hi: str | None,
        query_filter: QueryFilter | None,
        *,
        start: dict[str, Any] | None,
    ) -> tuple[int, dict[str, Any] | None]:
        """One Select=COUNT page of `count_item_index` (up to 1 MB of index read): how many
        entries of it pass the filter, and where the next page starts (None after the last)."""
        request = self._item_index_request(tenant_id, lo, hi, query_filter)
        if request is None:
            return 0, None
        request["Select"] = "COUNT"
        if start:
            request["ExclusiveStartKey"] = start
        answer = self._client.query(**request)
        return int(answer.get("Count", 0)), answer.get("LastEvaluatedKey")

    def failed_page(
        self,
        tenant_id: str,
        since: str,
        until: str,
        *,
        webhook_ids: Sequence[str] = (),
        event: str | None = None,
        of_job: str | None = None,
        start: dict[str, Any] | None = None,
        limit: int | None = None,
        count: bool = False,
    ) -> tuple[list[dict[str, Any]] | int, dict[str, Any] | None]:
        """One page of the tenant's failed delivery records from `until` back to `since`, newest
        first, narrowed by DynamoDB to `webhook_ids`, `event` and `of_job` (as `failed_since`
        does): the records (or with `count`, their number: Select=COUNT) and where the next page
        starts."""
        request = self._failed_request(
            "gsi3pk = :pk AND gsi3sk BETWEEN :since AND :until",
            {
                ":pk": keys.failed_index_pk(tenant_id),
                ":since": since,
                # '$' sorts right after the '#' that ends a record's time: every failure at `until`.
                ":until": f"{until}$",
            },
            webhook_ids,
            event,
            of_job,
        )
        request["ScanIndexForward"] = False
        if start:
            request["ExclusiveStartKey"] = start
        if limit:
            request["Limit"] = limit
        if count:
            request["Select"] = "COUNT"
        answer = self._client.query(**request)
        last = answer.get("LastEvaluatedKey")
        if count:
            return int(answer.get("Count", 0)), last
        return [delivery_record(from_attrs(a)) for a in answer.get("Items", [])], last

    # -- the tenant's jobs, newest first (GET /resends) -------------------------------------------
    def list_jobs(
        self, tenant_id: str, status: str | None, limit: int, cursor: dict[str, Any] | None
    ) -> tuple[list[Job], dict[str, Any] | None]:
        """Up to `limit` of the tenant's jobs, newest first, from the sparse index `jobs_by_tenant`
        (a Query of the tenant's partition), and where the next page starts. A status is a
        FilterExpression: a page reads at most _JOB_LIST_QUERIES Queries, so it may hold fewer
        jobs than `limit` and still have a next page."""
        request: dict[str, Any] = {
            "TableName": self._table,
            "IndexName": keys.JOBS_INDEX,
            "KeyConditionExpression": "gsi5pk = :pk",
            "ScanIndexForward": False,
        }
        values: dict[str, Any] = {":pk": keys.jobs_index_pk(tenant_id)}
        if status:
            expression = _STATUS_FILTERS[status]
            request["FilterExpression"] = expression
            request["ExpressionAttributeNames"] = {"#state": "state"}
            for name, value in {
                ":zero": 0,
                ":selected": "selected",
                ":selecting": SELECTING,
                ":rejected": "rejected",
                ":paused": "paused",
                ":cancelled": "cancelled",
            }.items():
                if name in expression:
                    values[name] = value
        request["ExpressionAttributeValues"] = to_attrs(values)
        found: list[dict[str, Any]] = []
        start = cursor
        for _ in range(_JOB_LIST_QUERIES if status else 1):
            wanted = limit - len(found)
            request["Limit"] = max(wanted, _JOB_LIST_READ) if status else wanted
            if start:
                request["ExclusiveStartKey"] = start
            answer = self._client.query(**request)
            found += [from_attrs(a) for a in answer.get("Items", [])]
            start = answer.get("LastEvaluatedKey")
            if len(found) >= limit or start is None:
                break
        if len(found) > limit:
            # Read past the page: the next one starts right after its last job.
            found = found[:limit]
            start = {name: {"S": found[-1][name]} for name in ("pk", "sk", "gsi5pk", "gsi5sk")}
        return [_job_from(record) for record in found], start

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
