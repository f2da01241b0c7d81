"""Stock is conserved: after every operation, for every SKU, stocked = available + reserved + sold =
the sum of its logged adjustments, and no count is negative."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from inventory.handlers import commit_stock, release_stock, reserve_stock
from inventory.stock_keeping import StockKeeping
from inventory.store import InventoryStore
from orderflow_devtools.testing import FakeLambdaContext, WorkflowAnswers, sqs_event
from orderflow_shared.aws import dynamodb_table
from orderflow_shared.contracts import OrderFailed, OrderPaymentFailed, PaymentSucceeded, ReserveStock
from orderflow_shared.contracts.orders import OrderFailureData, ReserveStockData
from orderflow_shared.contracts.payments import PaymentSucceededData
from orderflow_shared.contracts.values import Customer, OrderItem

from .books_check import balance_problems, logged_deltas, stored_books

pytestmark = pytest.mark.usefixtures("aws", "published")

CUSTOMER = Customer(id="c-1", email="ana@example.com")
SKUS = ("KB-001", "MS-002")


def reserve(order_id: str, *lines: tuple[str, int]) -> ReserveStock:
    items = [OrderItem(sku=sku, quantity=quantity) for sku, quantity in lines]
    return ReserveStock.create(order_id, ReserveStockData(items=items), task_token=f"tok-{order_id}")


def paid(order_id: str) -> PaymentSucceeded:
    return PaymentSucceeded.create(order_id, PaymentSucceededData(payment_id="p-1", amount=1, currency="USD"))


def failure(
    model: type[OrderPaymentFailed] | type[OrderFailed], order_id: str
) -> OrderPaymentFailed | OrderFailed:
    return model.create(order_id, OrderFailureData(customer=CUSTOMER, error="E", reason="r"))


def test_every_operation_keeps_the_books_balanced(
    stock_keeping: StockKeeping, workflow: WorkflowAnswers, context: FakeLambdaContext
) -> None:
    operations: list[tuple[str, Callable[[], object]]] = [
        ("create KB-001", lambda: stock_keeping.set_stock("KB-001", 10, 4999, "USD")),
        ("create MS-002", lambda: stock_keeping.set_stock("MS-002", 5, 1250, "USD")),
        (
            "reserve o-1",
            lambda: reserve_stock.handler(sqs_event(reserve("o-1", ("KB-001", 3), ("MS-002", 2))), context),
        ),
        ("delivery", lambda: stock_keeping.adjust("KB-001", 5, "delivery")),
        ("reserve o-2", lambda: reserve_stock.handler(sqs_event(reserve("o-2", ("KB-001", 2))), context)),
        ("commit o-1", lambda: commit_stock.handler(sqs_event(paid("o-1")), context)),
        ("set KB-001", lambda: stock_keeping.set_stock("KB-001", 4, 4999, "USD")),
        (
            "release o-2",
            lambda: release_stock.handler(sqs_event(failure(OrderPaymentFailed, "o-2")), context),
        ),
        ("reserve o-3", lambda: reserve_stock.handler(sqs_event(reserve("o-3", ("MS-002", 3))), context)),
        ("commit o-3", lambda: commit_stock.handler(sqs_event(paid("o-3")), context)),
        (
            "o-3 fails after payment",
            lambda: release_stock.handler(sqs_event(failure(OrderFailed, "o-3")), context),
        ),
        ("shrinkage", lambda: stock_keeping.adjust("MS-002", -1, "damaged")),
        ("rejected o-4", lambda: reserve_stock.handler(sqs_event(reserve("o-4", ("MS-002", 99))), context)),
    ]
    for name, operation in operations:
        operation()
        present = [sku for sku in SKUS if stock_keeping.level(sku) is not None]
        assert balance_problems(*present) == [], f"after {name}"

    assert stored_books("KB-001") | {"version": 0} == {
        "available": 6,
        "reserved": 0,
        "sold": 3,
        "stocked": 9,
        "version": 0,
    }
    assert stored_books("MS-002") | {"version": 0} == {
        "available": 2,
        "reserved": 0,
        "sold": 2,
        "stocked": 4,
        "version": 0,
    }
    assert workflow.failures["tok-o-4"][0] == "OutOfStock"


def test_an_item_written_before_the_books_had_sold_stocked_and_version_still_works(
    store: InventoryStore, stock_keeping: StockKeeping, context: FakeLambdaContext
) -> None:
    dynamodb_table(os.environ["CATALOGUE_TABLE"]).put_item(
        Item={"sku": "KB-001", "available": 8, "reserved": 0, "unitPrice": 4999, "currency": "USD"}
    )

    reserve_stock.handler(sqs_event(reserve("o-1", ("KB-001", 3))), context)
    commit_stock.handler(sqs_event(paid("o-1")), context)
    level = stock_keeping.adjust("KB-001", 2, "delivery")

    assert (level.available, level.reserved, level.sold, level.stocked) == (7, 0, 3, 10)
    assert sorted(logged_deltas("KB-001")) == [
        2,
        8,
    ]  # the units it held when first changed, then the delivery
    assert balance_problems("KB-001") == []
