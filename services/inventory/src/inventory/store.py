"""DynamoDB persistence of the catalogue and the reservations.

Stock only moves inside TransactWriteItems together with the reservation's state, so a reservation
and the units it holds can never disagree, and no condition lets a count drop below zero.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from inventory.reservation import Reservation, ReservationState
from inventory.stock import StockLevel
from orderflow_shared.contracts.values import PricedOrder

_BATCH_GET_LIMIT = 100
_CONDITION_FAILED = "ConditionalCheckFailed"


class StockMovedError(Exception):
    """Catalogue items changed between reading them and reserving (stock taken, price changed)."""

    def __init__(self, skus: list[str]) -> None:
        super().__init__(f"stock or price changed concurrently for {', '.join(skus)}")
        self.skus = skus


class StockInvariantError(RuntimeError):
    """Settling would drive a reserved count below zero: the books disagree with the reservation."""


class InventoryStore:
    def __init__(self, catalogue: Any, reservations: Any) -> None:
        """Takes boto3 DynamoDB Table resources (their client accepts and returns plain Python values)."""
        self._catalogue = catalogue
        self._reservations = reservations
        self._client = catalogue.meta.client

    # --- catalogue -------------------------------------------------------------------------------

    def stock_level(self, sku: str) -> StockLevel | None:
        item = self._catalogue.get_item(Key={"sku": sku}, ConsistentRead=True).get("Item")
        return _stock_level(item) if item else None

    def stock_levels(self, skus: Iterable[str]) -> dict[str, StockLevel]:
        wanted = list(dict.fromkeys(skus))
        levels: dict[str, StockLevel] = {}
        for start in range(0, len(wanted), _BATCH_GET_LIMIT):
            request = {
                self._catalogue.name: {
                    "Keys": [{"sku": sku} for sku in wanted[start : start + _BATCH_GET_LIMIT]],
                    "ConsistentRead": True,
                }
            }
            while request:
                response = self._client.batch_get_item(RequestItems=request)
                for item in response["Responses"].get(self._catalogue.name, []):
                    levels[item["sku"]] = _stock_level(item)
                request = response.get("UnprocessedKeys") or {}
        return levels

    def set_stock(self, sku: str, available: int, unit_price: int, currency: str) -> StockLevel:
        """The operator's call: sets sellable units and price; units held by reservations stay."""
        response = self._catalogue.update_item(
            Key={"sku": sku},
            UpdateExpression=(
                "SET #available = :available, #unitPrice = :unitPrice, #currency = :currency,"
                " #reserved = if_not_exists(#reserved, :zero), #updatedAt = :now"
            ),
            ExpressionAttributeNames=_names("available", "unitPrice", "currency", "reserved", "updatedAt"),
            ExpressionAttributeValues={
                ":available": available,
                ":unitPrice": unit_price,
                ":currency": currency,
                ":zero": 0,
                ":now": _now(),
            },
            ReturnValues="ALL_NEW",
        )
        return _stock_level(response["Attributes"])

    # --- reservations ----------------------------------------------------------------------------

    def reservation(self, order_id: str) -> Reservation | None:
        item = self._reservations.get_item(Key={"orderId": order_id}, ConsistentRead=True).get("Item")
        return _reservation(item) if item else None

    def hold(
        self, order_id: str, order: PricedOrder, demand: Mapping[str, int], levels: Mapping[str, StockLevel]
    ) -> Reservation:
        """Moves every SKU's demand from available to reserved and records the reservation, atomically.

        Each catalogue update is conditioned on enough units AND on the price it was priced at, so
        the stored order always carries the catalogue price of the moment the stock was taken.
        Returns the stored reservation: this one, or the one an earlier delivery already made.
        Raises StockMovedError (nothing changed) when any catalogue item no longer matches.
        """
        now = _now()
        reservation_item = {
            "orderId": order_id,
            "state": ReservationState.RESERVED.value,
            **order.to_wire(),
            "createdAt": now,
            "updatedAt": now,
        }
        reservation_put = {
            "Put": {
                "TableName": self._reservations.name,
                "Item": reservation_item,
                "ConditionExpression": "attribute_not_exists(orderId)",
            }
        }
        stock_updates = [
            {
                "Update": {
                    "TableName": self._catalogue.name,
                    "Key": {"sku": sku},
                    "UpdateExpression": (
                        "SET #available = #available - :quantity, #reserved = #reserved + :quantity,"
                        " #updatedAt = :now"
                    ),
                    "ConditionExpression": (
                        "#available >= :quantity AND #unitPrice = :unitPrice AND #currency = :currency"
                    ),
                    "ExpressionAttributeNames": _names(
                        "available", "reserved", "unitPrice", "currency", "updatedAt"
                    ),
                    "ExpressionAttributeValues": {
                        ":quantity": quantity,
                        ":unitPrice": levels[sku].unit_price,
                        ":currency": levels[sku].currency,
                        ":now": now,
                    },
                }
            }
            for sku, quantity in demand.items()
        ]
        try:
            self._client.transact_write_items(TransactItems=[reservation_put, *stock_updates])
        except ClientError as error:
            reasons = _cancellation_reasons(error)
            if reasons[0] == _CONDITION_FAILED:
                return self._stored_reservation(order_id)
            raise StockMovedError(_failed_skus(demand, reasons[1:])) from error
        return _reservation(reservation_item)

    def reject(self, order_id: str, reason: str) -> Reservation:
        """Records that the order could not be reserved; returns whatever is stored for the order."""
        now = _now()
        item = {
            "orderId": order_id,
            "state": ReservationState.REJECTED.value,
            "rejection": reason,
            "createdAt": now,
            "updatedAt": now,
        }
        try:
            self._reservations.put_item(Item=item, ConditionExpression="attribute_not_exists(orderId)")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            return self._stored_reservation(order_id)
        return _reservation(item)

    def settle(self, order_id: str, demand: Mapping[str, int], target: ReservationState) -> bool:
        """Commits or releases a RESERVED reservation and its units in one transaction.

        Commit: the units leave the books (reserved -= q; available was taken at reserve time).
        Release: the units return to sale (available += q, reserved -= q).
        Returns False, changing nothing, when the reservation is no longer RESERVED.
        """
        now = _now()
        returns_to_sale = target is ReservationState.RELEASED
        update = "SET #reserved = #reserved - :quantity, #updatedAt = :now"
        if returns_to_sale:
            update += ", #available = #available + :quantity"
        stock_updates = [
            {
                "Update": {
                    "TableName": self._catalogue.name,
                    "Key": {"sku": sku},
                    "UpdateExpression": update,
                    "ConditionExpression": "#reserved >= :quantity",
                    "ExpressionAttributeNames": _names(
                        "reserved", "updatedAt", *(["available"] if returns_to_sale else [])
                    ),
                    "ExpressionAttributeValues": {":quantity": quantity, ":now": now},
                }
            }
            for sku, quantity in demand.items()
        ]
        state_change = {
            "Update": {
                "TableName": self._reservations.name,
                "Key": {"orderId": order_id},
                "UpdateExpression": "SET #state = :target, #updatedAt = :now",
                "ConditionExpression": "#state = :reserved",
                "ExpressionAttributeNames": _names("state", "updatedAt"),
                "ExpressionAttributeValues": {
                    ":target": target.value,
                    ":reserved": ReservationState.RESERVED.value,
                    ":now": now,
                },
            }
        }
        try:
            self._client.transact_write_items(TransactItems=[state_change, *stock_updates])
        except ClientError as error:
            reasons = _cancellation_reasons(error)
            if reasons[0] == _CONDITION_FAILED:
                return False
            failed = ", ".join(_failed_skus(demand, reasons[1:]))
            raise StockInvariantError(
                f"order {order_id}: the catalogue holds fewer reserved units of {failed}"
                " than the reservation does"
            ) from error
        return True

    def _stored_reservation(self, order_id: str) -> Reservation:
        stored = self.reservation(order_id)
        if stored is None:  # the condition said it exists; a consistent read must see it
            raise RuntimeError(f"reservation of order {order_id} exists but cannot be read")
        return stored


def _cancellation_reasons(error: ClientError) -> list[str]:
    """The per-item reason codes of a cancelled transaction; re-raises any other error."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        raise error
    return [reason.get("Code", "None") for reason in error.response.get("CancellationReasons", [])]


def _failed_skus(demand: Mapping[str, int], reasons: list[str]) -> list[str]:
    """The SKUs whose catalogue update cancelled the transaction (reasons follow the update order)."""
    return [sku for sku, reason in zip(demand, reasons, strict=True) if reason != "None"]


def _names(*attributes: str) -> dict[str, str]:
    # Placeholders for every attribute: "state" (and others) are DynamoDB reserved words.
    return {f"#{attribute}": attribute for attribute in attributes}


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _stock_level(item: Mapping[str, Any]) -> StockLevel:
    return StockLevel(
        sku=item["sku"],
        available=int(item["available"]),
        reserved=int(item.get("reserved", 0)),
        unit_price=int(item["unitPrice"]),
        currency=item["currency"],
    )


def _reservation(item: Mapping[str, Any]) -> Reservation:
    state = ReservationState(item["state"])
    if state is ReservationState.REJECTED:
        return Reservation(order_id=item["orderId"], state=state, rejection=item.get("rejection"))
    return Reservation(order_id=item["orderId"], state=state, order=PricedOrder.model_validate(item))
