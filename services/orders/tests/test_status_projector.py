"""The projection survives duplicates and reordering: status only moves forward."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import ModuleType
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from botocore.exceptions import ClientError

from orderflow_devtools.testing import FakeLambdaContext, aws_event, emitted_metric, sqs_event
from orderflow_devtools.testing.dynamodb import writes_to
from orderflow_shared.contracts import (
    Event,
    InvoiceGenerated,
    OrderCompleted,
    OrderFailed,
    OrderOutOfStock,
    OrderPaymentFailed,
    PaymentSucceeded,
    StockReserved,
)
from orderflow_shared.contracts.invoicing import InvoiceGeneratedData
from orderflow_shared.contracts.orders import OrderCompletedData, OrderFailureData
from orderflow_shared.contracts.payments import PaymentSucceededData
from orderflow_shared.contracts.values import Customer, PricedLine, PricedOrder
from orders.domain.order import PlaceOrderRequest, new_order_record, now_iso
from orders.domain.projection import merged, status_change
from orders.repository import OrdersRepository

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


def test_an_order_whose_payment_failed_is_counted_once(
    projector: ModuleType, order_id: str, capsys: pytest.CaptureFixture[str]
) -> None:
    failed = OrderPaymentFailed.create(
        order_id, OrderFailureData(customer=CUSTOMER, error="PaymentDeclined", reason="card declined")
    )
    projector.handler(sqs_event(failed), FakeLambdaContext())
    projector.handler(sqs_event(failed), FakeLambdaContext())  # a redelivery moves nothing

    assert emitted_metric(capsys.readouterr().out, "OrdersPaymentFailed") == [1.0]


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


def _failed(order_id: str) -> OrderFailed:
    return OrderFailed.create(order_id, OrderFailureData(customer=CUSTOMER, error="X", reason="failed"))


@pytest.mark.parametrize(
    "first",
    [
        lambda order_id: StockReserved.create(order_id, PRICED),
        lambda order_id: OrderOutOfStock.create(
            order_id, OrderFailureData(customer=CUSTOMER, error="OutOfStock", reason="sold out")
        ),
        _failed,
        lambda order_id: OrderCompleted.create(
            order_id, OrderCompletedData(total_amount=5000, currency="USD", invoice_url="https://x/i")
        ),
    ],
    ids=["reserved", "out-of-stock", "failed", "completed-first"],
)
def test_the_first_status_change_drops_the_pending_start_mark_and_the_start_input(
    orders_table: Any, order_id: str, first: Any
) -> None:
    event: Event = first(order_id)
    repository = OrdersRepository(orders_table)

    assert repository.apply(status_change(event))

    item = orders_table.get_item(Key={"orderId": order_id})["Item"]
    assert "startPending" not in item
    assert "executionInput" not in item
    assert repository.pending_starts(created_before="9999") == []


def test_a_late_event_for_an_order_known_to_be_past_it_is_written_once(
    projector: ModuleType, orders_table: Any, order_id: str
) -> None:
    # Moved by another container (as OrderCompleted is, by the execution-status consumer).
    assert OrdersRepository(orders_table).apply(status_change(_failed(order_id)))

    with writes_to(orders_table) as writes:
        projector.handler(sqs_event(StockReserved.create(order_id, PRICED)), FakeLambdaContext())
        projector.handler(sqs_event(_paid(order_id)), FakeLambdaContext())

    # The first late event finds the order FAILED (a refused write, then the late one); the second
    # is known to be late and only makes the late write.
    assert writes == ["UpdateItem", "UpdateItem", "UpdateItem"]
    item = orders_table.get_item(Key={"orderId": order_id})["Item"]
    assert item["status"] == "FAILED"
    assert set(item["history"]) == {"RECEIVED", "INVENTORY_CONFIRMED", "PAYMENT_SUCCESS", "FAILED"}
    assert (item["totalAmount"], item["paymentId"]) == (5000, "ch_1")


def test_a_duplicate_another_container_already_recorded_adds_no_late_write(
    orders_table: Any, order_id: str
) -> None:
    reserved = status_change(StockReserved.create(order_id, PRICED))
    assert OrdersRepository(orders_table).apply(reserved)
    recorded = orders_table.get_item(Key={"orderId": order_id})["Item"]

    with writes_to(orders_table) as writes:
        assert not OrdersRepository(orders_table).apply(reserved)

    assert writes == ["UpdateItem"]  # the refused forward write only
    assert orders_table.get_item(Key={"orderId": order_id})["Item"] == recorded


def _invoiced(order_id: str) -> InvoiceGenerated:
    return InvoiceGenerated.create(
        order_id,
        InvoiceGeneratedData(
            invoice_number="INV-1", invoice_url="https://x/i.pdf", total_amount=5000, currency="USD"
        ),
    )


def _facts(order_id: str) -> list[Event]:
    """What the saga's steps announce of an order, mostly within one batching window of the queue."""
    return [StockReserved.create(order_id, PRICED), _paid(order_id), _invoiced(order_id)]


def _occurred(event: Event, at: datetime) -> Event:
    return event.model_copy(update={"metadata": event.metadata.model_copy(update={"occurred_at": at})})


def _completed(order_id: str) -> OrderCompleted:
    return OrderCompleted.create(
        order_id, OrderCompletedData(total_amount=5000, currency="USD", invoice_url="https://x/i.pdf")
    )


def test_an_orders_facts_in_one_batch_are_projected_in_one_write(
    projector: ModuleType, orders_table: Any, order_id: str
) -> None:
    with writes_to(orders_table) as writes:
        result = projector.handler(sqs_event(*_facts(order_id)), FakeLambdaContext())

    assert result == {"batchItemFailures": []}
    assert writes == ["UpdateItem"]
    item = orders_table.get_item(Key={"orderId": order_id})["Item"]
    assert item["status"] == "INVOICED"
    assert set(item["history"]) == {"RECEIVED", "INVENTORY_CONFIRMED", "PAYMENT_SUCCESS", "INVOICED"}
    assert (item["totalAmount"], item["paymentId"], item["invoiceNumber"]) == (5000, "ch_1", "INV-1")
    assert "startPending" not in item


def test_when_an_orders_write_fails_all_its_records_fail_and_the_others_succeed(
    projector: ModuleType, orders_table: Any, order_id: str
) -> None:
    orders_table.put_item(Item=new_order_record("o-2", REQUEST, now_iso(), "{}"))
    event = sqs_event(StockReserved.create("o-2", PRICED), *_facts(order_id), _paid("o-2"))
    o2_ids = [event["Records"][0]["messageId"], event["Records"][4]["messageId"]]
    throttled: list[str] = []

    def throttle_o2_once(params: dict[str, Any], **_: Any) -> None:
        if params["Key"]["orderId"] == "o-2" and not throttled:
            throttled.append("o-2")
            raise ClientError(
                {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "slow down"}},
                "UpdateItem",
            )

    events = orders_table.meta.client.meta.events
    events.register("before-parameter-build.dynamodb.UpdateItem", throttle_o2_once)
    try:
        result = projector.handler(event, FakeLambdaContext())
    finally:
        events.unregister("before-parameter-build.dynamodb.UpdateItem", throttle_o2_once)

    assert sorted(failure["itemIdentifier"] for failure in result["batchItemFailures"]) == sorted(o2_ids)
    assert orders_table.get_item(Key={"orderId": "o-2"})["Item"]["status"] == "RECEIVED"
    assert orders_table.get_item(Key={"orderId": order_id})["Item"]["status"] == "INVOICED"


def test_a_malformed_record_fails_alone_and_the_rest_of_its_order_is_projected(
    projector: ModuleType, orders_table: Any, order_id: str
) -> None:
    forged = aws_event(
        "orderflow.payments", "StockReserved", StockReserved.create(order_id, PRICED).to_wire()
    )
    event = sqs_event(*_facts(order_id)[1:], json.dumps(forged), '{"detail": ')
    refused = [record["messageId"] for record in event["Records"][2:]]

    with writes_to(orders_table) as writes:
        result = projector.handler(event, FakeLambdaContext())

    assert sorted(failure["itemIdentifier"] for failure in result["batchItemFailures"]) == sorted(refused)
    assert writes == ["UpdateItem"]
    assert orders_table.get_item(Key={"orderId": order_id})["Item"]["status"] == "INVOICED"


def test_facts_behind_a_completed_order_fill_in_what_it_lacks_in_one_late_write(
    projector: ModuleType, orders_table: Any, order_id: str
) -> None:
    # Completed by the execution-status consumer, before the facts' batching window closed.
    assert OrdersRepository(orders_table).apply(status_change(_completed(order_id)))
    facts = [status_change(event) for event in _facts(order_id)]

    with writes_to(orders_table) as writes:
        result = projector.handler(sqs_event(*_facts(order_id)), FakeLambdaContext())

    assert result == {"batchItemFailures": []}
    assert writes == ["UpdateItem", "UpdateItem"]  # the refused forward write, then the late one
    item = orders_table.get_item(Key={"orderId": order_id})["Item"]
    assert item["status"] == "COMPLETED"
    assert set(item["history"]) == {"RECEIVED", *(fact.status.value for fact in facts), "COMPLETED"}
    assert (item["totalAmount"], item["paymentId"], item["invoiceNumber"]) == (5000, "ch_1", "INV-1")

    # The same facts again, in a container that has not seen the order: nothing is missing.
    with writes_to(orders_table) as writes:
        assert not OrdersRepository(orders_table).apply(merged(facts))

    assert writes == ["UpdateItem"]  # the refused forward write only
    assert orders_table.get_item(Key={"orderId": order_id})["Item"] == item


def test_a_status_reported_twice_in_a_batch_keeps_its_earlier_time(
    projector: ModuleType, orders_table: Any, order_id: str
) -> None:
    reserved = StockReserved.create(order_id, PRICED)
    early, late = datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC), datetime(2026, 1, 1, 0, 0, 3, tzinfo=UTC)

    projector.handler(sqs_event(_occurred(reserved, late), _occurred(reserved, early)), FakeLambdaContext())
    projector.handler(
        sqs_event(_occurred(reserved, datetime(2026, 1, 1, tzinfo=UTC)), _paid(order_id)), FakeLambdaContext()
    )

    item = orders_table.get_item(Key={"orderId": order_id})["Item"]
    assert item["status"] == "PAYMENT_SUCCESS"
    # An even earlier time in a later batch changes nothing: the first time recorded stays.
    assert item["history"]["INVENTORY_CONFIRMED"] == "2026-01-01T00:00:01.000Z"
