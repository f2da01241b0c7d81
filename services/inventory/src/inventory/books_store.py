"""DynamoDB persistence of operator stock changes: the catalogue item and its adjustments log.

A change is one transaction: the catalogue item, conditioned on the version it was computed from
(a reservation or another change since then cancels it), and its log entries, each conditioned on
its id being new (a concurrent duplicate of an adjustment cannot apply it twice).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from inventory.books import Adjustment, AdjustmentKind, StockChange
from inventory.dynamo import (
    NO_FAILURE,
    cancellation_reasons,
    names,
    now,
    stock_attributes,
    stock_level,
)
from inventory.stock import StockLevel


class VersionConflictError(Exception):
    """The catalogue item or its log moved on since the change was computed; nothing was written."""


class StockBooks:
    def __init__(self, catalogue: Any, adjustments: Any) -> None:
        """Takes boto3 DynamoDB Table resources."""
        self._catalogue = catalogue
        self._adjustments = adjustments
        self._client = catalogue.meta.client

    def level(self, sku: str) -> StockLevel | None:
        item = self._catalogue.get_item(Key={"sku": sku}, ConsistentRead=True).get("Item")
        return stock_level(item) if item else None

    def adjustment(self, sku: str, adjustment_id: str) -> Adjustment | None:
        key = {"sku": sku, "adjustmentId": adjustment_id}
        item = self._adjustments.get_item(Key=key, ConsistentRead=True).get("Item")
        return _adjustment(item) if item else None

    def adjustments(self, sku: str) -> list[Adjustment]:
        """The SKU's whole log (its deltas add up to the SKU's stocked)."""
        entries: list[Adjustment] = []
        query: dict[str, Any] = {
            "KeyConditionExpression": "sku = :sku",
            "ExpressionAttributeValues": {":sku": sku},
            "ConsistentRead": True,
        }
        while True:
            page = self._adjustments.query(**query)
            entries += [_adjustment(item) for item in page.get("Items", [])]
            if "LastEvaluatedKey" not in page:
                return entries
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def apply(self, change: StockChange) -> None:
        """Writes the change and its entries atomically.

        Raises VersionConflictError when the item's version moved or an entry's id is taken (a
        concurrent duplicate landed first): the caller reads again and decides anew.
        """
        entries = [self._entry_put(entry) for entry in change.entries]
        try:
            self._client.transact_write_items(TransactItems=[self._catalogue_update(change), *entries])
        except ClientError as error:
            if any(reason != NO_FAILURE for reason in cancellation_reasons(error)):
                raise VersionConflictError(change.after.sku) from error
            raise

    def _catalogue_update(self, change: StockChange) -> dict[str, Any]:
        attributes = {**stock_attributes(change.after), "updatedAt": now()}
        values: dict[str, Any] = {f":{name}": value for name, value in attributes.items()}
        if change.before is None:
            condition = "attribute_not_exists(sku)"
        elif change.before.version == 0:
            condition = "attribute_exists(sku) AND attribute_not_exists(#version)"
        else:
            condition = "#version = :expected"
            values[":expected"] = change.before.version
        return {
            "Update": {
                "TableName": self._catalogue.name,
                "Key": {"sku": change.after.sku},
                "UpdateExpression": "SET " + ", ".join(f"#{name} = :{name}" for name in attributes),
                "ConditionExpression": condition,
                "ExpressionAttributeNames": names(*attributes),
                "ExpressionAttributeValues": values,
            }
        }

    def _entry_put(self, entry: Adjustment) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": self._adjustments.name,
                "Item": {
                    "sku": entry.sku,
                    "adjustmentId": entry.adjustment_id,
                    "kind": entry.kind.value,
                    "delta": entry.delta,
                    "reason": entry.reason,
                    "at": entry.at,
                    **stock_attributes(entry.result),
                },
                "ConditionExpression": "attribute_not_exists(adjustmentId)",
            }
        }


def _adjustment(item: Mapping[str, Any]) -> Adjustment:
    return Adjustment(
        sku=item["sku"],
        adjustment_id=item["adjustmentId"],
        kind=AdjustmentKind(item["kind"]),
        delta=int(item["delta"]),
        reason=item["reason"],
        at=item["at"],
        result=stock_level(item),
    )
