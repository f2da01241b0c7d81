from __future__ import annotations

from typing import Any

from notifications.emails import EmailContent
from notifications.handlers.customer_alerts import handler
from notifications.handlers.wiring import customer_notifier
from notifications.notifier import CustomerEmail
from orderflow_devtools.testing import FakeLambdaContext, sqs_event
from orderflow_shared.contracts.notifications import CustomerNotified, NotificationKind
from orderflow_shared.contracts.orders import (
    OrderFailed,
    OrderFailureData,
    OrderOutOfStock,
    OrderPaymentFailed,
)

from .conftest import CUSTOMER, SENDER, Stack

ORDER_ID = "9b1e4c7a-0d2f-4f5e-8a3b-6c7d8e9f0a1b"


def _deliver(*events: OrderOutOfStock | OrderPaymentFailed | OrderFailed) -> dict[str, Any]:
    return handler(sqs_event(*events), FakeLambdaContext())


def _notified(stack: Stack) -> list[CustomerNotified]:
    return stack.published.of_type(CustomerNotified)


def test_out_of_stock_emails_the_reason_and_publishes_the_notification(
    stack: Stack, out_of_stock_data: OrderFailureData
) -> None:
    assert _deliver(OrderOutOfStock.create(ORDER_ID, out_of_stock_data)) == {"batchItemFailures": []}

    [email] = stack.sent_emails()
    assert (email.source, email.destinations["ToAddresses"]) == (SENDER, ["ana@example.com"])
    assert ORDER_ID in email.subject
    assert "KB-001: 2 requested, 1 available" in email.body
    assert "Nothing was charged" in email.body
    [notified] = _notified(stack)
    assert (notified.order_id, notified.data.kind, notified.data.message_id) == (
        ORDER_ID,
        "OUT_OF_STOCK",
        email.id,
    )


def test_payment_failed_emails_the_reason_and_publishes_the_notification(
    stack: Stack, payment_failed_data: OrderFailureData
) -> None:
    _deliver(OrderPaymentFailed.create(ORDER_ID, payment_failed_data))

    [email] = stack.sent_emails()
    assert "The card was declined" in email.body
    assert "released" in email.body
    [notified] = _notified(stack)
    assert (notified.data.kind, notified.data.message_id) == ("PAYMENT_FAILED", email.id)


def test_a_duplicated_alert_sends_one_email_and_notifies_with_the_same_message_id(
    stack: Stack, out_of_stock_data: OrderFailureData
) -> None:
    event = OrderOutOfStock.create(ORDER_ID, out_of_stock_data)
    _deliver(event, event)
    _deliver(OrderOutOfStock.create(ORDER_ID, out_of_stock_data))

    [email] = stack.sent_emails()
    assert {notified.data.message_id for notified in _notified(stack)} == {email.id}


def test_an_order_failed_emails_that_the_order_is_cancelled_and_refunded(stack: Stack) -> None:
    failure = OrderFailureData(
        customer=CUSTOMER, error="ServiceFault", reason="The order could not be processed"
    )
    _deliver(OrderFailed.create(ORDER_ID, failure))

    [email] = stack.sent_emails()
    assert "The order could not be processed" in email.body
    assert "refunded in full" in email.body
    [notified] = _notified(stack)
    assert (notified.data.kind, notified.data.message_id) == ("FAILED", email.id)


def test_a_failed_order_gets_one_failure_email_whichever_compensations_arrive(
    stack: Stack, payment_failed_data: OrderFailureData
) -> None:
    failure = OrderFailureData(
        customer=CUSTOMER, error="States.Runtime", reason="The order could not be processed"
    )
    _deliver(OrderPaymentFailed.create(ORDER_ID, payment_failed_data))
    _deliver(OrderFailed.create(ORDER_ID, failure))

    [email] = stack.sent_emails()
    assert "The card was declined" in email.body
    # Both announcements name the one email the customer got, and what it said.
    assert {(n.data.kind, n.data.message_id) for n in _notified(stack)} == {("PAYMENT_FAILED", email.id)}


def test_a_confirmation_and_a_failure_notice_are_separate_emails(
    stack: Stack, out_of_stock_data: OrderFailureData
) -> None:
    content = EmailContent(subject="s", text="t", html="h")
    confirmation = CustomerEmail.of(ORDER_ID, NotificationKind.CONFIRMATION, "ana@example.com", content)
    customer_notifier().notify(confirmation)
    _deliver(OrderOutOfStock.create(ORDER_ID, out_of_stock_data))

    assert len(stack.sent_emails()) == 2


def test_an_event_the_queue_should_not_carry_is_reported(
    stack: Stack, out_of_stock_data: OrderFailureData
) -> None:
    event = sqs_event("{}", OrderOutOfStock.create(ORDER_ID, out_of_stock_data))

    response = handler(event, FakeLambdaContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert len(stack.sent_emails()) == 1
