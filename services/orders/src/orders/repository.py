"""The Orders table: the only table the orders service writes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from orders.domain.projection import StatusChange
from orders.domain.status import START_PENDING, OrderStatus

# The sparse index over orders whose saga is not known to have started (see new_order_record).
PENDING_START_INDEX = "PendingStartIndex"

# How many orders a repository remembers the status rank of (see OrdersRepository.apply): a batch's
# worth many times over, in well under a megabyte.
_REMEMBERED_RANKS = 10_000


class OrderNotFoundError(LookupError):
    pass


def _is_condition_failure(error: ClientError) -> bool:
    code: object = error.response.get("Error", {}).get("Code")
    return code == "ConditionalCheckFailedException"


class OrdersRepository:
    def __init__(self, table: Any) -> None:
        self._table = table
        # A rank each order was seen to hold, the latest seen last. Ranks only grow (every move is a
        # conditional write to a higher one), so the order holds at least that rank still.
        self._known_ranks: dict[str, int] = {}

    def create_or_get(self, record: dict[str, Any]) -> dict[str, Any]:
        """Stores a new order; for an order id already stored (a client's retry), returns that one."""
        try:
            self._table.put_item(Item=record, ConditionExpression="attribute_not_exists(orderId)")
        except ClientError as error:
            if not _is_condition_failure(error):
                raise
            stored = self.get(record["orderId"])
            if stored is None:  # the condition saw it; a consistent read must too
                raise RuntimeError(f"order {record['orderId']} exists but cannot be read") from error
            return stored
        return record

    def mark_started(self, order_id: str) -> None:
        """The saga's execution exists: forget the start input (it holds the payment token).

        For the pending-start sweep; an order started on time loses both in its first status change.
        """
        self._table.update_item(
            Key={"orderId": order_id},
            UpdateExpression="REMOVE startPending, executionInput",
            ConditionExpression="attribute_exists(orderId)",
        )

    def pending_starts(self, created_before: str) -> list[str]:
        """Ids of the orders stored before ``created_before`` whose saga is not known to have started,
        oldest first."""
        # boto3 is loaded with the first AWS client (orderflow_shared.aws), not with this module.
        from boto3.dynamodb.conditions import Key

        order_ids: list[str] = []
        query: dict[str, Any] = {
            "IndexName": PENDING_START_INDEX,
            "KeyConditionExpression": Key("startPending").eq(START_PENDING)
            & Key("createdAt").lt(created_before),
        }
        while True:
            page = self._table.query(**query)
            order_ids += [item["orderId"] for item in page["Items"]]
            if "LastEvaluatedKey" not in page:
                return order_ids
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def mark_stalled(self, order_id: str, stalled: dict[str, str]) -> bool:
        """Marks a paid, unfinished order stalled; a terminal order is left alone. Returns whether marked."""
        try:
            self._table.update_item(
                Key={"orderId": order_id},
                UpdateExpression="SET stalled = :stalled",
                ConditionExpression="attribute_exists(orderId) AND statusRank < :terminal",
                ExpressionAttributeValues={":stalled": stalled, ":terminal": OrderStatus.COMPLETED.rank},
            )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise
            return False
        return True

    def get(self, order_id: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._table.get_item(
            Key={"orderId": order_id}, ConsistentRead=True
        ).get("Item")
        return item

    def apply(self, change: StatusChange) -> bool:
        """Records the change (one event's, or a batch's for the order merged into one: see
        ``orders.domain.projection.merged``); moves the status only forward. Returns whether it moved.

        Duplicates and reordering are absorbed here: the status moves only to a higher rank
        (a conditional write), and the history keeps the first time each status was reached
        even when its event arrives late, without moving the status back. A status that moves
        also clears ``stalled``: the step the order was stuck on has happened. The first move
        also drops the pending-start mark and the start input: only a running saga moves an order,
        so its start needs no write of its own.

        History entries and attributes are written only where absent, moving or not: an earlier first
        time is never overwritten, and a status's attributes are absent until a change of that status
        is recorded, so on a move this is the same as setting them.

        A write is billed even when its condition fails, so a change that can only be late (its
        rank is one the order was already seen to hold) skips the forward write, and after a refused
        forward write the late one carries only what the order lacks, or is not made if it lacks nothing.
        """
        if self._known_ranks.get(change.order_id, -1) >= change.status.rank:
            self._fill_in(change.order_id, change.history, change.attributes)
            return False
        fill_in = _FillIn.of(change.history, change.attributes)
        try:
            self._table.update_item(
                Key={"orderId": change.order_id},
                UpdateExpression=f"SET #status = :status, statusRank = :rank, {fill_in.assignments}"
                " REMOVE stalled, startPending, executionInput",
                ConditionExpression="attribute_exists(orderId) AND statusRank < :rank",
                ExpressionAttributeNames={"#status": "status", **fill_in.names},
                ExpressionAttributeValues={
                    ":status": change.status.value,
                    ":rank": change.status.rank,
                    **fill_in.values,
                },
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise
            if "Item" not in error.response:
                raise OrderNotFoundError(change.order_id) from error
            stored: dict[str, Any] = error.response["Item"]  # DynamoDB JSON: {"N": "4"}, {"M": {...}}
            self._remember(change.order_id, int(stored["statusRank"]["N"]))
            history, attributes = _lacking(stored, change)
            if history or attributes:
                self._fill_in(change.order_id, history, attributes)
            return False
        self._remember(change.order_id, change.status.rank)
        return True

    def _remember(self, order_id: str, rank: int) -> None:
        self._known_ranks.pop(order_id, None)
        self._known_ranks[order_id] = rank
        if len(self._known_ranks) > _REMEMBERED_RANKS:
            del self._known_ranks[next(iter(self._known_ranks))]

    def _fill_in(
        self, order_id: str, history: Mapping[OrderStatus, str], attributes: Mapping[str, Any]
    ) -> None:
        # A late change still fills in its history entries and any attribute not yet known
        # (e.g. the total from a StockReserved that arrived after PaymentSucceeded).
        fill_in = _FillIn.of(history, attributes)
        self._table.update_item(
            Key={"orderId": order_id},
            UpdateExpression=f"SET {fill_in.assignments}",
            ConditionExpression="attribute_exists(orderId)",
            ExpressionAttributeNames=fill_in.names,
            ExpressionAttributeValues=fill_in.values,
        )


@dataclass(frozen=True)
class _FillIn:
    """SET assignments writing history entries and attributes where absent, with their placeholders."""

    assignments: str
    names: dict[str, str]
    values: dict[str, Any]

    @classmethod
    def of(cls, history: Mapping[OrderStatus, str], attributes: Mapping[str, Any]) -> _FillIn:
        names: dict[str, str] = {}
        values: dict[str, Any] = {}
        assignments = []
        for index, (status, at) in enumerate(history.items()):
            names[f"#h{index}"] = status.value
            values[f":h{index}"] = at
            assignments.append(f"history.#h{index} = if_not_exists(history.#h{index}, :h{index})")
        for index, (name, value) in enumerate(attributes.items()):
            names[f"#a{index}"] = name
            values[f":a{index}"] = value
            assignments.append(f"#a{index} = if_not_exists(#a{index}, :a{index})")
        return cls(", ".join(assignments), names, values)


def _lacking(stored: dict[str, Any], change: StatusChange) -> tuple[dict[OrderStatus, str], dict[str, Any]]:
    """The history entries and attributes of ``change`` the ``stored`` item (DynamoDB JSON) lacks."""
    history = stored.get("history", {}).get("M", {})
    return (
        {status: at for status, at in change.history.items() if status.value not in history},
        {name: value for name, value in change.attributes.items() if name not in stored},
    )
