"""The inventory's use cases: reserve an order's stock, then commit or release it.

Every use case is idempotent on the order id: a redelivered message finds the stored reservation
and repeats nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from inventory.reservation import ReservationState, SettlementPlan, plan_settlement
from inventory.stock import OutOfStock, check_reservable, demanded_quantities, ordered_items, price_order
from inventory.store import InventoryStore, StockMovedError
from orderflow_shared.contracts.values import OrderItem, PricedOrder

logger = logging.getLogger(__name__)

# Each attempt re-reads the catalogue; losing this many races in a row to concurrent orders or
# price changes is a transient fault, left to the queue's redelivery.
MAX_RESERVE_ATTEMPTS = 3


class StockContentionError(RuntimeError):
    """The catalogue kept changing under the reservation; the command is retried later."""


class Inventory:
    def __init__(self, store: InventoryStore) -> None:
        self._store = store

    def reserve(self, order_id: str, items: Sequence[OrderItem]) -> PricedOrder:
        """Holds every line's stock, or none of it; raises OutOfStock with a cause naming the SKUs."""
        stored = self._store.reservation(order_id)
        if stored is not None:
            logger.info("order already answered; repeating its outcome", extra={"state": stored.state})
            return stored.outcome()
        demand = demanded_quantities(items)
        for _ in range(MAX_RESERVE_ATTEMPTS):
            levels = self._store.stock_levels(demand)
            try:
                check_reservable(demand, levels)
            except OutOfStock as rejection:
                return self._store.reject(order_id, rejection.cause).outcome()
            try:
                held = self._store.hold(order_id, price_order(items, levels), demand, levels)
            except StockMovedError as moved:
                logger.info("catalogue changed while reserving; re-reading", extra={"skus": moved.skus})
                continue
            return held.outcome()
        raise StockContentionError(
            f"order {order_id}: catalogue kept changing over {MAX_RESERVE_ATTEMPTS} attempts"
        )

    def commit(self, order_id: str) -> PricedOrder | None:
        """Makes a paid order's reservation final; returns the committed order, or None if none was held."""
        return self._settle(order_id, ReservationState.COMMITTED)

    def release(self, order_id: str) -> PricedOrder | None:
        """Puts a reservation's units back on sale; returns the released order, or None if none was held."""
        return self._settle(order_id, ReservationState.RELEASED)

    def _settle(self, order_id: str, target: ReservationState) -> PricedOrder | None:
        # Two passes at most: the second sees the state a concurrent delivery settled it to.
        for _ in range(2):
            reservation = self._store.reservation(order_id)
            plan = plan_settlement(reservation, target)
            if plan is SettlementPlan.NOTHING_HELD:
                logger.info("no stock held for the order; nothing to settle", extra={"target": target})
                return None
            if plan is SettlementPlan.SETTLED_OTHERWISE:
                logger.warning(
                    "reservation already settled the other way; ignoring",
                    extra={"target": target, "state": reservation.state if reservation else None},
                )
                return None
            assert reservation is not None  # the plans above cover a missing reservation
            order = reservation.outcome()
            if plan is SettlementPlan.ALREADY_SETTLED:
                # The delivery that settled it may have failed before publishing its event.
                logger.info("reservation already settled; repeating its event", extra={"target": target})
                return order
            if self._store.settle(order_id, demanded_quantities(ordered_items(order)), target):
                return order
        raise RuntimeError(f"order {order_id}: the reservation refused to settle yet still reads as RESERVED")
