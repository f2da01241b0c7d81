"""The PricedReservations table: each order's total as inventory reserved it (StockReserved).

Items: ``orderId``, ``amount``, ``currency``, ``recordedAt``, ``expiresAt`` (TTL: a reservation is
only needed while its order may still be charged). The first record of an order stays: inventory
prices a reservation once, and a redelivered StockReserved carries the same total.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from payments.verification import PricedTotal

logger = logging.getLogger(__name__)

# Far beyond any order's workflow (its steps time out within hours); then DynamoDB deletes the item.
RETENTION_SECONDS = 30 * 24 * 3600


class DynamoDbPricedReservations:
    def __init__(self, table: Any) -> None:
        self._table = table

    def record(self, order_id: str, total: PricedTotal) -> None:
        try:
            self._table.put_item(
                Item={
                    "orderId": order_id,
                    "amount": total.amount,
                    "currency": total.currency,
                    "recordedAt": datetime.now(UTC).isoformat(),
                    "expiresAt": int(time.time()) + RETENTION_SECONDS,
                },
                ConditionExpression="attribute_not_exists(orderId)",
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            if self.total(order_id) != total:
                logger.error(
                    "a second StockReserved with another total; the first stays", extra={"order_id": order_id}
                )

    def total(self, order_id: str) -> PricedTotal | None:
        item = self._table.get_item(Key={"orderId": order_id}, ConsistentRead=True).get("Item")
        if item is None:
            return None
        return PricedTotal(amount=int(item["amount"]), currency=str(item["currency"]))
