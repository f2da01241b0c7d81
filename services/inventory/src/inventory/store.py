"""DynamoDB persistence of the catalogue and the reservations.

Stock only moves inside TransactWriteItems together with the reservation's state, so a reservation
and the units it holds can never disagree, and no condition lets a count drop below zero. Every
such transaction also increments the SKU's version, so an operator's change computed from an
older read is refused rather than overwriting it.

A RESERVED record carries ``heldShard`` and ``heldSince``, the keys of the sparse index the
sweeper reads; settling removes them, so the index lists exactly the reservations still held. The
index holds keys only, so writing an order's final word on its record never rewrites its entry; the
sweeper reads each held record's word from the table itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from inventory.dynamo import (
    CONDITION_FAILED,
    NO_FAILURE,
    cancellation_reasons,
    is_condition_failure,
    names,
    now,
    stock_level,
)
from inventory.reservation import (
    ALREADY_SETTLED_CAUSE,
    HeldReservation,
    OrderOutcome,
    Reservation,
    ReservationState,
    held_shard,
    held_shards,
    settlement_move,
)
from inventory.stock import StockLevel
from orderflow_shared.contracts.values import PricedOrder

HELD_INDEX = "HeldReservationsByShard"  # template.yaml: ReservationsTable's GlobalSecondaryIndexes

_BATCH_GET_LIMIT = 100
# Every catalogue change increments the version; items from before it existed start at 0.
_NEXT_VERSION = "#version = if_not_exists(#version, :zero) + :one"


class StockMovedError(Exception):
    """Catalogue items changed between reading them and reserving (stock taken, price changed)."""

    def __init__(self, skus: list[str]) -> None:
        super().__init__(f"stock or price changed concurrently for {', '.join(skus)}")
        self.skus = skus


class StockInvariantError(RuntimeError):
    """Settling would drive a count below zero: the books disagree with the reservation."""


class InventoryStore:
    def __init__(self, catalogue: Any, reservations: Any) -> None:
        """Takes boto3 DynamoDB Table resources (their client accepts and returns plain Python values)."""
        self._catalogue = catalogue
        self._reservations = reservations
        self._client = catalogue.meta.client

    # --- catalogue -------------------------------------------------------------------------------

    def stock_level(self, sku: str) -> StockLevel | None:
        item = self._catalogue.get_item(Key={"sku": sku}, ConsistentRead=True).get("Item")
        return stock_level(item) if item else None

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
                    levels[item["sku"]] = stock_level(item)
                request = response.get("UnprocessedKeys") or {}
        return levels

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
        Returns the stored reservation: this one, or whatever an earlier delivery (or a settlement
        that fenced the order) already stored.
        Raises StockMovedError (nothing changed) when any catalogue item no longer matches.
        """
        at = now()
        reservation_item = {
            "orderId": order_id,
            "state": ReservationState.RESERVED.value,
            **order.to_wire(),
            "heldShard": held_shard(order_id),
            "heldSince": at,
            "createdAt": at,
            "updatedAt": at,
        }
        reservation_put = {
            "Put": {
                "TableName": self._reservations.name,
                "Item": reservation_item,
                # The same condition as a settlement's tombstone: whichever lands first wins.
                "ConditionExpression": "attribute_not_exists(orderId)",
            }
        }
        stock_updates = [
            {
                "Update": {
                    "TableName": self._catalogue.name,
                    "Key": {"sku": sku},
                    "UpdateExpression": (
                        "SET #available = #available - :quantity,"
                        " #reserved = if_not_exists(#reserved, :zero) + :quantity,"
                        f" {_NEXT_VERSION}, #updatedAt = :now"
                    ),
                    "ConditionExpression": (
                        "#available >= :quantity AND #unitPrice = :unitPrice AND #currency = :currency"
                    ),
                    "ExpressionAttributeNames": names(
                        "available", "reserved", "unitPrice", "currency", "version", "updatedAt"
                    ),
                    "ExpressionAttributeValues": {
                        ":quantity": quantity,
                        ":unitPrice": levels[sku].unit_price,
                        ":currency": levels[sku].currency,
                        ":zero": 0,
                        ":one": 1,
                        ":now": at,
                    },
                }
            }
            for sku, quantity in demand.items()
        ]
        try:
            self._client.transact_write_items(TransactItems=[reservation_put, *stock_updates])
        except ClientError as error:
            reasons = cancellation_reasons(error)
            if reasons[0] == CONDITION_FAILED:
                return self._stored_reservation(order_id)
            raise StockMovedError(_failed_skus(demand, reasons[1:])) from error
        return _reservation(reservation_item)

    def reject(self, order_id: str, reason: str) -> Reservation:
        """Records that the order could not be reserved; returns whatever is stored for the order."""
        at = now()
        item = {
            "orderId": order_id,
            "state": ReservationState.REJECTED.value,
            "rejection": reason,
            "createdAt": at,
            "updatedAt": at,
        }
        if not self._put_first_record(item):
            return self._stored_reservation(order_id)
        return _reservation(item)

    def record_outcome(self, order_id: str, outcome: OrderOutcome) -> Reservation | None:
        """Records the order's final word on its record; returns the record, None when there is none.

        A failure is final (the order is refunded), so PAID never replaces FAILED; the record then
        comes back with FAILED.
        """
        condition = "attribute_exists(orderId)"
        if outcome is OrderOutcome.PAID:
            condition += " AND (attribute_not_exists(#orderOutcome) OR #orderOutcome <> :failed)"
        values: dict[str, Any] = {":outcome": outcome.value, ":now": now()}
        if outcome is OrderOutcome.PAID:
            values[":failed"] = OrderOutcome.FAILED.value
        try:
            response = self._reservations.update_item(
                Key={"orderId": order_id},
                UpdateExpression="SET #orderOutcome = :outcome, #updatedAt = :now",
                ConditionExpression=condition,
                ExpressionAttributeNames=names("orderOutcome", "updatedAt"),
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            return self.reservation(order_id)
        return _reservation(response["Attributes"])

    def fence(self, order_id: str, state: ReservationState, outcome: OrderOutcome) -> bool:
        """Writes a terminal record for an order that holds no reservation.

        Returns False, writing nothing, when a record exists (a reservation landed first).
        """
        at = now()
        item = {
            "orderId": order_id,
            "state": state.value,
            "orderOutcome": outcome.value,
            "rejection": ALREADY_SETTLED_CAUSE,
            "createdAt": at,
            "updatedAt": at,
        }
        return self._put_first_record(item)

    def _put_first_record(self, item: dict[str, Any]) -> bool:
        """Writes the order's record unless it has one (False): the reservation, rejection and
        tombstone of an order race on this one condition, so exactly one of them is ever written."""
        try:
            self._reservations.put_item(Item=item, ConditionExpression="attribute_not_exists(orderId)")
        except ClientError as error:
            if not is_condition_failure(error):
                raise
            return False
        return True

    def settle(
        self,
        order_id: str,
        demand: Mapping[str, int],
        source: ReservationState,
        target: ReservationState,
        outcome: OrderOutcome | None = None,
    ) -> bool:
        """Moves the order's units between counts (see settlement_move) and changes its state, atomically.

        With ``outcome``, the same transaction records it as the order's final word, under
        record_outcome's rule: PAID never replaces FAILED.
        Returns False, changing nothing, when the reservation is no longer in ``source`` (or the
        word to record is PAID and the order has failed).
        """
        from_count, to_count = settlement_move(source, target)
        at = now()
        stock_updates = [
            {
                "Update": {
                    "TableName": self._catalogue.name,
                    "Key": {"sku": sku},
                    "UpdateExpression": (
                        "SET #from = #from - :quantity, #to = if_not_exists(#to, :zero) + :quantity,"
                        f" {_NEXT_VERSION}, #updatedAt = :now"
                    ),
                    "ConditionExpression": "#from >= :quantity",
                    "ExpressionAttributeNames": {
                        "#from": from_count.value,
                        "#to": to_count.value,
                        **names("version", "updatedAt"),
                    },
                    "ExpressionAttributeValues": {":quantity": quantity, ":zero": 0, ":one": 1, ":now": at},
                }
            }
            for sku, quantity in demand.items()
        ]
        assignments, condition = "#state = :target, #updatedAt = :now", "#state = :source"
        attribute_names = names("state", "updatedAt", "heldShard", "heldSince")
        values: dict[str, Any] = {":target": target.value, ":source": source.value, ":now": at}
        if outcome is not None:
            assignments += ", #orderOutcome = :outcome"
            attribute_names |= names("orderOutcome")
            values[":outcome"] = outcome.value
            if outcome is OrderOutcome.PAID:
                condition += " AND (attribute_not_exists(#orderOutcome) OR #orderOutcome <> :failed)"
                values[":failed"] = OrderOutcome.FAILED.value
        state_change = {
            "Update": {
                "TableName": self._reservations.name,
                "Key": {"orderId": order_id},
                "UpdateExpression": f"SET {assignments} REMOVE #heldShard, #heldSince",
                "ConditionExpression": condition,
                "ExpressionAttributeNames": attribute_names,
                "ExpressionAttributeValues": values,
            }
        }
        try:
            self._client.transact_write_items(TransactItems=[state_change, *stock_updates])
        except ClientError as error:
            reasons = cancellation_reasons(error)
            if reasons[0] == CONDITION_FAILED:
                return False
            failed = ", ".join(_failed_skus(demand, reasons[1:]))
            if not failed:
                raise
            raise StockInvariantError(
                f"order {order_id}: the catalogue holds fewer {from_count.value} units of {failed}"
                " than the reservation does"
            ) from error
        return True

    def held_reservations(self) -> Iterator[HeldReservation]:
        """Every reservation still RESERVED, oldest first within each shard of the sparse index.

        The index lists keys only: each record is then read, consistently, for its word. One the
        index still lists but that has been settled since (the index lags the table) is left out.
        """
        listed: list[str] = []
        for shard in held_shards():
            query: dict[str, Any] = {
                "IndexName": HELD_INDEX,
                "KeyConditionExpression": "#heldShard = :shard",
                "ExpressionAttributeNames": names("heldShard"),
                "ExpressionAttributeValues": {":shard": shard},
            }
            while True:
                page = self._reservations.query(**query)
                listed += [item["orderId"] for item in page.get("Items", [])]
                while len(listed) >= _BATCH_GET_LIMIT:
                    yield from self._still_held(listed[:_BATCH_GET_LIMIT])
                    del listed[:_BATCH_GET_LIMIT]
                if "LastEvaluatedKey" not in page:
                    break
                query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        if listed:
            yield from self._still_held(listed)

    def _still_held(self, order_ids: list[str]) -> list[HeldReservation]:
        """The records of ``order_ids`` (at most a batch) that are still RESERVED, in that order."""
        request: dict[str, Any] = {
            self._reservations.name: {
                "Keys": [{"orderId": order_id} for order_id in order_ids],
                "ConsistentRead": True,
                "ProjectionExpression": "#orderId, #state, #heldSince, #orderOutcome",
                "ExpressionAttributeNames": names("orderId", "state", "heldSince", "orderOutcome"),
            }
        }
        records: dict[str, Mapping[str, Any]] = {}
        while request:
            response = self._client.batch_get_item(RequestItems=request)
            for item in response["Responses"].get(self._reservations.name, []):
                records[item["orderId"]] = item
            request = response.get("UnprocessedKeys") or {}
        return [
            _held(records[order_id])
            for order_id in order_ids
            if order_id in records
            and records[order_id]["state"] == ReservationState.RESERVED.value
            and "heldSince" in records[order_id]
        ]

    def _stored_reservation(self, order_id: str) -> Reservation:
        stored = self.reservation(order_id)
        if stored is None:  # the condition said it exists; a consistent read must see it
            raise RuntimeError(f"reservation of order {order_id} exists but cannot be read")
        return stored


def _failed_skus(demand: Mapping[str, int], reasons: list[str]) -> list[str]:
    """The SKUs whose catalogue update cancelled the transaction (reasons follow the update order)."""
    return [sku for sku, reason in zip(demand, reasons, strict=True) if reason != NO_FAILURE]


def _reservation(item: Mapping[str, Any]) -> Reservation:
    outcome = item.get("orderOutcome")
    return Reservation(
        order_id=item["orderId"],
        state=ReservationState(item["state"]),
        # Rejections and tombstones hold no lines: no stock was ever moved for the order.
        order=PricedOrder.model_validate(item) if "lines" in item else None,
        rejection=item.get("rejection"),
        order_outcome=OrderOutcome(outcome) if outcome else None,
    )


def _held(item: Mapping[str, Any]) -> HeldReservation:
    outcome = item.get("orderOutcome")
    return HeldReservation(
        order_id=item["orderId"],
        held_since=datetime.fromisoformat(item["heldSince"]),
        order_outcome=OrderOutcome(outcome) if outcome else None,
    )
