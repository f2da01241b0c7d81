"""A settled order stays settled: a late or replayed ReserveStock (queue backlog, a redriven DLQ
message, an archive replay) reserves nothing, whichever of the two writes lands first."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest

from inventory.handlers import commit_stock, release_stock, reserve_stock
from inventory.reservation import ReservationState
from inventory.stock import StockLevel
from inventory.stock_keeping import StockKeeping
from inventory.store import InventoryStore
from orderflow_devtools.testing import FakeLambdaContext, PublishedEvents, WorkflowAnswers, sqs_event
from orderflow_shared.contracts import (
    Event,
    OrderOutOfStock,
    PaymentSucceeded,
    ReserveStock,
    StockReleased,
    StockReserved,
)
from orderflow_shared.contracts.orders import OrderFailureData, ReserveStockData
from orderflow_shared.contracts.payments import PaymentSucceededData
from orderflow_shared.contracts.values import Customer, OrderItem

from .books_check import balance_problems

pytestmark = pytest.mark.usefixtures("aws")

SETTLED = ("OutOfStock", "order already settled")
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


def reserve(order_id: str, quantity: int = 2, token: str = "tok-late") -> ReserveStock:
    items = [OrderItem(sku="KB-001", quantity=quantity)]
    return ReserveStock.create(order_id, ReserveStockData(items=items), task_token=token)


def out_of_stock(order_id: str) -> OrderOutOfStock:
    customer = Customer(id="c-1", email="ana@example.com")
    return OrderOutOfStock.create(
        order_id, OrderFailureData(customer=customer, error="ReservationTimeout", reason="no answer in time")
    )


def paid(order_id: str) -> PaymentSucceeded:
    return PaymentSucceeded.create(
        order_id, PaymentSucceededData(payment_id="pay-1", amount=1, currency="USD")
    )


def stock(store: InventoryStore) -> tuple[int, int, int]:
    level = store.stock_level("KB-001")
    assert level is not None
    return level.available, level.reserved, level.sold


@pytest.fixture(autouse=True)
def catalogue(stock_keeping: StockKeeping) -> None:
    stock_keeping.set_stock("KB-001", available=10, unit_price=4999, currency="USD")


@pytest.mark.parametrize(
    ("settle", "settlement"),
    [(release_stock.handler, out_of_stock), (commit_stock.handler, paid)],
    ids=["after a release", "after a commit"],
)
def test_a_reserve_stock_arriving_after_the_order_settled_reserves_nothing(
    settle: Handler,
    settlement: Callable[[str], Event],
    store: InventoryStore,
    workflow: WorkflowAnswers,
    published: PublishedEvents,
    context: FakeLambdaContext,
) -> None:
    # The workflow gave up waiting for the reservation; the command was still in the queue.
    settle(sqs_event(settlement("o-late")), context)

    response = reserve_stock.handler(sqs_event(reserve("o-late")), context)

    assert response == {"batchItemFailures": []}
    assert workflow.failures["tok-late"] == SETTLED
    assert stock(store) == (10, 0, 0)
    assert published.of_type(StockReserved) == []


def test_a_reserve_stock_replayed_after_its_reservation_was_released_reserves_nothing(
    store: InventoryStore, workflow: WorkflowAnswers, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    reserve_stock.handler(sqs_event(reserve("o-1", token="tok-1")), context)
    release_stock.handler(sqs_event(out_of_stock("o-1")), context)
    published.drain()
    published.received.clear()  # only what the replay publishes counts

    reserve_stock.handler(sqs_event(reserve("o-1", token="tok-replayed")), context)

    assert workflow.failures["tok-replayed"] == SETTLED
    assert stock(store) == (10, 0, 0)
    assert published.of_type(StockReserved) == []


def test_a_reservation_that_loses_to_the_tombstone_moves_no_stock(
    store: InventoryStore,
    workflow: WorkflowAnswers,
    published: PublishedEvents,
    context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read_levels = store.stock_levels

    def levels_then_the_release_lands(skus: Iterable[str]) -> dict[str, StockLevel]:
        levels = read_levels(skus)  # the reservation saw no record for the order and enough stock
        release_stock.handler(sqs_event(out_of_stock("o-race")), context)
        return levels

    monkeypatch.setattr(store, "stock_levels", levels_then_the_release_lands)

    reserve_stock.handler(sqs_event(reserve("o-race")), context)

    assert workflow.failures["tok-late"] == SETTLED
    assert stock(store) == (10, 0, 0)
    assert store.reservation("o-race") is not None
    assert published.of_type(StockReserved) == []


def test_a_tombstone_that_loses_to_the_reservation_releases_it_instead(
    store: InventoryStore,
    workflow: WorkflowAnswers,
    published: PublishedEvents,
    context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fence = store.fence

    def reservation_lands_first(order_id: str, state: ReservationState, outcome):  # type: ignore[no-untyped-def]
        reserve_stock.handler(sqs_event(reserve(order_id)), context)
        return fence(order_id, state, outcome)

    monkeypatch.setattr(store, "fence", reservation_lands_first)

    response = release_stock.handler(sqs_event(out_of_stock("o-race")), context)

    assert response == {"batchItemFailures": []}
    reservation = store.reservation("o-race")
    assert reservation is not None
    assert reservation.state is ReservationState.RELEASED
    assert reservation.order is not None  # the reservation won; the release then settled it
    assert stock(store) == (10, 0, 0)
    assert balance_problems("KB-001") == []
    assert [event.order_id for event in published.of_type(StockReleased)] == ["o-race"]
