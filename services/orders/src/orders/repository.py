"""The Orders table: the only table the orders service writes."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from orders.domain.projection import StatusChange


class OrderNotFoundError(LookupError):
    pass


def _is_condition_failure(error: ClientError) -> bool:
    code: object = error.response.get("Error", {}).get("Code")
    return code == "ConditionalCheckFailedException"


class OrdersRepository:
    def __init__(self, table: Any) -> None:
        self._table = table

    def create(self, record: dict[str, Any]) -> None:
        self._table.put_item(Item=record, ConditionExpression="attribute_not_exists(orderId)")

    def delete(self, order_id: str) -> None:
        self._table.delete_item(Key={"orderId": order_id})

    def get(self, order_id: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self._table.get_item(
            Key={"orderId": order_id}, ConsistentRead=True
        ).get("Item")
        return item

    def apply(self, change: StatusChange) -> bool:
        """Records the change; moves the status only forward. Returns whether the status moved.

        Duplicates and reordering are absorbed here: the status moves only to a higher rank
        (a conditional write), and the history keeps the first time each status was reached
        even when its event arrives late, without moving the status back.
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
                UpdateExpression="SET #status = :status, statusRank = :rank, " + ", ".join(assignments),
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
