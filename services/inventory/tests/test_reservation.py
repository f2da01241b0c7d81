"""What a commit or release does, given what is stored for the order: no AWS."""

from __future__ import annotations

import pytest

from inventory.reservation import (
    HELD_SHARDS,
    OrderOutcome,
    Reservation,
    ReservationState,
    SettlementPlan,
    held_shard,
    held_shards,
    plan_settlement,
    settlement_move,
)
from inventory.stock import Count, OutOfStock
from orderflow_shared.contracts.values import PricedLine, PricedOrder

ORDER = PricedOrder(
    lines=[PricedLine(sku="KB-001", quantity=2, unit_price=500, line_total=1000)],
    total_amount=1000,
    currency="USD",
)
RESERVED, COMMITTED, RELEASED = (
    ReservationState.RESERVED,
    ReservationState.COMMITTED,
    ReservationState.RELEASED,
)


def reservation(state: ReservationState, outcome: OrderOutcome | None = None) -> Reservation:
    return Reservation(order_id="o-1", state=state, order=ORDER, order_outcome=outcome)


def tombstone(state: ReservationState) -> Reservation:
    return Reservation(order_id="o-1", state=state, rejection="order already settled")


@pytest.mark.parametrize("target", [COMMITTED, RELEASED])
def test_a_held_reservation_is_settled(target: ReservationState) -> None:
    assert plan_settlement(reservation(RESERVED), target) is SettlementPlan.APPLY


@pytest.mark.parametrize("target", [COMMITTED, RELEASED])
def test_settling_again_the_same_way_is_a_duplicate(target: ReservationState) -> None:
    assert plan_settlement(reservation(target), target) is SettlementPlan.ALREADY_SETTLED


def test_a_failure_after_a_commit_returns_the_sale() -> None:
    assert plan_settlement(reservation(COMMITTED), RELEASED) is SettlementPlan.APPLY


def test_a_payment_after_a_release_changes_nothing() -> None:
    assert plan_settlement(reservation(RELEASED), COMMITTED) is SettlementPlan.SETTLED_OTHERWISE


def test_a_payment_never_commits_a_reservation_whose_order_already_failed() -> None:
    held_after_a_failure = reservation(RESERVED, OrderOutcome.FAILED)

    assert plan_settlement(held_after_a_failure, COMMITTED) is SettlementPlan.SETTLED_OTHERWISE
    assert plan_settlement(held_after_a_failure, RELEASED) is SettlementPlan.APPLY


@pytest.mark.parametrize("target", [COMMITTED, RELEASED])
def test_an_order_without_any_record_is_fenced(target: ReservationState) -> None:
    assert plan_settlement(None, target) is SettlementPlan.FENCE


@pytest.mark.parametrize("target", [COMMITTED, RELEASED])
def test_nothing_is_held_after_a_rejection_or_a_tombstone(target: ReservationState) -> None:
    rejected = Reservation(order_id="o-1", state=ReservationState.REJECTED, rejection="no stock")

    assert plan_settlement(rejected, target) is SettlementPlan.NOTHING_HELD
    assert plan_settlement(tombstone(COMMITTED), target) is SettlementPlan.NOTHING_HELD
    assert plan_settlement(tombstone(RELEASED), target) is SettlementPlan.NOTHING_HELD


def test_settling_into_a_non_final_state_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="COMMITTED or RELEASED"):
        plan_settlement(reservation(RESERVED), RESERVED)


@pytest.mark.parametrize(
    ("source", "target", "move"),
    [
        (RESERVED, COMMITTED, (Count.RESERVED, Count.SOLD)),
        (RESERVED, RELEASED, (Count.RESERVED, Count.AVAILABLE)),
        (COMMITTED, RELEASED, (Count.SOLD, Count.AVAILABLE)),
    ],
)
def test_each_settlement_moves_units_between_two_counts(
    source: ReservationState, target: ReservationState, move: tuple[Count, Count]
) -> None:
    assert settlement_move(source, target) == move


def test_no_settlement_moves_units_out_of_a_release() -> None:
    with pytest.raises(ValueError, match="does not settle"):
        settlement_move(RELEASED, COMMITTED)


@pytest.mark.parametrize("state", [RESERVED, COMMITTED])
def test_a_held_or_committed_reservation_answers_with_its_priced_order(state: ReservationState) -> None:
    assert reservation(state).outcome() == ORDER


def test_a_rejected_reservation_answers_with_the_same_out_of_stock_cause() -> None:
    rejected = Reservation(
        order_id="o-1", state=ReservationState.REJECTED, rejection="KB-001: requested 5, available 3"
    )

    with pytest.raises(OutOfStock, match="KB-001: requested 5, available 3"):
        rejected.outcome()


@pytest.mark.parametrize("settled", [reservation(RELEASED), tombstone(RELEASED), tombstone(COMMITTED)])
def test_a_settled_order_answers_a_late_reserve_stock_with_out_of_stock(settled: Reservation) -> None:
    with pytest.raises(OutOfStock, match="order already settled"):
        settled.outcome()


def test_an_outcome_settles_as_its_state() -> None:
    assert OrderOutcome.PAID.settles_as is COMMITTED
    assert OrderOutcome.FAILED.settles_as is RELEASED


def test_held_reservations_spread_over_every_shard_and_stay_on_theirs() -> None:
    shards = {held_shard(f"order-{n}") for n in range(200)}

    assert shards == set(held_shards())
    assert len(shards) == HELD_SHARDS
    assert held_shard("order-1") == held_shard("order-1")
