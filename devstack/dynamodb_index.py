"""moto's DynamoDB Query in time that grows with what it reads, not with the table.

moto 5.2.5 (pinned) answers every Query, and every page of one, by listing and sorting every item
of the table (`Table.all_items()`), base table and indexes alike, then walking the sorted list
from its start to the ExclusiveStartKey: a page costs O(table), a paginated read O(table x pages).
Its TransactWriteItems deep-copies the whole table to roll back a failed transaction.

`install()` keeps, on each moto `Table`, every index (and the base table) partitioned and sorted
by key: partition key -> sorted list of (sort key, primary key), maintained on every write
(`Table.put_item`, `Table.delete_item`, `DynamoDBBackend.update_item`, which transactions, batch
writes and PartiQL all go through), so that a Query bisects to its partition, its
ExclusiveStartKey and its key condition's range and walks only what it answers. Every step of
moto's own walk is kept (the limit and 1 MB checks, the `LastEvaluatedKey` of the last item
answered, `ScannedCount`, the deep copy, projection and filter after the walk), so the answers are
moto's own, byte for byte (`tests/unit/devstack/test_dynamodb_index.py` runs the project's
request shapes against patched and unpatched moto and compares them). A Query of any other
shape (legacy `QueryFilter`, multi-attribute keys, a table without a sort key, key types other
than S and N, a consistent read of a GSI...) takes moto's own path.

Each item in an index has one record (`_Record`), shared by its entries and kept current by the
same writes: the item, its size and its projection to each INCLUDE/KEYS_ONLY index, built once and
dropped when the item is written. A Query walk reads its items, their sizes and their projections
from the records, without looking any item up by key (moto's `DynamoType.__hash__` computes
`cast_value` on every lookup) and without projecting an unchanged item again: what is left per
entry is moto's FilterExpression and, for the entries answered, moto's serialisation.

A TransactWriteItems backs up only the items it touches (a copy of each, or its absence) and
puts them back if it fails, instead of a copy of each table.

Global state: the patch applies to every moto backend of the process, installed once
(`install()` is idempotent). Unpatched, `make test`'s in-process moto tests are unaffected unless
a local stack was started in the same process, and then they get the same answers.
"""

from __future__ import annotations

import bisect
import copy
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import moto.dynamodb.models as moto_dynamodb_models
from moto.dynamodb.comparisons import get_comparison_func
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item, LimitedSizeDict
from moto.dynamodb.models.table import RESULT_SIZE_LIMIT, Table

from devstack.dynamodb_filter import compile_filter
from devstack.patches import Layer, Patch

ITEM_SIZE_MAX = 400_000  # DynamoDB's (and moto's LimitedSizeDict's) largest item, in bytes
_SORTABLE_TYPES = frozenset({"S", "N"})
_STATE = "_webhook_resend_index"

PrimaryKey = tuple[DynamoType, DynamoType | None]


class _Record:
    """One indexed item as a Query walk needs it, shared by all its entries and kept current by
    every write (`_TableIndex.touch`): the item itself (found without hashing its key: moto's
    `DynamoType.__hash__` computes `cast_value` on every lookup), its `Item.size()`, and its
    projection to each INCLUDE/KEYS_ONLY index (index name -> projected item), built on first use
    and dropped when the item is written."""

    __slots__ = ("casts", "item", "projections", "size")

    def __init__(self, item: Item) -> None:
        self.item = item
        self.size = item.size()
        self.projections: dict[str, Item] = {}
        # index name (None: the table) -> attribute name -> (its type, its cast_value) in what
        # the Query filters (the item, or its projection to that index); None: not there.
        self.casts: dict[str | None, dict[str, tuple[str, Any] | None]] = {}

    def written(self, item: Item) -> None:
        """The item at this record's keys was written (the same object or a new one)."""
        self.item = item
        self.size = item.size()
        self.projections = {}
        self.casts = {}


# (the sort key's values as DynamoType.cast_value gives them, the item's primary key, its record)
Entry = tuple[tuple[Any, ...], PrimaryKey, _Record]

# One lock for every patched call: moto's server threads (which the local stack serializes
# already) and in-process moto (which does not) see the index and the items change together.
_lock = threading.RLock()


class _Partitions:
    """One index (or the base table, name None): partition key -> entries sorted by sort key.

    `sort_attrs` are the attributes moto sorts a Query's results by (its
    `_generate_attr_to_sort_by`): for the base table (hash, range); for an index (its hash, its
    range or the table's range, the table's hash, the table's range). `member_attrs` are the ones
    an item must have to be in the index (moto's Query: the index's hash and range keys)."""

    def __init__(
        self,
        name: str | None,
        hash_attr: str,
        range_attr: str,
        sort_attrs: list[str],
        member_attrs: list[str],
    ):
        self.name = name
        self.hash_attr = hash_attr
        self.range_attr = range_attr
        self.range_pos = sort_attrs.index(range_attr)
        self.sort_attrs = sort_attrs
        self.member_attrs = member_attrs
        self.parts: dict[DynamoType, list[Entry]] = {}
        # Set once an item's keys could not be ordered (a type other than S or N, or mixed types
        # in one partition): Queries of this index then take moto's own path.
        self.unsafe = False

    def entry_of(self, item: Item, key: PrimaryKey, record: _Record) -> tuple[DynamoType, Entry] | None:
        attrs = item.attrs
        for name in self.member_attrs:
            if attrs.get(name) is None:
                return None
        values = []
        for name in self.sort_attrs:
            value = attrs.get(name)
            if value is None:
                return None
            if value.type not in _SORTABLE_TYPES:
                self.unsafe = True
                return None
            values.append(value.cast_value)  # str or Decimal: DynamoType's own order, natively
        return attrs[self.hash_attr], (tuple(values), key, record)

    def add(self, part: DynamoType, entry: Entry) -> None:
        entries = self.parts.setdefault(part, [])
        try:
            bisect.insort(entries, entry, key=_sort_key)
        except TypeError:  # a sort key of another type than its neighbours'
            self.unsafe = True

    def remove(self, part: DynamoType, entry: Entry) -> None:
        entries = self.parts.get(part)
        if not entries:
            return
        try:
            at = bisect.bisect_left(entries, entry[0], key=_sort_key)
        except TypeError:
            at = len(entries)
        if at < len(entries) and entries[at][1] == entry[1] and entries[at][0] == entry[0]:
            del entries[at]
        else:  # not where its keys say (an unordered partition): find it
            for i, candidate in enumerate(entries):
                if candidate[1] == entry[1]:
                    del entries[i]
                    break
        if not entries:
            del self.parts[part]


def _sort_key(entry: Entry) -> tuple[Any, ...]:
    return entry[0]


class _TableIndex:
    """Every `_Partitions` of one table and, per item, the entries it has in them."""

    def __init__(self, table: Table) -> None:
        self.signature = _signature(table)
        self.structures: dict[str | None, _Partitions] = {}
        if table.range_key_attr is not None:
            self.structures[None] = _Partitions(
                None,
                table.hash_key_attr,
                table.range_key_attr,
                [table.hash_key_attr, table.range_key_attr],
                [table.hash_key_attr, table.range_key_attr],
            )
        for index in table.all_indexes():
            hashes = [k["AttributeName"] for k in index.schema if k["KeyType"] == "HASH"]
            ranges = [k["AttributeName"] for k in index.schema if k["KeyType"] == "RANGE"]
            if len(hashes) != 1 or len(ranges) != 1 or table.range_key_attr is None:
                continue  # moto's own path for these
            sort_attrs = table._generate_attr_to_sort_by(
                [hashes[0], table.hash_key_attr], [ranges[0], table.range_key_attr]
            )
            self.structures[index.name] = _Partitions(
                index.name, hashes[0], ranges[0], sort_attrs, [hashes[0], ranges[0]]
            )
        self.entries: dict[PrimaryKey, list[tuple[_Partitions, DynamoType, Entry]]] = {}
        for key, item in _items_of(table):
            self._insert(key, item)

    def _insert(self, key: PrimaryKey, item: Item) -> None:
        found = []
        record = _Record(item)
        for structure in self.structures.values():
            placed = structure.entry_of(item, key, record)
            if placed is not None:
                part, entry = placed
                structure.add(part, entry)
                found.append((structure, part, entry))
        if found:
            self.entries[key] = found

    def touch(self, table: Table, key: PrimaryKey) -> None:
        """The item at `key` was written, updated or deleted: move its entries."""
        old = self.entries.pop(key, None)
        item = _item_at(table, key)
        if old:
            if item is not None:
                record = old[0][2][2]
                new = [
                    (s, *placed)
                    for s in self.structures.values()
                    if (placed := s.entry_of(item, key, record))
                ]
                if len(new) == len(old) and all(
                    a[0] is b[0] and a[1] == b[1] and a[2][0] == b[2][0]
                    for a, b in zip(old, new, strict=True)
                ):
                    self.entries[key] = old  # its keys did not change (a counter update)
                    record.written(item)  # the same item, or the one a put replaced it with
                    return
            for structure, part, entry in old:
                structure.remove(part, entry)
        if item is not None:
            self._insert(key, item)


def _signature(table: Table) -> tuple[Any, ...]:
    return (
        table.hash_key_attr,
        table.range_key_attr,
        tuple((index.name, repr(index.schema)) for index in table.all_indexes()),
    )


def _items_of(table: Table) -> Iterator[tuple[PrimaryKey, Item]]:
    for hash_value, value in list(table.items.items()):
        if table.range_key_attr is None:
            if isinstance(value, Item):
                yield (hash_value, None), value
        else:
            for range_value, item in list(value.items()):
                yield (hash_value, range_value), item


def _item_at(table: Table, key: PrimaryKey) -> Item | None:
    hash_value, range_value = key
    found = table.items.get(hash_value)
    if found is None:
        return None
    if table.range_key_attr is None:
        return found if isinstance(found, Item) else None
    return found.get(range_value)


def index_of(table: Table) -> _TableIndex:
    """The table's index, built on first use (and again if its indexes changed)."""
    state = table.__dict__.get(_STATE)
    if state is None or state.signature != _signature(table):
        state = _TableIndex(table)
        table.__dict__[_STATE] = state
    return state


def _touch(table: Table, key: PrimaryKey) -> None:
    state = table.__dict__.get(_STATE)
    if state is None:
        return  # built from the items when first queried
    if state.signature != _signature(table):
        del table.__dict__[_STATE]
        return
    state.touch(table, key)


# -- Query ----------------------------------------------------------------------------------------
class _Fallback(Exception):
    """This Query is not of a shape the index answers: moto's own path answers it."""


# moto's comparison functions by the name this module gives them ("=" and "EQ" are one function).
_OPERATORS = {
    id(get_comparison_func(name)): name for name in ("EQ", "LT", "LE", "GT", "GE", "BETWEEN", "BEGINS_WITH")
}


def _range_bounds(
    entries: list[Entry], pos: int, comparison: str | None, objs: list[DynamoType]
) -> tuple[int, int]:
    """Where, in a partition's entries, the items that may match the key condition's range are."""
    n = len(entries)
    if comparison is None:
        return 0, n

    def key(entry: Entry) -> Any:
        return entry[0][pos]

    if any(o.type not in _SORTABLE_TYPES for o in objs):
        raise _Fallback
    if entries and any(type(o.cast_value) is not type(entries[0][0][pos]) for o in objs):
        raise _Fallback
    values = [o.cast_value for o in objs]
    comparison = _OPERATORS.get(id(get_comparison_func(comparison)), "")
    if comparison == "EQ" and len(values) == 1:
        return bisect.bisect_left(entries, values[0], key=key), bisect.bisect_right(
            entries, values[0], key=key
        )
    if comparison == "LT" and len(values) == 1:
        return 0, bisect.bisect_left(entries, values[0], key=key)
    if comparison == "LE" and len(values) == 1:
        return 0, bisect.bisect_right(entries, values[0], key=key)
    if comparison == "GT" and len(values) == 1:
        return bisect.bisect_right(entries, values[0], key=key), n
    if comparison == "GE" and len(values) == 1:
        return bisect.bisect_left(entries, values[0], key=key), n
    if comparison == "BETWEEN" and len(values) == 2:
        lo = bisect.bisect_left(entries, values[0], key=key)
        return lo, max(lo, bisect.bisect_right(entries, values[1], key=key))
    if comparison == "BEGINS_WITH" and len(values) == 1 and objs[0].type == "S":
        prefix = values[0]
        lo = bisect.bisect_left(entries, prefix, key=key)
        # From lo on, the values that start with the prefix come first, then none does.
        hi = bisect.bisect_left(entries, 1, lo, n, key=lambda e: 0 if e[0][pos].startswith(prefix) else 1)
        return lo, hi
    raise _Fallback


def _partition_query(
    table: Table,
    hash_key: DynamoType | None,
    range_comparison: str | None,
    range_objs: list[DynamoType],
    limit: int | None,
    exclusive_start_key: dict[str, Any] | None,
    scan_index_forward: bool,
    index_name: str | None,
    consistent_read: bool,
    hash_key_conditions: list[tuple[str, DynamoType]] | None,
    range_key_conditions: list[tuple[str, str, list[DynamoType]]] | None,
) -> tuple[list[_Record], int, dict[str, Any] | None]:
    """moto's `Table.query` walk (5.2.5) over one partition's sorted entries; raises `_Fallback`
    for a shape it does not answer. Returns the records of the items before moto's deep copy and
    projection."""
    if limit is not None and (not isinstance(limit, int) or limit < 1):
        raise _Fallback
    if range_key_conditions and len(range_key_conditions) > 1:
        raise _Fallback
    state = index_of(table)
    structure = state.structures.get(index_name)
    if structure is None or structure.unsafe:
        raise _Fallback
    if index_name is None:
        if hash_key is None:
            raise _Fallback
        part = hash_key
    else:
        if consistent_read and any(i.name == index_name for i in table.global_indexes):
            raise _Fallback  # moto's validation error
        conditions = dict(hash_key_conditions or [])
        if list(conditions) != [structure.hash_attr]:
            raise _Fallback
        part = conditions[structure.hash_attr]
    if range_key_conditions and range_key_conditions[-1][0] != structure.range_attr:
        raise _Fallback
    range_attr = structure.range_attr

    entries = structure.parts.get(part, [])
    n = len(entries)
    try:
        lo, hi = _range_bounds(entries, structure.range_pos, range_comparison, range_objs)
        if exclusive_start_key is not None:
            start_values = []
            for name in structure.sort_attrs:
                if name not in exclusive_start_key:
                    raise _Fallback
                value = DynamoType(exclusive_start_key[name])
                if value.type not in _SORTABLE_TYPES:
                    raise _Fallback
                start_values.append(value.cast_value)
            start = tuple(start_values)
            if entries and any(type(a) is not type(b) for a, b in zip(start, entries[0][0], strict=True)):
                raise _Fallback
            after = bisect.bisect_right(entries, start, key=_sort_key)  # forward: skip <= start
            before = bisect.bisect_left(entries, start, key=_sort_key)  # backward: skip >= start
        else:
            after, before = 0, n
    except TypeError:
        raise _Fallback from None

    if scan_index_forward is False:
        walk = range(min(hi, before) - 1, lo - 1, -1)
        tail = range(min(lo, before) - 1, -1, -1)
    else:
        walk = range(max(lo, after), hi)
        tail = range(max(hi, after), n)

    # Each entry's record holds its item and size (kept current by every write): no key lookups.
    results: list[_Record] = []
    result_size = 0
    scanned_count = 0
    last_evaluated_key = None
    stopped = False
    for i in walk:
        record = entries[i][2]
        size = record.size
        if len(results) == limit or (result_size + size) > RESULT_SIZE_LIMIT:
            last_evaluated_key = table._get_last_evaluated_key(results[-1].item, index_name)
            stopped = True
            break
        if range_comparison:
            value = record.item.attrs.get(range_attr)
            if value is None or not value.compare(range_comparison, range_objs):
                continue
        results.append(record)
        result_size += size
        scanned_count += 1
    if not stopped and len(tail):
        # moto walks on past the range, appending nothing: its next item still ends the page if
        # the limit was reached, and any item that would not fit in 1 MB does.
        if len(results) == limit:
            last_evaluated_key = table._get_last_evaluated_key(results[-1].item, index_name)
        elif result_size + ITEM_SIZE_MAX > RESULT_SIZE_LIMIT:
            for i in tail:
                if result_size + entries[i][2].size > RESULT_SIZE_LIMIT:
                    last_evaluated_key = table._get_last_evaluated_key(results[-1].item, index_name)
                    break
    return results, scanned_count, last_evaluated_key


def _index_projection(index: Any) -> list[str] | None:
    """The attribute names an INCLUDE or KEYS_ONLY index keeps, in moto's order; None for ALL (or
    no projection), which moto answers unprojected."""
    projection = index.projection or {}
    kind = projection.get("ProjectionType")
    if kind not in ("KEYS_ONLY", "INCLUDE"):
        return None
    names = list(index.table_key_attrs) + [key["AttributeName"] for key in index.schema]
    if kind == "INCLUDE":
        names += list(projection.get("NonKeyAttributes", []))
    return names


def _top_level(expressions: list[list[str]]) -> list[str] | None:
    """The names of a ProjectionExpression of top-level attributes only; None otherwise."""
    names = []
    for path in expressions:
        if len(path) != 1 or "[" in path[0]:
            return None
        names.append(path[0])
    return names


def _plain(value: DynamoType) -> bool:
    """Whether moto's projection (to Python values with boto3's deserializer and back with its
    serializer) gives this value back unchanged: strings, booleans, nulls, numbers written the
    way Decimal writes them, and lists and maps of those. Sets (reordered) and binaries are not."""
    kind = value.type
    if kind in ("S", "BOOL", "NULL"):
        return True
    if kind == "N":
        try:
            return str(Decimal(value.value)) == value.value
        except (ArithmeticError, TypeError, ValueError):
            return False
    if kind == "L":
        return all(_plain(v) for v in value.value)
    if kind == "M":
        return all(_plain(v) for v in value.value.values())
    return False


def _project(item: Item, names: list[str] | None) -> Item:
    """`Item.project([[name], ...])` for top-level names: the item's attributes among `names`, in
    the order of `names`, the values shared. moto's own projection when a value is not plain."""
    if names is None:
        return item
    attrs = item.attrs
    kept: dict[str, DynamoType] = {}
    for name in names:
        value = attrs.get(name)
        if value is None or name in kept:
            continue
        if not _plain(value):
            return item.project([[n] for n in names])
        kept[name] = value
    result = Item.__new__(Item)
    result.hash_key = item.hash_key
    result.range_key = item.range_key
    projected = LimitedSizeDict.__new__(LimitedSizeDict)
    dict.update(projected, kept)
    result.attrs = projected
    return result


def _filtered(
    filter_expression: Any, records: list[_Record], results: list[Item], index_name: str | None
) -> list[Item]:
    """moto's `[item for item in results if filter_expression.expr(item)]`, each item's attributes
    cast once while its record lasts (`dynamodb_filter`); moto's own evaluation for expressions
    of other shapes."""
    evaluate = compile_filter(filter_expression)
    if evaluate is None:
        return [item for item in results if filter_expression.expr(item)]
    kept = []
    for record, item in zip(records, results, strict=True):
        casts = record.casts.get(index_name)
        if casts is None:
            casts = record.casts[index_name] = {}
        attrs = item.attrs

        def lookup(name: str, casts: dict[str, Any] = casts, attrs: Any = attrs) -> Any:
            try:
                return casts[name]
            except KeyError:
                value = attrs.get(name)
                found = casts[name] = None if value is None else (value.type, value.cast_value)
                return found

        if evaluate(lookup):
            kept.append(item)
    return kept


def _patched_query(original: Callable[..., Any]) -> Callable[..., Any]:
    def query(
        self: Table,
        hash_key: DynamoType | None,
        range_comparison: str | None,
        range_objs: list[DynamoType],
        limit: int,
        exclusive_start_key: dict[str, Any],
        scan_index_forward: bool,
        projection_expressions: list[list[str]] | None,
        index_name: str | None = None,
        consistent_read: bool = False,
        filter_expression: Any = None,
        hash_key_conditions: list[tuple[str, DynamoType]] | None = None,
        range_key_conditions: list[tuple[str, str, list[DynamoType]]] | None = None,
        **filter_kwargs: Any,
    ) -> tuple[list[Item], int, dict[str, Any] | None]:
        with _lock:
            try:
                if filter_kwargs:
                    raise _Fallback
                records, scanned_count, last_evaluated_key = _partition_query(
                    self,
                    hash_key,
                    range_comparison,
                    range_objs,
                    limit,
                    exclusive_start_key,
                    scan_index_forward,
                    index_name,
                    consistent_read,
                    hash_key_conditions,
                    range_key_conditions,
                )
            except _Fallback:
                return original(
                    self,
                    hash_key,
                    range_comparison,
                    range_objs,
                    limit,
                    exclusive_start_key,
                    scan_index_forward,
                    projection_expressions,
                    index_name,
                    consistent_read,
                    filter_expression,
                    hash_key_conditions=hash_key_conditions,
                    range_key_conditions=range_key_conditions,
                    **filter_kwargs,
                )
            # What moto does after its walk (deep copy, the index's projection, the filter, the
            # ProjectionExpression), without its copies: nothing downstream changes an answered
            # item, and a projection of top-level attributes of plain values shares them.
            if index_name:
                index = self.get_index(index_name)
                names = _index_projection(index)
                if names is None:
                    results = [index.project(r.item) for r in records]
                else:
                    results = []
                    for r in records:
                        projected = r.projections.get(index_name)
                        if projected is None:
                            projected = r.projections[index_name] = _project(r.item, names)
                        results.append(projected)
            else:
                results = [r.item for r in records]
            if filter_expression is not None:
                results = _filtered(filter_expression, records, results, index_name)
            if projection_expressions:
                names = _top_level(projection_expressions)
                results = [
                    _project(r, names) if names is not None else r.project(projection_expressions)
                    for r in results
                ]
            return results, scanned_count, last_evaluated_key

    return query


# -- writes ----------------------------------------------------------------------------------------
def _patched_put_item(original: Callable[..., Item]) -> Callable[..., Item]:
    def put_item(self: Table, *args: Any, **kwargs: Any) -> Item:
        with _lock:
            item = original(self, *args, **kwargs)
            _touch(self, (item.hash_key, item.range_key if self.range_key_attr is not None else None))
            return item

    return put_item


def _patched_delete_item(original: Callable[..., Item | None]) -> Callable[..., Item | None]:
    def delete_item(self: Table, hash_key: DynamoType, range_key: DynamoType | None) -> Item | None:
        with _lock:
            try:
                return original(self, hash_key, range_key)
            finally:
                _touch(self, (hash_key, range_key if self.range_key_attr is not None else None))

    return delete_item


def _key_of(table: Table, key: Any) -> PrimaryKey | None:
    """The primary key an UpdateItem/DeleteItem/transaction names, as moto reads it; None if it
    does not name one (moto answers that with an error)."""
    try:
        hash_value = DynamoType(key[table.hash_key_attr])
        range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr is not None else None
    except (KeyError, TypeError, IndexError, AttributeError):
        return None
    return hash_value, range_value


def _patched_update_item(original: Callable[..., Item]) -> Callable[..., Item]:
    def update_item(self: DynamoDBBackend, table_name: str, key: Any, *args: Any, **kwargs: Any) -> Item:
        with _lock:
            try:
                return original(self, table_name, key, *args, **kwargs)
            finally:
                table = self.tables.get(table_name)
                if table is not None:
                    primary = _key_of(table, key)
                    if primary is None:
                        table.__dict__.pop(_STATE, None)  # rebuilt from the items when next queried
                    else:
                        _touch(table, primary)

    return update_item


class _TransactionState(threading.local):
    active = False


_transaction = _TransactionState()


class _CopyModule:
    """moto's `copy` module as `moto.dynamodb.models` sees it, except that inside a patched
    TransactWriteItems (on the calling thread) `deepcopy(table)` answers the table itself: the
    transaction backs up the items it touches instead, and moto's rollback (putting its "copy"
    back) changes nothing."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def deepcopy(self, value: Any, memo: Any = None) -> Any:
        if _transaction.active and isinstance(value, Table):
            return value
        return self._real.deepcopy(value, memo)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _touched(
    backend: DynamoDBBackend, transact_items: list[dict[str, Any]]
) -> list[tuple[Table, PrimaryKey]]:
    found: list[tuple[Table, PrimaryKey]] = []
    for element in transact_items:
        try:
            _, op = next(iter(element.items()))
            table = backend.tables.get(op.get("TableName"))
            if table is None:
                continue
            primary = _key_of(table, op["Item"] if "Item" in op else op["Key"])
        except (StopIteration, AttributeError, KeyError, TypeError):
            continue
        if primary is not None:
            found.append((table, primary))
    return found


def _restore(table: Table, key: PrimaryKey, saved: Item | None) -> None:
    hash_value, range_value = key
    if table.range_key_attr is None:
        if saved is None:
            table.items.pop(hash_value, None)
        else:
            table.items[hash_value] = saved
    elif saved is None:
        partition = table.items.get(hash_value)
        if partition is not None:
            partition.pop(range_value, None)
    else:
        table.items[hash_value][range_value] = saved
    _touch(table, key)


def _patched_transact_write_items(original: Callable[..., None]) -> Callable[..., None]:
    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        with _lock:
            touched = _touched(self, transact_items)
            if any(table.stream_shard is not None for table, _ in touched):
                return original(self, transact_items)  # moto's own backup keeps its stream too
            saved = [(table, key, copy.deepcopy(_item_at(table, key))) for table, key in touched]
            _transaction.active = True
            try:
                original(self, transact_items)
            except BaseException:
                for table, key, item in reversed(saved):
                    _restore(table, key, item)
                raise
            finally:
                _transaction.active = False

    return transact_write_items


# moto's DynamoDB (5.2.5), patched in this process by `install()` (idempotent), put back by
# `uninstall()` (tests compare patched and unpatched moto in one process).
_layer = Layer(
    Patch(moto_dynamodb_models, "copy", _CopyModule),
    Patch(Table, "query", _patched_query),
    Patch(Table, "put_item", _patched_put_item),
    Patch(Table, "delete_item", _patched_delete_item),
    Patch(DynamoDBBackend, "update_item", _patched_update_item),
    Patch(DynamoDBBackend, "transact_write_items", _patched_transact_write_items),
    lock=_lock,
)
install, installed, uninstall = _layer.install, _layer.installed, _layer.uninstall
