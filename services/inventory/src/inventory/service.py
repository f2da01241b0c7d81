"""The inventory's use cases: reserve an order's stock, then commit or release it.

Every use case is idempotent on the order id: a redelivered message finds the stored reservation
and repeats nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from inventory.reservation import OrderOutcome, ReservationState, SettlementPlan, plan_settlement
from inventory.stock import OutOfStock, check_reservable, demanded_quantities, ordered_items, price_order
from inventory.store import InventoryStore, StockMovedError
from orderflow_shared.contracts.values import OrderItem, PricedOrder

logger = logging.getLogger(__name__)

# Each attempt re-reads the catalogue; losing this many races in a row to concurrent orders or
# price changes is a transient fault, reported to the workflow (ServiceFault), whose Retry decides.
MAX_RESERVE_ATTEMPTS = 3
MAX_SETTLE_ATTEMPTS = 3


class StockContentionError(RuntimeError):
    """The catalogue kept changing under the reservation; the workflow retries the step."""


@dataclass(frozen=True)
class Settlement:
    order_id: str
    order: PricedOrder
    state: ReservationState
    """COMMITTED or RELEASED."""
    applied: bool
    """False when an earlier delivery had settled it already (only its event is repeated)."""


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

    def commit(self, order_id: str) -> Settlement | None:
        """Makes a paid order's reservation final; None when nothing is held or the order failed."""
        return self.settle(order_id, OrderOutcome.PAID)

    def release(self, order_id: str) -> Settlement | None:
        """Puts a failed order's units back on sale; None when nothing was held."""
        return self.settle(order_id, OrderOutcome.FAILED)

    def settle(self, order_id: str, outcome: OrderOutcome) -> Settlement | None:
        """Records the order's final word and settles its reservation accordingly.

        A failure is recorded first: a delivery that dies before the transaction leaves it for the
        sweeper to finish, and a commit that reads it commits nothing. A payment is recorded by the
        settling transaction itself, so there is no half-done state to leave; a transaction that
        fails for any reason but its condition records it on its own before the error goes on, so
        the sweeper still finishes what the delivery could not. An order with no record gets a
        terminal one (fenced).
        """
        target = outcome.settles_as
        word_with_settlement = outcome is OrderOutcome.PAID
        # A few passes: a tombstone may lose to a reservation landing at the same moment, and a
        # settlement to a concurrent one; each pass re-reads what won.
        for _ in range(MAX_SETTLE_ATTEMPTS):
            if word_with_settlement:
                reservation = self._store.reservation(order_id)
            else:
                reservation = self._store.record_outcome(order_id, outcome)
            plan = plan_settlement(reservation, target)
            if plan is SettlementPlan.FENCE:
                if self._store.fence(order_id, target, outcome):
                    logger.info("nothing reserved for the order; fenced it", extra={"target": target})
                    return None
                continue
            if plan is SettlementPlan.NOTHING_HELD:
                logger.info("no stock held for the order; nothing to settle", extra={"target": target})
                return None
            # The plans above cover a missing record and one without lines.
            assert reservation is not None
            assert reservation.order is not None
            if plan is SettlementPlan.SETTLED_OTHERWISE:
                logger.warning(
                    "the order already failed; its units are not committed",
                    extra={"target": target, "state": reservation.state},
                )
                return None
            if plan is SettlementPlan.ALREADY_SETTLED:
                # The delivery that settled it may have failed before publishing its event.
                logger.info("reservation already settled; repeating its event", extra={"target": target})
                return Settlement(order_id, reservation.order, target, applied=False)
            demand = demanded_quantities(ordered_items(reservation.order))
            if word_with_settlement:
                settled = self._settle_recording(order_id, demand, reservation.state, outcome)
            else:
                settled = self._store.settle(order_id, demand, reservation.state, target)
            if settled:
                if reservation.state is ReservationState.COMMITTED:
                    logger.warning("the order failed after its units were committed; they are back on sale")
                return Settlement(order_id, reservation.order, target, applied=True)
        raise RuntimeError(f"order {order_id}: the reservation kept changing while it was settled")

    def _settle_recording(
        self, order_id: str, demand: Mapping[str, int], source: ReservationState, outcome: OrderOutcome
    ) -> bool:
        try:
            return self._store.settle(order_id, demand, source, outcome.settles_as, outcome)
        except Exception:
            # Broken books, a throttled or rejected transaction: the word must still be on the
            # record, or the sweeper would never finish the settlement this delivery could not.
            self._store.record_outcome(order_id, outcome)
            raise
