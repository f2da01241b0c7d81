from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orderflow_shared.contracts import OrderCompleted, OrderOutOfStock, PaymentSucceeded, StockReserved
from orderflow_shared.contracts.orders import OrderCompletedData, OrderFailureData
from orderflow_shared.contracts.payments import PaymentSucceededData
from orderflow_shared.contracts.values import Customer, PricedLine, PricedOrder
from orders.domain.projection import status_change
from orders.domain.status import OrderStatus, ordered_history


def test_steps_rank_in_the_order_of_the_saga() -> None:
    steps = [
        OrderStatus.RECEIVED,
        OrderStatus.INVENTORY_CONFIRMED,
        OrderStatus.PAYMENT_SUCCESS,
        OrderStatus.INVOICED,
        OrderStatus.COMPLETED,
    ]
    assert [s.rank for s in steps] == sorted(s.rank for s in steps)
    assert len({s.rank for s in steps}) == len(steps)


@pytest.mark.parametrize("failure", [OrderStatus.OUT_OF_STOCK, OrderStatus.PAYMENT_FAILED])
def test_failures_outrank_every_step_so_nothing_revives_a_failed_order(failure: OrderStatus) -> None:
    assert all(failure.rank > step.rank for step in OrderStatus if not step.is_terminal)
    assert failure.is_terminal


def test_history_is_listed_in_life_order_whatever_the_arrival_order() -> None:
    history = {
        "PAYMENT_SUCCESS": "2026-01-01T00:00:02.000Z",
        "RECEIVED": "2026-01-01T00:00:00.000Z",
        "INVENTORY_CONFIRMED": "2026-01-01T00:00:03.000Z",  # recorded late
    }
    assert [entry["status"] for entry in ordered_history(history)] == [
        "RECEIVED",
        "INVENTORY_CONFIRMED",
        "PAYMENT_SUCCESS",
    ]


def _priced() -> PricedOrder:
    return PricedOrder(
        lines=[PricedLine(sku="KB-001", quantity=2, unit_price=2500, line_total=5000)],
        total_amount=5000,
        currency="USD",
    )


def test_stock_reserved_confirms_inventory_and_carries_the_catalogue_total() -> None:
    change = status_change(StockReserved.create("o-1", _priced()))
    assert change.status is OrderStatus.INVENTORY_CONFIRMED
    assert change.attributes["totalAmount"] == 5000
    assert change.attributes["currency"] == "USD"


def test_each_lifecycle_event_maps_to_its_status() -> None:
    customer = Customer(id="c-1", email="ana@example.com")
    assert (
        status_change(
            PaymentSucceeded.create(
                "o-1", PaymentSucceededData(payment_id="ch_1", amount=5000, currency="USD")
            )
        ).status
        is OrderStatus.PAYMENT_SUCCESS
    )
    assert (
        status_change(
            OrderCompleted.create("o-1", OrderCompletedData(total_amount=1, currency="USD", invoice_url="u"))
        ).status
        is OrderStatus.COMPLETED
    )
    out = status_change(
        OrderOutOfStock.create(
            "o-1", OrderFailureData(customer=customer, error="OutOfStock", reason="KB-001")
        )
    )
    assert out.status is OrderStatus.OUT_OF_STOCK
    assert out.attributes == {"failureReason": "KB-001"}


def test_change_time_is_the_events_occurrence_time() -> None:
    event = StockReserved.create("o-1", _priced())
    event = event.model_copy(
        update={
            "metadata": event.metadata.model_copy(update={"occurred_at": datetime(2026, 1, 2, tzinfo=UTC)})
        }
    )
    assert status_change(event).at == "2026-01-02T00:00:00.000Z"
