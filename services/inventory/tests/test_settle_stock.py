"""CommitStockFunction and ReleaseStockFunction end to end in moto."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from inventory.handlers import commit_stock, release_stock
from inventory.reservation import OrderOutcome, ReservationState
from inventory.service import Inventory
from inventory.stock import OutOfStock
from inventory.stock_keeping import StockKeeping
from inventory.store import InventoryStore
from orderflow_devtools.testing import FakeLambdaContext, PublishedEvents, sqs_event
from orderflow_shared.contracts import (
    Event,
    OrderFailed,
    OrderOutOfStock,
    OrderPaymentFailed,
    PaymentSucceeded,
    StockCommitted,
    StockReleased,
)
from orderflow_shared.contracts.orders import OrderFailureData
from orderflow_shared.contracts.payments import PaymentSucceededData
from orderflow_shared.contracts.values import Customer, OrderItem

from .books_check import balance_problems

pytestmark = pytest.mark.usefixtures("aws")

CUSTOMER = Customer(id="c-1", email="ana@example.com")
# The operations that cost write units.
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def payment_succeeded(order_id: str) -> PaymentSucceeded:
    return PaymentSucceeded.create(
        order_id, PaymentSucceededData(payment_id="pay-1", amount=1, currency="USD")
    )


def payment_failed(order_id: str) -> OrderPaymentFailed:
    return OrderPaymentFailed.create(
        order_id, OrderFailureData(customer=CUSTOMER, error="PaymentDeclined", reason="card declined")
    )


def order_failed(order_id: str) -> OrderFailed:
    return OrderFailed.create(
        order_id,
        OrderFailureData(customer=CUSTOMER, error="ServiceFault", reason="the order could not go on"),
    )


def stock(store: InventoryStore, sku: str) -> tuple[int, int, int]:
    """(available, reserved, sold)"""
    level = store.stock_level(sku)
    assert level is not None
    return level.available, level.reserved, level.sold


def state(store: InventoryStore, order_id: str) -> ReservationState | None:
    reservation = store.reservation(order_id)
    return reservation.state if reservation else None


@pytest.fixture(autouse=True)
def reserved_order(store: InventoryStore, stock_keeping: StockKeeping) -> None:
    """Order o-1 holds 2 + 1 KB-001 and 3 MS-002; another order holds 1 KB-001."""
    stock_keeping.set_stock("KB-001", available=10, unit_price=4999, currency="USD")
    stock_keeping.set_stock("MS-002", available=5, unit_price=1250, currency="USD")
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
    assert stock(store, "KB-001") == (6, 4, 0)


def test_payment_commits_the_reservation_so_its_units_are_sold(
    store: InventoryStore, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    response = commit_stock.handler(sqs_event(payment_succeeded("o-1")), context)

    assert response == {"batchItemFailures": []}
    assert stock(store, "KB-001") == (6, 1, 3)
    assert stock(store, "MS-002") == (2, 0, 3)
    assert state(store, "o-1") is ReservationState.COMMITTED
    assert state(store, "o-2") is ReservationState.RESERVED
    assert balance_problems("KB-001", "MS-002") == []
    [committed] = published.of_type(StockCommitted)
    assert committed.order_id == "o-1"
    assert [(item.sku, item.quantity) for item in committed.data.items] == [
        ("KB-001", 2),
        ("MS-002", 3),
        ("KB-001", 1),
    ]


@pytest.mark.parametrize("failure", [payment_failed, order_failed], ids=["OrderPaymentFailed", "OrderFailed"])
def test_a_failed_order_releases_its_reservation_back_to_sale(
    failure: Callable[[str], Event],
    store: InventoryStore,
    published: PublishedEvents,
    context: FakeLambdaContext,
) -> None:
    response = release_stock.handler(sqs_event(failure("o-1")), context)

    assert response == {"batchItemFailures": []}
    assert stock(store, "KB-001") == (9, 1, 0)
    assert stock(store, "MS-002") == (5, 0, 0)
    assert state(store, "o-1") is ReservationState.RELEASED
    assert balance_problems("KB-001", "MS-002") == []
    [released] = published.of_type(StockReleased)
    assert released.order_id == "o-1"
    assert sum(item.quantity for item in released.data.items) == 6


def test_each_settlement_records_the_orders_final_word(
    store: InventoryStore, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    commit_stock.handler(sqs_event(payment_succeeded("o-1")), context)
    release_stock.handler(sqs_event(payment_failed("o-2")), context)

    paid, failed = store.reservation("o-1"), store.reservation("o-2")
    assert paid is not None
    assert failed is not None
    assert paid.order_outcome is OrderOutcome.PAID
    assert failed.order_outcome is OrderOutcome.FAILED


def test_a_commit_records_the_payment_inside_its_settling_transaction(
    store: InventoryStore,
    dynamodb_calls: list[tuple[str, dict[str, Any]]],
    published: PublishedEvents,
    context: FakeLambdaContext,
) -> None:
    response = commit_stock.handler(sqs_event(payment_succeeded("o-1")), context)

    assert response == {"batchItemFailures": []}
    # One write: a separate UpdateItem of the word would cost a write unit of its own.
    assert [operation for operation, _ in dynamodb_calls if operation in WRITES] == ["TransactWriteItems"]
    reservation = store.reservation("o-1")
    assert reservation is not None
    assert (reservation.state, reservation.order_outcome) == (ReservationState.COMMITTED, OrderOutcome.PAID)
    assert stock(store, "KB-001") == (6, 1, 3)
    assert [event.order_id for event in published.of_type(StockCommitted)] == ["o-1"]


def test_a_failure_recorded_while_a_commit_is_under_way_is_never_overwritten_nor_committed(
    store: InventoryStore, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    recorded: list[OrderOutcome] = []

    # A release records FAILED between the commit's read and its transaction, then dies.
    def release_lands_first(**_: Any) -> None:
        if not recorded:
            recorded.append(OrderOutcome.FAILED)
            store.record_outcome("o-1", OrderOutcome.FAILED)

    events = store._catalogue.meta.client.meta.events
    events.register("provide-client-params.dynamodb.TransactWriteItems", release_lands_first)
    try:
        response = commit_stock.handler(sqs_event(payment_succeeded("o-1")), context)
    finally:
        events.unregister("provide-client-params.dynamodb.TransactWriteItems", release_lands_first)

    assert response == {"batchItemFailures": []}
    reservation = store.reservation("o-1")
    assert reservation is not None
    assert (reservation.state, reservation.order_outcome) == (ReservationState.RESERVED, OrderOutcome.FAILED)
    assert stock(store, "KB-001") == (6, 4, 0)  # left for the release or the sweeper
    assert published.of_type(StockCommitted) == []


def test_a_commit_whose_transaction_fails_records_the_payment_for_the_sweeper(
    store: InventoryStore, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    def refuse_o1(params: dict[str, Any], model: Any, **_: Any) -> None:
        if params["TransactItems"][0]["Update"]["Key"] == {"orderId": "o-1"}:
            raise ClientError(
                {"Error": {"Code": "InternalServerError", "Message": "try again"}}, "TransactWriteItems"
            )

    events = store._catalogue.meta.client.meta.events
    events.register("provide-client-params.dynamodb.TransactWriteItems", refuse_o1)
    try:
        event = sqs_event(payment_succeeded("o-1"), payment_succeeded("o-2"))
        response = commit_stock.handler(event, context)
    finally:
        events.unregister("provide-client-params.dynamodb.TransactWriteItems", refuse_o1)

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert [(held.order_id, held.order_outcome) for held in store.held_reservations()] == [
        ("o-1", OrderOutcome.PAID)
    ]
    assert stock(store, "KB-001") == (6, 3, 1)  # only o-2's unit committed
    assert [event.order_id for event in published.of_type(StockCommitted)] == ["o-2"]


def test_a_duplicate_commit_moves_nothing_and_publishes_its_event_again(
    store: InventoryStore, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    commit_stock.handler(sqs_event(payment_succeeded("o-1")), context)

    response = commit_stock.handler(sqs_event(payment_succeeded("o-1"), payment_succeeded("o-1")), context)

    assert response == {"batchItemFailures": []}
    assert stock(store, "KB-001") == (6, 1, 3)
    assert stock(store, "MS-002") == (2, 0, 3)
    assert len(published.of_type(StockCommitted)) == 3


def test_a_duplicate_release_moves_nothing(
    store: InventoryStore, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    release_stock.handler(sqs_event(payment_failed("o-1")), context)

    response = release_stock.handler(sqs_event(payment_failed("o-1"), order_failed("o-1")), context)

    assert response == {"batchItemFailures": []}
    assert stock(store, "KB-001") == (9, 1, 0)
    assert stock(store, "MS-002") == (5, 0, 0)


def test_a_failure_after_the_commit_puts_the_sold_units_back_on_sale(
    store: InventoryStore, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    # E.g. the payment step timed out while the charge went through: the order fails and payments
    # refunds the charge, so the units must not stay sold.
    commit_stock.handler(sqs_event(payment_succeeded("o-1")), context)

    response = release_stock.handler(sqs_event(payment_failed("o-1")), context)

    assert response == {"batchItemFailures": []}
    assert stock(store, "KB-001") == (9, 1, 0)
    assert stock(store, "MS-002") == (5, 0, 0)
    assert state(store, "o-1") is ReservationState.RELEASED
    assert balance_problems("KB-001", "MS-002") == []
    assert [event.order_id for event in published.of_type(StockReleased)] == ["o-1"]


def test_a_commit_after_a_release_does_nothing(
    store: InventoryStore, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    release_stock.handler(sqs_event(payment_failed("o-1")), context)

    response = commit_stock.handler(sqs_event(payment_succeeded("o-1")), context)

    assert response == {"batchItemFailures": []}
    assert stock(store, "KB-001") == (9, 1, 0)
    assert state(store, "o-1") is ReservationState.RELEASED
    reservation = store.reservation("o-1")
    assert reservation is not None
    assert reservation.order_outcome is OrderOutcome.FAILED  # a failure is never overwritten by PAID
    assert published.of_type(StockCommitted) == []


def test_a_payment_after_a_failure_that_did_not_finish_settling_commits_nothing(
    store: InventoryStore, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    store.record_outcome("o-1", OrderOutcome.FAILED)  # the release died right after recording it

    response = commit_stock.handler(sqs_event(payment_succeeded("o-1")), context)

    assert response == {"batchItemFailures": []}
    assert state(store, "o-1") is ReservationState.RESERVED  # left for the release or the sweeper
    assert stock(store, "KB-001") == (6, 4, 0)
    assert published.of_type(StockCommitted) == []


@pytest.mark.parametrize(
    ("handler", "settled_as"),
    [(commit_stock.handler, ReservationState.COMMITTED), (release_stock.handler, ReservationState.RELEASED)],
    ids=["commit", "release"],
)
def test_an_order_that_holds_no_stock_moves_nothing_but_is_fenced(
    handler: Callable[[dict[str, Any], Any], dict[str, Any]],
    settled_as: ReservationState,
    store: InventoryStore,
    published: PublishedEvents,
    context: FakeLambdaContext,
) -> None:
    with pytest.raises(OutOfStock):
        Inventory(store).reserve("o-short", [OrderItem(sku="MS-002", quantity=99)])  # recorded as rejected
    event: Callable[[str], Event] = payment_succeeded if handler is commit_stock.handler else payment_failed

    response = handler(sqs_event(event("o-never-reserved"), event("o-short")), context)

    assert response == {"batchItemFailures": []}
    assert stock(store, "KB-001") == (6, 4, 0)
    assert stock(store, "MS-002") == (2, 3, 0)
    assert state(store, "o-never-reserved") is settled_as
    assert state(store, "o-short") is ReservationState.REJECTED
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
    assert stock(store, "KB-001") == (6, 3, 1)  # only o-2's unit committed
    assert stock(store, "MS-002") == (2, 1, 0)
    # The payment is on the record all the same: the sweeper settles it once the books are mended.
    assert [(held.order_id, held.order_outcome) for held in store.held_reservations()] == [
        ("o-1", OrderOutcome.PAID)
    ]


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
    timed_out = OrderOutOfStock.create(
        "o-1", OrderFailureData(customer=CUSTOMER, error="ReservationTimeout", reason="not confirmed in time")
    )

    response = release_stock.handler(sqs_event(timed_out), context)

    assert response == {"batchItemFailures": []}
    assert stock(store, "KB-001") == (9, 1, 0)
    assert state(store, "o-1") is ReservationState.RELEASED
    assert [event.order_id for event in published.of_type(StockReleased)] == ["o-1"]
