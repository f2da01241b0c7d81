"""The Orders table: the only table the orders service writes."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from orders.domain.projection import StatusChange
from orders.domain.status import START_PENDING, OrderStatus

# The sparse index over orders whose saga is not known to have started (see new_order_record).
PENDING_START_INDEX = "PendingStartIndex"


class OrderNotFoundError(LookupError):
    pass


def _is_condition_failure(error: ClientError) -> bool:
    code: object = error.response.get("Error", {}).get("Code")
    return code == "ConditionalCheckFailedException"


class OrdersRepository:
    def __init__(self, table: Any) -> None:
        self._table = table

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
        """The saga's execution exists: forget the start input (it holds the payment token)."""
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
        """Records the change; moves the status only forward. Returns whether the status moved.

        Duplicates and reordering are absorbed here: the status moves only to a higher rank
        (a conditional write), and the history keeps the first time each status was reached
        even when its event arrives late, without moving the status back. A status that moves
        also clears ``stalled``: the step the order was stuck on has happened.
        """
        names = {"#status": "status", "#reached": change.status.value}
        values: dict[str, Any] = {
            ":status": change.status.value,
            ":rank": change.status.rank,
            ":at": change.at,
        }
        assignments = ["history.#reached = if_not_exists(history.#reached, :at)"]
        for index, (name, value) in enumerate(change.attributes.items()):
            names[f"#a{index}"] = name
            values[f":a{index}"] = value
            assignments.append(f"#a{index} = :a{index}")
        try:
            self._table.update_item(
                Key={"orderId": change.order_id},
                UpdateExpression="SET #status = :status, statusRank = :rank, "
                + ", ".join(assignments)
                + " REMOVE stalled",
                ConditionExpression="attribute_exists(orderId) AND statusRank < :rank",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as error:
            if not _is_condition_failure(error):
                raise
            if "Item" not in error.response:
                raise OrderNotFoundError(change.order_id) from error
            self._record_late(change, assignments, names, values)
            return False
        return True

    def _record_late(
        self, change: StatusChange, assignments: list[str], names: dict[str, str], values: dict[str, Any]
    ) -> None:
        # A late event still fills in its history entry and any attribute not yet known
        # (e.g. the total from a StockReserved that arrived after PaymentSucceeded).
        late = [assignments[0]] + [
            f"{target} = if_not_exists({target}, {source})"
            for target, source in (part.split(" = ") for part in assignments[1:])
        ]
        names.pop("#status")
        values.pop(":status")
        values.pop(":rank")
        self._table.update_item(
            Key={"orderId": change.order_id},
            UpdateExpression="SET " + ", ".join(late),
            ConditionExpression="attribute_exists(orderId)",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=values,
        )
