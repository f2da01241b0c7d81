"""Reservation rules on plain values: no AWS."""

from __future__ import annotations

import pytest

from inventory.stock import (
    MAX_SKUS_PER_ORDER,
    OutOfStock,
    StockLevel,
    check_reservable,
    demanded_quantities,
    price_order,
)
from orderflow_shared.contracts.values import OrderItem


def level(sku: str, available: int, unit_price: int = 1000, currency: str = "USD") -> StockLevel:
    return StockLevel(sku=sku, available=available, reserved=0, unit_price=unit_price, currency=currency)


def items(*lines: tuple[str, int]) -> list[OrderItem]:
    return [OrderItem(sku=sku, quantity=quantity) for sku, quantity in lines]


def test_demand_adds_up_lines_of_the_same_sku_in_first_seen_order() -> None:
    demand = demanded_quantities(items(("MS-002", 1), ("KB-001", 2), ("MS-002", 3)))

    assert list(demand.items()) == [("MS-002", 4), ("KB-001", 2)]


def test_enough_stock_for_every_sku_is_reservable() -> None:
    check_reservable({"KB-001": 3, "MS-002": 1}, {"KB-001": level("KB-001", 3), "MS-002": level("MS-002", 9)})


def test_a_short_sku_fails_the_order_with_requested_and_available_units() -> None:
    with pytest.raises(OutOfStock) as failure:
        check_reservable(
            {"KB-001": 1, "MS-002": 5}, {"KB-001": level("KB-001", 9), "MS-002": level("MS-002", 3)}
        )

    assert failure.value.error == "OutOfStock"
    assert "MS-002: requested 5, available 3" in failure.value.cause
    assert "KB-001" not in failure.value.cause


def test_the_cause_names_every_short_or_unknown_sku() -> None:
    with pytest.raises(OutOfStock) as failure:
        check_reservable({"KB-001": 2, "XX-404": 1}, {"KB-001": level("KB-001", 1)})

    assert "KB-001: requested 2, available 1" in failure.value.cause
    assert "XX-404: requested 1, not in the catalogue" in failure.value.cause


def test_merged_demand_is_what_must_fit() -> None:
    demand = demanded_quantities(items(("KB-001", 2), ("KB-001", 2)))

    with pytest.raises(OutOfStock, match="KB-001: requested 4, available 3"):
        check_reservable(demand, {"KB-001": level("KB-001", 3)})


def test_skus_priced_in_different_currencies_fail_as_out_of_stock_with_a_clear_cause() -> None:
    levels = {"KB-001": level("KB-001", 5, currency="USD"), "MS-002": level("MS-002", 5, currency="EUR")}

    with pytest.raises(OutOfStock) as failure:
        check_reservable({"KB-001": 1, "MS-002": 1}, levels)

    assert "mixes currencies" in failure.value.cause
    assert "KB-001 in USD" in failure.value.cause
    assert "MS-002 in EUR" in failure.value.cause


def test_more_skus_than_one_transaction_holds_is_refused() -> None:
    demand = {f"SKU-{n}": 1 for n in range(MAX_SKUS_PER_ORDER + 1)}
    levels = {sku: level(sku, 10) for sku in demand}

    with pytest.raises(OutOfStock, match=f"at most {MAX_SKUS_PER_ORDER}"):
        check_reservable(demand, levels)


def test_each_order_line_is_priced_from_the_catalogue() -> None:
    levels = {"KB-001": level("KB-001", 9, unit_price=4999), "MS-002": level("MS-002", 9, unit_price=1250)}

    order = price_order(items(("KB-001", 2), ("MS-002", 1), ("KB-001", 1)), levels)

    assert [(line.sku, line.quantity, line.unit_price, line.line_total) for line in order.lines] == [
        ("KB-001", 2, 4999, 9998),
        ("MS-002", 1, 1250, 1250),
        ("KB-001", 1, 4999, 4999),
    ]
    assert order.total_amount == 16247
    assert order.currency == "USD"
