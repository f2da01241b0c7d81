"""What a commit or release does, given the reservation's current state: no AWS."""

from __future__ import annotations

import pytest

from inventory.reservation import Reservation, ReservationState, SettlementPlan, plan_settlement
from inventory.stock import OutOfStock
from orderflow_shared.contracts.values import PricedLine, PricedOrder

ORDER = PricedOrder(
    lines=[PricedLine(sku="KB-001", quantity=2, unit_price=500, line_total=1000)],
    total_amount=1000,
    currency="USD",
)
COMMITTED, RELEASED = ReservationState.COMMITTED, ReservationState.RELEASED


def reservation(state: ReservationState) -> Reservation:
    return Reservation(order_id="o-1", state=state, order=ORDER)


@pytest.mark.parametrize("target", [COMMITTED, RELEASED])
def test_a_held_reservation_is_settled(target: ReservationState) -> None:
    assert plan_settlement(reservation(ReservationState.RESERVED), target) is SettlementPlan.APPLY


@pytest.mark.parametrize("target", [COMMITTED, RELEASED])
def test_settling_again_the_same_way_is_a_duplicate(target: ReservationState) -> None:
    assert plan_settlement(reservation(target), target) is SettlementPlan.ALREADY_SETTLED


@pytest.mark.parametrize(("state", "target"), [(COMMITTED, RELEASED), (RELEASED, COMMITTED)])
def test_a_settled_reservation_is_never_settled_the_other_way(
    state: ReservationState, target: ReservationState
) -> None:
    assert plan_settlement(reservation(state), target) is SettlementPlan.SETTLED_OTHERWISE


@pytest.mark.parametrize("target", [COMMITTED, RELEASED])
def test_nothing_is_held_without_a_reservation_or_after_a_rejection(target: ReservationState) -> None:
    rejected = Reservation(order_id="o-1", state=ReservationState.REJECTED, rejection="no stock")

    assert plan_settlement(None, target) is SettlementPlan.NOTHING_HELD
    assert plan_settlement(rejected, target) is SettlementPlan.NOTHING_HELD


def test_settling_into_a_non_final_state_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="COMMITTED or RELEASED"):
        plan_settlement(reservation(ReservationState.RESERVED), ReservationState.RESERVED)


def test_a_held_reservation_answers_with_its_priced_order() -> None:
    assert reservation(ReservationState.COMMITTED).outcome() == ORDER


def test_a_rejected_reservation_answers_with_the_same_out_of_stock_cause() -> None:
    rejected = Reservation(
        order_id="o-1", state=ReservationState.REJECTED, rejection="KB-001: requested 5, available 3"
    )

    with pytest.raises(OutOfStock, match="KB-001: requested 5, available 3"):
        rejected.outcome()
