"""An order's reservation and its life: RESERVED -> COMMITTED or RESERVED -> RELEASED.

A ReserveStock command that could not be served is recorded as REJECTED, so that a redelivered
command gets the same answer instead of reserving stock that arrived in the meantime for an order
the workflow has already failed.

Every settlement leaves a terminal record, even for an order that never reserved (a tombstone: a
COMMITTED or RELEASED record without lines), so a late or replayed ReserveStock finds the order
settled and reserves nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from inventory.stock import Count, OutOfStock
from orderflow_shared.contracts.values import PricedOrder

# The sweeper finds held reservations through an index keyed on a shard: spreading them over a
# few keys keeps one index partition from taking every order's writes.
HELD_SHARDS = 8

ALREADY_SETTLED_CAUSE = "order already settled"


class ReservationState(StrEnum):
    RESERVED = "RESERVED"
    COMMITTED = "COMMITTED"
    RELEASED = "RELEASED"
    REJECTED = "REJECTED"


class OrderOutcome(StrEnum):
    """The order's final word as inventory heard it, recorded before the reservation is settled or, for
    a payment, by the settlement itself."""

    PAID = "PAID"
    FAILED = "FAILED"

    @property
    def settles_as(self) -> ReservationState:
        return ReservationState.COMMITTED if self is OrderOutcome.PAID else ReservationState.RELEASED


@dataclass(frozen=True)
class Reservation:
    order_id: str
    state: ReservationState
    order: PricedOrder | None = None
    rejection: str | None = None
    order_outcome: OrderOutcome | None = None

    @property
    def holds_lines(self) -> bool:
        """False for a rejection or a tombstone: no stock was ever moved for the order."""
        return self.order is not None and self.state is not ReservationState.REJECTED

    def outcome(self) -> PricedOrder:
        """The answer to the ReserveStock command, the same on every delivery.

        A released order's stock is no longer held, so a late command is told it is out of stock
        rather than handed a priced order the workflow could no longer honour.
        """
        if self.order is None or self.state is ReservationState.RELEASED:
            raise OutOfStock(self.rejection or ALREADY_SETTLED_CAUSE)
        return self.order


@dataclass(frozen=True)
class HeldReservation:
    """A reservation still RESERVED, as the sweeper finds it: listed by its index, with the word its
    record holds."""

    order_id: str
    held_since: datetime
    order_outcome: OrderOutcome | None


class SettlementPlan(StrEnum):
    APPLY = "APPLY"
    """Move the stock and change the state (a held reservation, or a sale the order's failure undoes)."""

    FENCE = "FENCE"
    """No record for the order: write a terminal one, so a late ReserveStock reserves nothing."""

    ALREADY_SETTLED = "ALREADY_SETTLED"
    """A duplicate: this settlement already happened; only its event is published again."""

    SETTLED_OTHERWISE = "SETTLED_OTHERWISE"
    """The order's final word is a failure (released, or to be released): a commit is a no-op."""

    NOTHING_HELD = "NOTHING_HELD"
    """No stock was ever held for the order (rejected, or fenced before reserving): no-op."""


def plan_settlement(reservation: Reservation | None, target: ReservationState) -> SettlementPlan:
    """What settling toward ``target`` does, given what is stored for the order.

    A failure outranks a payment: once an order failed, payments refunds it (a charge that landed
    after the failure included), so its units go back on sale even when they were committed, and
    a commit arriving after the failure changes nothing.
    """
    if target not in (ReservationState.COMMITTED, ReservationState.RELEASED):
        raise ValueError(f"a reservation settles as COMMITTED or RELEASED, not {target}")
    if reservation is None:
        return SettlementPlan.FENCE
    if not reservation.holds_lines:
        return SettlementPlan.NOTHING_HELD
    if target is ReservationState.COMMITTED and reservation.order_outcome is OrderOutcome.FAILED:
        return SettlementPlan.SETTLED_OTHERWISE
    if reservation.state is target:
        return SettlementPlan.ALREADY_SETTLED
    if reservation.state is ReservationState.RESERVED:
        return SettlementPlan.APPLY
    if reservation.state is ReservationState.COMMITTED:  # and the target is RELEASED
        return SettlementPlan.APPLY
    return SettlementPlan.SETTLED_OTHERWISE


def held_shard(order_id: str) -> str:
    """The index shard of a held reservation: stable per order, spread evenly over HELD_SHARDS."""
    digest = hashlib.sha256(order_id.encode()).digest()
    return str(int.from_bytes(digest[:4], "big") % HELD_SHARDS)


def held_shards() -> list[str]:
    return [str(shard) for shard in range(HELD_SHARDS)]


def settlement_move(source: ReservationState, target: ReservationState) -> tuple[Count, Count]:
    """The counts a settlement moves the order's units from and to.

    Commit: reserved -> sold. Release: reserved -> available. A failure after a commit returns the
    sale: sold -> available.
    """
    moves = {
        (ReservationState.RESERVED, ReservationState.COMMITTED): (Count.RESERVED, Count.SOLD),
        (ReservationState.RESERVED, ReservationState.RELEASED): (Count.RESERVED, Count.AVAILABLE),
        (ReservationState.COMMITTED, ReservationState.RELEASED): (Count.SOLD, Count.AVAILABLE),
    }
    if (source, target) not in moves:
        raise ValueError(f"a reservation does not settle from {source} to {target}")
    return moves[(source, target)]
