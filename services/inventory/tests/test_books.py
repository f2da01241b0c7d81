"""Operator changes of stock on plain values: no AWS."""

from __future__ import annotations

import pytest

from inventory.books import (
    OPENING_ADJUSTMENT_ID,
    AdjustmentKind,
    IdempotencyKeyReusedError,
    NegativeStockError,
    adjustment_id_for,
    plan_adjustment,
    plan_set,
    replay,
)
from inventory.stock import StockLevel

AT = "2030-01-01T00:00:00+00:00"


def level(
    available: int, reserved: int = 0, sold: int = 0, stocked: int | None = None, version: int = 4
) -> StockLevel:
    books = available + reserved + sold if stocked is None else stocked
    return StockLevel("KB-001", available, reserved, 4999, "USD", sold=sold, stocked=books, version=version)


def test_setting_available_records_the_difference_and_keeps_held_and_sold_units() -> None:
    change = plan_set(level(7, reserved=3, sold=2), "KB-001", 20, 3999, "USD", at=AT, adjustment_id="a-1")

    after = change.after
    assert (after.available, after.reserved, after.sold, after.stocked) == (20, 3, 2, 25)
    assert (after.unit_price, after.version) == (3999, 5)
    [entry] = change.entries
    assert (entry.kind, entry.delta, entry.result) == (AdjustmentKind.SET, 13, after)
    assert after.balances()


def test_creating_a_sku_books_its_initial_units() -> None:
    change = plan_set(None, "NEW-001", 5, 100, "EUR", at=AT, adjustment_id="a-1")

    assert change.before is None
    assert (change.after.available, change.after.stocked, change.after.version) == (5, 5, 1)
    assert [entry.delta for entry in change.entries] == [5]


def test_changing_only_the_price_logs_no_stock_change() -> None:
    change = plan_set(level(7), "KB-001", 7, 100, "USD", at=AT, adjustment_id="a-1")

    assert change.entries == ()
    assert change.after.version == 5


def test_an_adjustment_moves_available_and_stocked_together() -> None:
    change = plan_adjustment(level(7, reserved=3), -4, "damaged", at=AT, adjustment_id="a-1")

    assert (change.after.available, change.after.reserved, change.after.stocked) == (3, 3, 6)
    assert [(entry.kind, entry.delta, entry.reason) for entry in change.entries] == [
        (AdjustmentKind.ADJUST, -4, "damaged")
    ]


def test_an_adjustment_below_zero_available_is_refused_even_with_units_reserved() -> None:
    with pytest.raises(NegativeStockError, match="would leave -1 units available") as refused:
        plan_adjustment(level(3, reserved=10), -4, "stocktake", at=AT, adjustment_id="a-1")

    assert refused.value.current == level(3, reserved=10)


def test_an_adjustment_of_zero_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="delta"):
        plan_adjustment(level(3), 0, "nothing", at=AT, adjustment_id="a-1")


def test_the_first_change_of_an_item_older_than_the_log_books_its_units_first() -> None:
    older = StockLevel("KB-001", available=6, reserved=2, unit_price=4999, currency="USD")

    change = plan_adjustment(older, 5, "delivery", at=AT, adjustment_id="a-1")

    opening, delivery = change.entries
    assert (opening.adjustment_id, opening.kind, opening.delta) == (
        OPENING_ADJUSTMENT_ID,
        AdjustmentKind.OPENING,
        8,
    )
    assert delivery.delta == 5
    assert (change.after.stocked, change.after.version) == (13, 1)
    assert sum(entry.delta for entry in change.entries) == change.after.stocked


def test_the_adjustment_id_derives_from_the_idempotency_key() -> None:
    assert adjustment_id_for("k-1") == adjustment_id_for("k-1")
    assert adjustment_id_for("k-1") != adjustment_id_for("k-2")
    assert adjustment_id_for(None) != adjustment_id_for(None)


def test_a_replay_answers_the_books_right_after_the_first_application() -> None:
    [entry] = plan_adjustment(level(7), 5, "delivery", at=AT, adjustment_id="a-1").entries

    assert replay(entry, 5, "delivery") == entry.result
    with pytest.raises(IdempotencyKeyReusedError):
        replay(entry, 5, "another delivery")


@pytest.mark.parametrize(
    ("books", "balanced"),
    [(level(7, 3, 2), True), (level(7, 3, 2, stocked=13), False), (level(-1, 1), False)],
)
def test_the_books_balance_only_when_every_stocked_unit_is_counted_once(
    books: StockLevel, balanced: bool
) -> None:
    assert books.balances() is balanced
