"""DynamoDB's on-demand capacity units for a request, worked out from the items as moto holds them.

moto answers ReturnConsumedCapacity with a constant per API (and nothing for transactions), so the
local AWS's call counter measures units itself, by DynamoDB's rules for on-demand tables:

- a write costs one unit per KB of the larger of the item before and after it (a put, an update, a
  delete, and a conditional write that failed alike), two per KB inside a transaction; every
  global secondary index the write changes costs one unit per KB of the index entry it writes (two
  when the entry's key changed: the old entry is deleted and a new one put), and nothing when the
  write leaves the entry as it was;
- a read costs one unit per 4 KB read when strongly consistent, half when eventually consistent,
  two in a transaction; a query or scan is sized by everything it answers, a batch read by each item.

Item sizes are moto's (attribute names plus values, as DynamoDB counts them). What this leaves out:
local secondary indexes (no orderflow table has one), and an item written by another request
between a write's two lookups (the meter is a model, not a lock).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

KB = 1024
READ_UNIT_BYTES = 4 * KB

# The item a write touches, looked up by (table name, key as DynamoDB JSON), or None when there is
# no such item.
ItemLookup = Callable[[str, dict[str, Any]], "StoredItem | None"]
# A table's key attribute names and its global secondary indexes, by table name.
TableShape = Callable[[str], "Shape | None"]


@dataclass(frozen=True)
class StoredItem:
    """An item as stored: each attribute's value (comparable with ==) and size (name plus value)."""

    values: dict[str, Any]
    sizes: dict[str, int]

    @property
    def size(self) -> int:
        return sum(self.sizes.values())


@dataclass(frozen=True)
class Index:
    key: tuple[str, ...]
    projection: str  # ALL, KEYS_ONLY or INCLUDE
    included: tuple[str, ...] = ()

    def entry(self, table_key: tuple[str, ...], item: StoredItem | None) -> StoredItem | None:
        """The item's entry in this index, or None when the item has no value for the index's key."""
        if item is None or any(name not in item.values for name in self.key):
            return None
        if self.projection == "ALL":
            return item
        kept = {*self.key, *table_key, *(self.included if self.projection == "INCLUDE" else ())}
        return StoredItem(
            {name: value for name, value in item.values.items() if name in kept},
            {name: size for name, size in item.sizes.items() if name in kept},
        )


@dataclass(frozen=True)
class Shape:
    key: tuple[str, ...]
    indexes: tuple[Index, ...] = ()


@dataclass
class Units:
    """Units by table name."""

    read: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    write: dict[str, float] = field(default_factory=lambda: defaultdict(float))


@dataclass(frozen=True)
class _Write:
    table: str
    key: dict[str, Any]
    before: StoredItem | None
    factor: int  # 2 in a transaction


class CapacityMeter:
    """Measures one request: ``before`` looks up what its writes will touch, ``after`` prices it."""

    def __init__(self, lookup: ItemLookup, shape: TableShape) -> None:
        self._lookup = lookup
        self._shape = shape

    def before(self, operation: str, request: dict[str, Any]) -> list[_Write]:
        writes = []
        for table, key, factor in self._targets(operation, request):
            writes.append(_Write(table, key, self._lookup(table, key), factor))
        return writes

    def after(
        self, operation: str, request: dict[str, Any], response: dict[str, Any], writes: Iterable[_Write]
    ) -> Units:
        units = Units()
        for write in writes:
            after = self._lookup(write.table, write.key)
            largest = max(_size(write.before), _size(after))
            units.write[write.table] += write.factor * _units(largest, KB)
            units.write[write.table] += self._index_units(write.table, write.before, after)
        for table, size, factor in _reads(operation, request, response):
            units.read[table] += factor * _units(size, READ_UNIT_BYTES)
        return units

    def _targets(self, operation: str, request: dict[str, Any]) -> list[tuple[str, dict[str, Any], int]]:
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            return [self._target(request["TableName"], request, 1)]
        if operation == "TransactWriteItems":
            return [
                self._target(action["TableName"], action, 2)
                for item in request.get("TransactItems", [])
                for action in item.values()
            ]
        if operation == "BatchWriteItem":
            return [
                self._target(table, next(iter(item.values())), 1)
                for table, items in request.get("RequestItems", {}).items()
                for item in items
            ]
        return []

    def _target(self, table: str, action: dict[str, Any], factor: int) -> tuple[str, dict[str, Any], int]:
        if "Key" in action:
            return table, action["Key"], factor
        shape = self._shape(table)
        names = shape.key if shape else ()
        return table, {name: action["Item"][name] for name in names if name in action.get("Item", {})}, factor

    def _index_units(self, table: str, before: StoredItem | None, after: StoredItem | None) -> int:
        shape = self._shape(table)
        if shape is None:
            return 0
        units = 0
        for index in shape.indexes:
            old, new = index.entry(shape.key, before), index.entry(shape.key, after)
            if old == new:
                continue
            if old is not None and new is not None and _key(index, old) != _key(index, new):
                units += _units(old.size, KB)  # the old entry is deleted
            written = new if new is not None else old
            units += _units(written.size if written else 0, KB)
        return units


def _reads(operation: str, request: dict[str, Any], response: dict[str, Any]) -> list[tuple[str, int, float]]:
    if operation in ("GetItem", "Query", "Scan"):
        factor = 1.0 if request.get("ConsistentRead") else 0.5
        items = [response["Item"]] if "Item" in response else response.get("Items", [])
        return [(request["TableName"], sum(_json_size(item) for item in items), factor)]
    if operation == "BatchGetItem":
        reads: list[tuple[str, int, float]] = []
        for table, items in response.get("Responses", {}).items():
            factor = 1.0 if request["RequestItems"].get(table, {}).get("ConsistentRead") else 0.5
            reads += [(table, _json_size(item), factor) for item in items]
        return reads
    if operation == "TransactGetItems":
        gets, answers = request.get("TransactItems", []), response.get("Responses", [])
        return [
            (get["Get"]["TableName"], _json_size(answer.get("Item", {})), 2.0)
            for get, answer in zip(gets, answers, strict=False)
        ]
    return []


def _key(index: Index, entry: StoredItem) -> tuple[Any, ...]:
    return tuple(entry.values[name] for name in index.key)


def _size(item: StoredItem | None) -> int:
    return item.size if item else 0


def _units(size: float, unit_bytes: int) -> int:
    return max(1, -(-int(size) // unit_bytes))


def _json_size(item: dict[str, Any]) -> int:
    """An item's size as DynamoDB counts it, approximated from its DynamoDB JSON: names plus values."""
    return sum(len(name.encode()) + _value_size(value) for name, value in item.items())


def _value_size(value: dict[str, Any]) -> int:
    ((kind, content),) = value.items()
    if kind in ("S", "B"):
        return len(str(content).encode())
    if kind == "N":
        return len(str(content)) // 2 + 1
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(len(str(part).encode()) for part in content)
    if kind == "L":
        return 3 + sum(1 + _value_size(part) for part in content)
    if kind == "M":
        return 3 + sum(1 + len(name.encode()) + _value_size(part) for name, part in content.items())
    return len(json.dumps(content))
