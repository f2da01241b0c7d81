"""CommitStockFunction and ReleaseStockFunction end to end in moto."""

from __future__ import annotations

import pytest

from inventory.handlers import commit_stock, release_stock
from inventory.reservation import ReservationState
from inventory.service import Inventory
from inventory.stock import OutOfStock
from inventory.store import InventoryStore
from orderflow_shared.contracts import (
    OrderOutOfStock,
    OrderPaymentFailed,
    PaymentSucceeded,
    StockCommitted,
    StockReleased,
)
from orderflow_shared.contracts.orders import OrderFailureData
from orderflow_shared.contracts.payments import PaymentSucceededData
from orderflow_shared.contracts.values import Customer, OrderItem
from orderflow_shared.testing import FakeLambdaContext, PublishedEvents, sqs_event

pytestmark = pytest.mark.usefixtures("aws")


def payment_succeeded(order_id: str) -> PaymentSucceeded:
    return PaymentSucceeded.create(
        order_id, PaymentSucceededData(payment_id="pay-1", amount=1, currency="USD")
    )


def payment_failed(order_id: str) -> OrderPaymentFailed:
    customer = Customer(id="c-1", email="ana@example.com")
    return OrderPaymentFailed.create(
        order_id, OrderFailureData(customer=customer, error="PaymentDeclined", reason="card declined")
    )


def stock(store: InventoryStore, sku: str) -> tuple[int, int]:
    level = store.stock_level(sku)
    assert level is not None
    return level.available, level.reserved


def state(store: InventoryStore, order_id: str) -> ReservationState | None:
    reservation = store.reservation(order_id)
    return reservation.state if reservation else None


@pytest.fixture(autouse=True)
def reserved_order(store: InventoryStore) -> None:
    """Order o-1 holds 2 + 1 KB-001 and 3 MS-002; another order holds 1 KB-001."""
    store.set_stock("KB-001", available=10, unit_price=4999, currency="USD")
    store.set_stock("MS-002", available=5, unit_price=1250, currency="USD")
    inventory = Inventory(store)
    inventory.reserve(
        "o-1",
        [
            OrderItem(sku="KB-001", quantity=2),
            OrderItem(sku="MS-002", quantity=3),
            OrderItem(sku="KB-001", quantity=1),
        ],
    )
    inventory.reserve("o-2", [OrderItem(sku="KB-001", quantity=1)])
    assert stock(store, "KB-001") == (6, 4)


def test_payment_commits_the_reservation_so_its_units_leave_the_books(
    store: InventoryStore, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    response = commit_stock.handler(sqs_event(payment_succeeded("o-1")), context)

    assert response == {"batchItemFailures": []}
    assert stock(store, "KB-001") == (6, 1)
    assert stock(store, "MS-002") == (2, 0)
    assert state(store, "o-1") is ReservationState.COMMITTED
    assert state(store, "o-2") is ReservationState.RESERVED
    [committed] = published.of_type(StockCommitted)
    assert committed.order_id == "o-1"
    assert [(item.sku, item.quantity) for item in committed.data.items] == [
        ("KB-001", 2),
        ("MS-002", 3),
        ("KB-001", 1),
    ]


def test_failed_payment_releases_the_reservation_back_to_sale(
    store: InventoryStore, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    response = release_stock.handler(sqs_event(payment_failed("o-1")), context)

    assert response == {"batchItemFailures": []}
    assert stock(store, "KB-001") == (9, 1)
    assert stock(store, "MS-002") == (5, 0)
    assert state(store, "o-1") is ReservationState.RELEASED
    [released] = published.of_type(StockReleased)
    assert released.order_id == "o-1"
    assert sum(item.quantity for item in released.data.items) == 6


def test_a_duplicate_commit_moves_nothing_and_publishes_its_event_again(
    store: InventoryStore, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    commit_stock.handler(sqs_event(payment_succeeded("o-1")), context)

    response = commit_stock.handler(sqs_event(payment_succeeded("o-1"), payment_succeeded("o-1")), context)

    assert response == {"batchItemFailures": []}
    assert stock(store, "KB-001") == (6, 1)
    assert stock(store, "MS-002") == (2, 0)
    assert len(published.of_type(StockCommitted)) == 3


def test_a_duplicate_release_moves_nothing(
    store: InventoryStore, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    release_stock.handler(sqs_event(payment_failed("o-1")), context)

    response = release_stock.handler(sqs_event(payment_failed("o-1")), context)

    assert response == {"batchItemFailures": []}
    assert stock(store, "KB-001") == (9, 1)
    assert stock(store, "MS-002") == (5, 0)


def test_a_release_after_a_commit_does_nothing(
    store: InventoryStore, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    commit_stock.handler(sqs_event(payment_succeeded("o-1")), context)

    response = release_stock.handler(sqs_event(payment_failed("o-1")), context)

    assert response == {"batchItemFailures": []}
    assert stock(store, "KB-001") == (6, 1)
    assert state(store, "o-1") is ReservationState.COMMITTED
    assert published.of_type(StockReleased) == []


def test_a_commit_after_a_release_does_nothing(
    store: InventoryStore, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    release_stock.handler(sqs_event(payment_failed("o-1")), context)

    response = commit_stock.handler(sqs_event(payment_succeeded("o-1")), context)

    assert response == {"batchItemFailures": []}
    assert stock(store, "KB-001") == (9, 1)
    assert state(store, "o-1") is ReservationState.RELEASED
    assert published.of_type(StockCommitted) == []


@pytest.mark.parametrize("handler", [commit_stock.handler, release_stock.handler], ids=["commit", "release"])
def test_an_order_that_holds_no_stock_is_a_quiet_no_op(
    handler,
    store: InventoryStore,
    published: PublishedEvents,
    context: FakeLambdaContext,  # type: ignore[no-untyped-def]
) -> None:
    with pytest.raises(OutOfStock):
        Inventory(store).reserve("o-short", [OrderItem(sku="MS-002", quantity=99)])  # recorded as rejected
    event = payment_succeeded if handler is commit_stock.handler else payment_failed

    response = handler(sqs_event(event("o-never-reserved"), event("o-short")), context)

    assert response == {"batchItemFailures": []}
    assert stock(store, "KB-001") == (6, 4)
    assert stock(store, "MS-002") == (2, 3)
    assert state(store, "o-never-reserved") is None
    assert published.drain() == []


def test_books_that_hold_fewer_units_than_the_reservation_fail_the_record_and_change_nothing(
    store: InventoryStore, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    # Simulates corrupted books: the catalogue lost track of units o-1 holds.
    store._catalogue.update_item(
        Key={"sku": "MS-002"}, UpdateExpression="SET reserved = :r", ExpressionAttributeValues={":r": 1}
    )
    event = sqs_event(payment_succeeded("o-1"), payment_succeeded("o-2"))

    response = commit_stock.handler(event, context)

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert state(store, "o-1") is ReservationState.RESERVED
    assert stock(store, "KB-001") == (6, 3)  # only o-2's unit committed
    assert stock(store, "MS-002") == (2, 1)


def test_a_malformed_record_is_reported_while_the_rest_of_the_batch_is_served(
    store: InventoryStore, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    event = sqs_event(payment_failed("o-1"), '{"detail-type": "OrderPaymentFailed"}')

    response = release_stock.handler(event, context)

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    assert state(store, "o-1") is ReservationState.RELEASED


def test_out_of_stock_after_a_timed_out_reservation_releases_what_a_late_delivery_held(
    store: InventoryStore, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    customer = Customer(id="c-1", email="ana@example.com")
    timed_out = OrderOutOfStock.create(
        "o-1", OrderFailureData(customer=customer, error="ReservationTimeout", reason="not confirmed in time")
    )

    response = release_stock.handler(sqs_event(timed_out), context)

    assert response == {"batchItemFailures": []}
    assert stock(store, "KB-001") == (9, 1)
    assert state(store, "o-1") is ReservationState.RELEASED
    assert [event.order_id for event in published.of_type(StockReleased)] == ["o-1"]
