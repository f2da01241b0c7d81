"""DynamoDB fix: item writes, reads and transactions as atomic and isolated as AWS's."""

from __future__ import annotations

import copy
import dataclasses
import functools
import threading
import weakref
from collections.abc import Callable
from typing import Any, Final

from orderflow_local.moto_compat._base import Fix, _original, _Patch

# isort: split
# The internals below are imported only once the version is known to match.
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType, Item
from moto.dynamodb.models.table import StreamRecord, Table
from moto.dynamodb.responses import DynamoHandler

# --------------------------------------------------------------------------------------------
# Fix 11: DynamoDB requests are serialised, and a cancelled transaction changes nothing.
# --------------------------------------------------------------------------------------------

# One re-entrant lock per backend (an account in a region). Weak keys: a backend that moto drops
# takes its lock with it; a reset keeps the backend object, and so its lock.
_LOCKS: Final[weakref.WeakKeyDictionary[DynamoDBBackend, threading.RLock]] = weakref.WeakKeyDictionary()
_LOCKS_GUARD: Final = threading.Lock()


def backend_lock(backend: DynamoDBBackend) -> threading.RLock:
    """The lock every request to ``backend``, and every call of its item methods, runs under."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(backend)
        if lock is None:
            lock = _LOCKS[backend] = threading.RLock()
        return lock


# The backend's methods that read or write items. Requests already hold the lock; these take it
# too, for code that calls the backend directly.
_ITEM_METHODS: Final = (
    "put_item",
    "update_item",
    "delete_item",
    "get_item",
    "query",
    "scan",
    "execute_statement",
    "execute_transaction",
    "batch_execute_statement",
)

_MAX_TRANSACT_ITEMS: Final = 100
_OPERATIONS: Final = frozenset({"ConditionCheck", "Put", "Delete", "Update"})

# A cancellation reason as moto's TransactionCanceledException takes it: (code, message, item),
# all None for an item that did not fail.
_Reason = tuple[str | None, str | None, dict[str, Any] | None]
_PASSED: Final[_Reason] = (None, None, None)


@dataclasses.dataclass(frozen=True)
class _Target:
    """One entry of a TransactWriteItems request and the item it names."""

    operation: str
    request: dict[str, Any]
    table: Table
    hash_key: DynamoType
    range_key: DynamoType | None

    @property
    def identity(self) -> tuple[str, DynamoType, DynamoType | None]:
        return self.table.name, self.hash_key, self.range_key

    def current(self) -> Item | None:
        return self.table.get_item(self.hash_key, self.range_key)

    def put_back(self, item: Item | None) -> None:
        """Store ``item`` (None: no item) under this key, bypassing the stream."""
        items: Any = self.table.items
        if self.range_key is None:
            if item is None:
                items.pop(self.hash_key, None)
            else:
                items[self.hash_key] = item
        elif item is not None:
            items[self.hash_key][self.range_key] = item
        elif self.hash_key in items:
            items[self.hash_key].pop(self.range_key, None)
            if not items[self.hash_key]:
                del items[self.hash_key]


def _target(backend: DynamoDBBackend, operation: str, request: dict[str, Any]) -> _Target:
    if operation not in _OPERATIONS:
        raise ValueError("Unsupported transaction operation")
    table = backend.get_table(request["TableName"])
    if operation == "Put":
        key_attributes = (table.hash_key_attr, table.range_key_attr)
        key = {name: request["Item"][name] for name in key_attributes if name is not None}
    else:
        key = request["Key"]
    hash_key, range_key = backend.get_keys_value(table, key)
    return _Target(operation, request, table, hash_key, range_key)


def _condition_failure(target: _Target) -> _Reason | None:
    """The cancellation reason when the entry's ConditionExpression is false for the stored item."""
    expression = target.request.get("ConditionExpression")
    if expression is None:
        return None
    current = target.current()
    condition = get_filter_expression(
        expression,
        target.request.get("ExpressionAttributeNames"),
        target.request.get("ExpressionAttributeValues"),
    )
    if condition.expr(current):
        return None
    item = None
    if target.request.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current is not None:
        item = current.to_json()["Attributes"]
    return "ConditionalCheckFailed", ConditionalCheckFailed().message, item


def _check(
    backend: DynamoDBBackend, transact_items: list[dict[str, Any]]
) -> tuple[list[_Target], list[_Reason]]:
    """Every entry's target and cancellation reason, judged on the items as stored before any write.

    An invalid request (several operations in one entry, two entries on one item, a key that does
    not match the table) raises a validation error; any other failure is that entry's reason, as
    in moto.
    """
    targets: list[_Target] = []
    reasons: list[_Reason] = []
    named: set[tuple[str, DynamoType, DynamoType | None]] = set()
    for entry in transact_items:
        if len(entry) != 1:
            raise TransactWriteSingleOpException
        operation, request = next(iter(entry.items()))
        try:
            target = _target(backend, operation, request)
            if target.identity in named:
                raise MultipleTransactionsException()
            named.add(target.identity)
            reason = _condition_failure(target)
        except MockValidationException:
            raise
        except Exception as error:
            reason = (type(error).__name__, str(error), None)
        else:
            targets.append(target)
        reasons.append(reason or _PASSED)
    return targets, reasons


def _write(backend: DynamoDBBackend, target: _Target) -> None:
    # The conditions were checked, under the same lock, on the items these writes find.
    request = target.request
    table_name = target.table.name
    if target.operation == "Put":
        backend.put_item(table_name, request["Item"])
    elif target.operation == "Delete":
        backend.delete_item(table_name, request["Key"])
    elif target.operation == "Update":
        backend.update_item(
            table_name,
            request["Key"],
            update_expression=request["UpdateExpression"],
            expression_attribute_names=request.get("ExpressionAttributeNames"),  # type: ignore[arg-type]
            expression_attribute_values=request.get("ExpressionAttributeValues"),  # type: ignore[arg-type]
        )


def _apply(backend: DynamoDBBackend, targets: list[_Target]) -> None:
    """Write every target; if one write fails, put back what the others changed and cancel."""
    writes = [target for target in targets if target.operation != "ConditionCheck"]
    before = [(target, copy.deepcopy(target.current())) for target in writes]
    streams: dict[int, tuple[list[StreamRecord], int]] = {}
    for target in writes:
        shard = target.table.stream_shard
        if shard is not None:
            streams.setdefault(id(shard), (shard.items, len(shard.items)))
    reasons: list[_Reason] = []
    try:
        for target in targets:
            try:
                _write(backend, target)
            except MockValidationException:
                raise
            except Exception as error:
                reasons.append((type(error).__name__, str(error), None))
            else:
                reasons.append(_PASSED)
        if any(reason != _PASSED for reason in reasons):
            raise TransactionCanceledException(reasons)
    except BaseException:
        for target, item in reversed(before):
            target.put_back(item)
        for records, count in streams.values():
            # Records already handed to a Lambda event source mapping (moto then starts a new
            # list) cannot be taken back.
            del records[count:]
        raise


def _transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    with backend_lock(self):
        if len(transact_items) > _MAX_TRANSACT_ITEMS:
            raise TooManyTransactionsException()
        targets, reasons = _check(self, transact_items)
        if any(reason != _PASSED for reason in reasons):
            raise TransactionCanceledException(reasons)
        _apply(self, targets)


def _serialised(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def locked(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        with backend_lock(self):
            return method(self, *args, **kwargs)

    return locked


class AtomicDynamoDBWrites(Fix):
    """Serialise DynamoDB requests per backend, and make a cancelled transaction change nothing.

    moto gap: nothing in moto's DynamoDB is locked, and the server runs every request in its own
    thread. ``transact_write_items`` deep-copies every table it names, checks each entry's
    condition and writes it in turn, and when an entry fails puts those copies back in place of
    the live tables. So a write that another request made in between is lost (even to an item the
    transaction never named), two transactions can both pass a condition only one of them should
    (both reserve the last unit, and the stock count then disagrees with the reservations), a
    write that resizes a table during the copy makes the transaction fail with HTTP 500
    ("dictionary changed size during iteration"), and a cancelled transaction swaps each table
    object for a copy. Single-item writes read, check and write in separate steps, an UpdateItem
    changes the stored item in place attribute by attribute, and a Scan or Query iterates the
    table while others change it.

    AWS: every single-item write (with or without a condition) is atomic; TransactWriteItems is
    all-or-nothing and serializable with the other writes of its items: its conditions are checked
    and its writes applied as one step, and a cancelled transaction changes nothing at all (and
    puts nothing on the table's stream). No read sees part of a write or of a transaction.

    The fix gives each backend (an account in a region) one re-entrant lock. Every DynamoDB
    request holds it from parsing to its response, and the backend's item methods take it too.
    TransactWriteItems is replaced: under the lock it checks every entry on the items as stored,
    and cancels with the reasons, writing nothing, if any entry fails; otherwise it writes them
    all, and should a write still fail (an update expression that meets an attribute of the wrong
    type, an item grown too large) it puts back the items it touched and drops their stream
    records before failing as moto does (ValidationException, or a cancellation with that entry's
    reason). Requests to one region are therefore one at a time, stricter than
    AWS (a Scan page is a snapshot); a Lambda function subscribed to a table's stream through
    moto's own event source mappings runs inside the write, so it must not call that DynamoDB
    (orderflow's local runtime runs no such mapping).

    Drop when moto serialises its DynamoDB backend and its TransactWriteItems rolls back only what
    it wrote (``test_a_failed_transaction_loses_a_concurrent_write_on_unpatched_moto`` and
    ``test_two_transactions_both_take_the_last_unit_on_unpatched_moto`` then fail).
    """

    def _patches(self) -> list[_Patch]:
        call_action = _original(DynamoHandler, "call_action")

        def _call_action(self: DynamoHandler) -> Any:
            with backend_lock(self.dynamodb_backend):
                return call_action(self)

        patches: list[_Patch] = [(DynamoHandler, "call_action", _call_action)]
        for name in _ITEM_METHODS:
            patches.append((DynamoDBBackend, name, _serialised(_original(DynamoDBBackend, name))))
        patches.append((DynamoDBBackend, "transact_write_items", _transact_write_items))
        return patches
