"""The projection survives duplicates and reordering: status only moves forward."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from orderflow_devtools.testing import FakeLambdaContext, aws_event, sqs_event
from orderflow_shared.contracts import (
    InvoiceGenerated,
    OrderFailed,
    OrderPaymentFailed,
    PaymentSucceeded,
    StockReserved,
)
from orderflow_shared.contracts.invoicing import InvoiceGeneratedData
from orderflow_shared.contracts.orders import OrderFailureData
from orderflow_shared.contracts.payments import PaymentSucceededData
from orderflow_shared.contracts.values import Customer, PricedLine, PricedOrder
from orders.domain.order import PlaceOrderRequest, new_order_record, now_iso

REQUEST = PlaceOrderRequest.model_validate(
    {
        "customer": {"id": "c-1", "email": "ana@example.com"},
        "items": [{"sku": "KB-001", "quantity": 2}],
        "payment": {"token": "tok_visa"},
        "shippingAddress": {"name": "A", "line1": "1 St", "city": "X", "postalCode": "1", "country": "PT"},
    }
)
PRICED = PricedOrder(
    lines=[PricedLine(sku="KB-001", quantity=2, unit_price=2500, line_total=5000)],
    total_amount=5000,
    currency="USD",
)
CUSTOMER = Customer(id="c-1", email="ana@example.com")


@pytest.fixture
def projector(orders_table: Any) -> ModuleType:
    import orders.handlers.status_projector as module

    return module


@pytest.fixture
def order_id(orders_table: Any) -> str:
    orders_table.put_item(Item=new_order_record("o-1", REQUEST, now_iso(), "{}"))
    return "o-1"


def _paid(order_id: str) -> PaymentSucceeded:
    return PaymentSucceeded.create(
        order_id, PaymentSucceededData(payment_id="ch_1", amount=5000, currency="USD")
    )


def test_events_move_the_order_forward(projector: ModuleType, orders_table: Any, order_id: str) -> None:
    result = projector.handler(
        sqs_event(StockReserved.create(order_id, PRICED), _paid(order_id)), FakeLambdaContext()
    )
    assert result == {"batchItemFailures": []}
    item = orders_table.get_item(Key={"orderId": order_id})["Item"]
    assert item["status"] == "PAYMENT_SUCCESS"
    assert item["totalAmount"] == 5000
    assert set(item["history"]) == {"RECEIVED", "INVENTORY_CONFIRMED", "PAYMENT_SUCCESS"}


def test_a_late_event_fills_history_without_moving_the_status_back(
    projector: ModuleType, orders_table: Any, order_id: str
) -> None:
    projector.handler(sqs_event(_paid(order_id)), FakeLambdaContext())
    projector.handler(sqs_event(StockReserved.create(order_id, PRICED)), FakeLambdaContext())
    item = orders_table.get_item(Key={"orderId": order_id})["Item"]
    assert item["status"] == "PAYMENT_SUCCESS"
    assert "INVENTORY_CONFIRMED" in item["history"]
    assert item["totalAmount"] == 5000  # known only from the late event


def test_a_duplicate_keeps_the_first_time_a_status_was_reached(
    projector: ModuleType, orders_table: Any, order_id: str
) -> None:
    first = StockReserved.create(order_id, PRICED)
    projector.handler(sqs_event(first), FakeLambdaContext())
    reached = orders_table.get_item(Key={"orderId": order_id})["Item"]["history"]["INVENTORY_CONFIRMED"]
    projector.handler(sqs_event(StockReserved.create(order_id, PRICED)), FakeLambdaContext())
    item = orders_table.get_item(Key={"orderId": order_id})["Item"]
    assert item["history"]["INVENTORY_CONFIRMED"] == reached
    assert item["status"] == "INVENTORY_CONFIRMED"


def test_nothing_moves_a_failed_order(projector: ModuleType, orders_table: Any, order_id: str) -> None:
    failed = OrderPaymentFailed.create(
        order_id, OrderFailureData(customer=CUSTOMER, error="PaymentDeclined", reason="card declined")
    )
    projector.handler(sqs_event(failed, _paid(order_id)), FakeLambdaContext())
    item = orders_table.get_item(Key={"orderId": order_id})["Item"]
    assert item["status"] == "PAYMENT_FAILED"
    assert item["failureReason"] == "card declined"


def test_bad_records_fail_alone_and_stay_for_the_dlq(
    projector: ModuleType, orders_table: Any, order_id: str
) -> None:
    event = sqs_event("not json", StockReserved.create("no-such-order", PRICED), _paid(order_id))
    bad_ids = [record["messageId"] for record in event["Records"][:2]]
    result = projector.handler(event, FakeLambdaContext())
    assert sorted(f["itemIdentifier"] for f in result["batchItemFailures"]) == sorted(bad_ids)
    assert orders_table.get_item(Key={"orderId": order_id})["Item"]["status"] == "PAYMENT_SUCCESS"


def test_an_unforeseen_failure_ends_the_order_failed_with_its_reason(
    projector: ModuleType, orders_table: Any, order_id: str
) -> None:
    failed = OrderFailed.create(
        order_id, OrderFailureData(customer=CUSTOMER, error="ServiceFault", reason="a problem on our side")
    )
    projector.handler(
        sqs_event(StockReserved.create(order_id, PRICED), failed, _paid(order_id)), FakeLambdaContext()
    )
    item = orders_table.get_item(Key={"orderId": order_id})["Item"]
    assert (item["status"], item["failureReason"]) == ("FAILED", "a problem on our side")
    assert set(item["history"]) == {"RECEIVED", "INVENTORY_CONFIRMED", "PAYMENT_SUCCESS", "FAILED"}


def test_a_later_failure_event_does_not_replace_the_first_failure(
    projector: ModuleType, orders_table: Any, order_id: str
) -> None:
    declined = OrderPaymentFailed.create(
        order_id, OrderFailureData(customer=CUSTOMER, error="PaymentDeclined", reason="card declined")
    )
    failed = OrderFailed.create(order_id, OrderFailureData(customer=CUSTOMER, error="X", reason="other"))
    projector.handler(sqs_event(declined), FakeLambdaContext())
    projector.handler(sqs_event(failed), FakeLambdaContext())
    item = orders_table.get_item(Key={"orderId": order_id})["Item"]
    assert (item["status"], item["failureReason"]) == ("PAYMENT_FAILED", "card declined")


def test_moving_on_clears_a_stall_and_a_late_event_does_not(
    projector: ModuleType, orders_table: Any, order_id: str
) -> None:
    projector.handler(sqs_event(StockReserved.create(order_id, PRICED), _paid(order_id)), FakeLambdaContext())
    stall = {"step": "GenerateInvoice", "reason": "ServiceFault: S3 down", "since": now_iso()}
    orders_table.update_item(
        Key={"orderId": order_id},
        UpdateExpression="SET stalled = :s",
        ExpressionAttributeValues={":s": stall},
    )

    projector.handler(sqs_event(StockReserved.create(order_id, PRICED)), FakeLambdaContext())
    assert orders_table.get_item(Key={"orderId": order_id})["Item"]["stalled"] == stall

    invoiced = InvoiceGenerated.create(
        order_id,
        InvoiceGeneratedData(
            invoice_number="INV-1", invoice_url="https://x/i.pdf", total_amount=5000, currency="USD"
        ),
    )
    projector.handler(sqs_event(invoiced), FakeLambdaContext())
    item = orders_table.get_item(Key={"orderId": order_id})["Item"]
    assert (item["status"], "stalled" in item) == ("INVOICED", False)


def test_only_the_owning_service_moves_the_status(
    projector: ModuleType, orders_table: Any, order_id: str
) -> None:
    """G6: a StockReserved that does not come from inventory is refused (and kept for the DLQ)."""
    forged = aws_event(
        "orderflow.payments", "StockReserved", StockReserved.create(order_id, PRICED).to_wire()
    )
    event = sqs_event(json.dumps(forged))

    with pytest.raises(BatchProcessingError, match="no handler for source='orderflow.payments'"):
        projector.handler(event, FakeLambdaContext())

    assert orders_table.get_item(Key={"orderId": order_id})["Item"]["status"] == "RECEIVED"
