"""An order's reservation and its life: RESERVED -> COMMITTED or RESERVED -> RELEASED.

A ReserveStock command that could not be served is recorded as REJECTED, so that a redelivered
command gets the same answer instead of reserving stock that arrived in the meantime for an order
the workflow has already failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from inventory.stock import OutOfStock
from orderflow_shared.contracts.values import PricedOrder


class ReservationState(StrEnum):
    RESERVED = "RESERVED"
    COMMITTED = "COMMITTED"
    RELEASED = "RELEASED"
    REJECTED = "REJECTED"


@dataclass(frozen=True)
class Reservation:
    order_id: str
    state: ReservationState
    order: PricedOrder | None = None
    rejection: str | None = None

    def outcome(self) -> PricedOrder:
        """The answer to the ReserveStock command, the same on every delivery."""
        if self.order is None:
            raise OutOfStock(self.rejection or "the order could not be reserved")
        return self.order


class SettlementPlan(StrEnum):
    APPLY = "APPLY"
    """The reservation is held: move the stock and change its state."""

    ALREADY_SETTLED = "ALREADY_SETTLED"
    """A duplicate: this settlement already happened; only its event is published again."""

    SETTLED_OTHERWISE = "SETTLED_OTHERWISE"
    """The reservation was settled the other way (e.g. released, then payment succeeded): no-op."""

    NOTHING_HELD = "NOTHING_HELD"
    """No stock is held for the order (never reserved, or rejected): no-op."""


def plan_settlement(reservation: Reservation | None, target: ReservationState) -> SettlementPlan:
    if target not in (ReservationState.COMMITTED, ReservationState.RELEASED):
        raise ValueError(f"a reservation settles as COMMITTED or RELEASED, not {target}")
    if reservation is None or reservation.state is ReservationState.REJECTED:
        return SettlementPlan.NOTHING_HELD
    if reservation.state is ReservationState.RESERVED:
        return SettlementPlan.APPLY
    if reservation.state is target:
        return SettlementPlan.ALREADY_SETTLED
    return SettlementPlan.SETTLED_OTHERWISE
