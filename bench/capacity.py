"""DynamoDB capacity units computed from item sizes, by AWS's published rules, for the requests a
benchmark captured (moto answers `ConsumedCapacity` 1.0 whatever the call, so it cannot tell).

Item size: the sum, over attributes, of the name's UTF-8 length and the value's size: a string
its UTF-8 length, a binary its length, a number (its significant digits ÷ 2, rounded up) + 1, a
boolean or null 1, a set the sum of its members, a list or a map 3 + each element's size + 1
(a map's element counting its name).

Writes (on-demand write request units, the same as provisioned WCUs): 1 per KB of the item,
rounded up; an UpdateItem counts the larger of the item before and after; inside
TransactWriteItems every action counts double. Each global secondary index the item is written to
costs a write of its own of the projected size (table keys, index keys, projected attributes),
counted once (an index write is not a transactional write). Items written are taken as new (a
first attempt's records): replacing an item whose index key changes would add the index's delete.

Reads (read request units): 1 per 4 KB of an item, rounded up, half for an eventually consistent
read; BatchGetItem and GetItem charge a key that finds no item as a minimum read.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

WRITE_UNIT = 1024
READ_UNIT = 4096

Item = Mapping[str, Any]  # attribute name -> DynamoDB JSON value ({"S": ...}, {"N": ...}, ...)


def _number_size(text: str) -> int:
    digits = text.strip().lstrip("+-").lower().split("e")[0].replace(".", "").lstrip("0").rstrip("0")
    return math.ceil(max(1, len(digits)) / 2) + 1


def value_size(value: Mapping[str, Any]) -> int:
    (kind, inner), *_ = value.items()
    if kind == "S":
        return len(str(inner).encode())
    if kind == "N":
        return _number_size(str(inner))
    if kind == "B":
        return len(base64.b64decode(inner)) if isinstance(inner, str) else len(inner)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind == "SS":
        return sum(len(str(s).encode()) for s in inner)
    if kind == "NS":
        return sum(_number_size(str(n)) for n in inner)
    if kind == "BS":
        return sum(len(base64.b64decode(b)) if isinstance(b, str) else len(b) for b in inner)
    if kind == "L":
        return 3 + sum(value_size(v) + 1 for v in inner)
    if kind == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in inner.items())
    raise ValueError(f"unknown attribute type {kind!r}")


def item_size(item: Item) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    included: frozenset[str] = frozenset()

    def projected(self, item: Item, table_keys: Iterable[str]) -> dict[str, Any] | None:
        """The index entry the item makes, or None when it lacks the index's keys (sparse)."""
        if any(k not in item for k in self.keys):
            return None
        if self.projection == "ALL":
            return dict(item)
        wanted = {*table_keys, *self.keys} | (self.included if self.projection == "INCLUDE" else set())
        return {k: v for k, v in item.items() if k in wanted}


@dataclass(frozen=True)
class Table:
    keys: tuple[str, ...]
    indexes: tuple[Index, ...]

    @classmethod
    def from_template(cls, properties: Mapping[str, Any]) -> Table:
        """From an AWS::DynamoDB::Table's Properties (template.yaml's own definition)."""
        indexes = []
        for spec in properties.get("GlobalSecondaryIndexes") or []:
            projection = spec.get("Projection") or {}
            indexes.append(
                Index(
                    spec["IndexName"],
                    tuple(k["AttributeName"] for k in spec["KeySchema"]),
                    projection.get("ProjectionType", "KEYS_ONLY"),
                    frozenset(projection.get("NonKeyAttributes") or ()),
                )
            )
        return cls(tuple(k["AttributeName"] for k in properties["KeySchema"]), tuple(indexes))


@dataclass
class Units:
    """Capacity units by where they were spent."""

    table_write: float = 0.0
    index_write: float = 0.0
    read: float = 0.0
    by_index: dict[str, float] = field(default_factory=dict)

    @property
    def write(self) -> float:
        return self.table_write + self.index_write

    def add(self, other: Units) -> None:
        self.table_write += other.table_write
        self.index_write += other.index_write
        self.read += other.read
        for name, units in other.by_index.items():
            self.by_index[name] = self.by_index.get(name, 0.0) + units


def _write(table: Table, item: Item | None, units: Units, *, factor: int, before: Item | None = None) -> None:
    size = max(item_size(item) if item else 0, item_size(before) if before else 0)
    units.table_write += math.ceil(max(size, 1) / WRITE_UNIT) * factor
    for index in table.indexes:
        entry = index.projected(item, table.keys) if item else None
        if entry is not None:
            cost = math.ceil(item_size(entry) / WRITE_UNIT)
            units.index_write += cost
            units.by_index[index.name] = units.by_index.get(index.name, 0.0) + cost


def write_units(
    table: Table, operation: str, request: Mapping[str, Any], image: Callable[[Item], Item | None]
) -> Units:
    """The units one write request costs. `image(key)` answers an item as it is after the
    request (for updates and deletes, whose request does not carry the item)."""
    units = Units()
    if operation == "TransactWriteItems":
        for action in request.get("TransactItems", []):
            (kind, body), *_ = action.items()
            if kind == "Put":
                _write(table, body["Item"], units, factor=2)
            elif kind == "Update":
                _write(table, image(body["Key"]), units, factor=2)
            else:  # Delete, ConditionCheck: the item's size, no index entry written
                units.table_write += math.ceil(max(item_size(image(body["Key"]) or {}), 1) / WRITE_UNIT) * 2
    elif operation == "BatchWriteItem":
        for requests in request.get("RequestItems", {}).values():
            for entry in requests:
                if "PutRequest" in entry:
                    _write(table, entry["PutRequest"]["Item"], units, factor=1)
                else:
                    size = item_size(image(entry["DeleteRequest"]["Key"]) or {})
                    units.table_write += math.ceil(max(size, 1) / WRITE_UNIT)
    elif operation == "PutItem":
        _write(table, request["Item"], units, factor=1)
    elif operation == "UpdateItem":
        _write(table, image(request["Key"]), units, factor=1)
    elif operation == "DeleteItem":
        units.table_write += math.ceil(max(item_size(image(request["Key"]) or {}), 1) / WRITE_UNIT)
    return units


def _read(size: int, consistent: bool) -> float:
    return math.ceil(max(size, 1) / READ_UNIT) * (1.0 if consistent else 0.5)


def read_units(operation: str, request: Mapping[str, Any], answer: Mapping[str, Any]) -> Units:
    """The units one read request costs, from the request (keys asked) and its answer."""
    units = Units()
    if operation == "BatchGetItem":
        for name, asked in request.get("RequestItems", {}).items():
            consistent = bool(asked.get("ConsistentRead"))
            found = answer.get("Responses", {}).get(name, [])
            units.read += sum(_read(item_size(item), consistent) for item in found)
            unread = len(answer.get("UnprocessedKeys", {}).get(name, {}).get("Keys", []))
            missing = len(asked.get("Keys", [])) - len(found) - unread
            units.read += max(0, missing) * _read(0, consistent)
    elif operation == "GetItem":
        units.read += _read(item_size(answer.get("Item") or {}), bool(request.get("ConsistentRead")))
    elif operation in ("Query", "Scan"):
        total = sum(item_size(item) for item in answer.get("Items", []))
        units.read += _read(total, bool(request.get("ConsistentRead")))
    return units
