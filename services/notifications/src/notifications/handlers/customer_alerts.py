"""OrderOutOfStock / OrderPaymentFailed / OrderFailed (CustomerAlertsQueue): tell the customer why."""

from __future__ import annotations

from collections.abc import Callable

from aws_lambda_powertools.metrics import MetricUnit

from notifications.emails import EmailContent, order_failed_email, out_of_stock_email, payment_failed_email
from notifications.handlers.wiring import TELEMETRY, customer_notifier, send_within_invocation
from notifications.notifier import CustomerEmail
from orderflow_shared.contracts.notifications import NotificationKind
from orderflow_shared.contracts.orders import (
    OrderFailed,
    OrderFailureData,
    OrderOutOfStock,
    OrderPaymentFailed,
)
from orderflow_shared.entry_points import events_handler

logger, metrics = TELEMETRY.logger, TELEMETRY.metrics

AlertEvent = OrderOutOfStock | OrderPaymentFailed | OrderFailed


def _alert(
    kind: NotificationKind, render: Callable[[str, OrderFailureData], EmailContent]
) -> Callable[[AlertEvent], None]:
    def send(event: AlertEvent) -> None:
        content = render(event.order_id, event.data)
        email = CustomerEmail.of(event.order_id, kind, str(event.data.customer.email), content)
        message_id = customer_notifier().notify(email)
        logger.info("customer alerted", extra={"kind": kind.value, "message_id": message_id})
        metrics.add_metric(name="CustomerAlertsHandled", unit=MetricUnit.Count, value=1)

    return send


handler = events_handler(
    TELEMETRY,
    {
        OrderOutOfStock: _alert(NotificationKind.OUT_OF_STOCK, out_of_stock_email),
        OrderPaymentFailed: _alert(NotificationKind.PAYMENT_FAILED, payment_failed_email),
        OrderFailed: _alert(NotificationKind.FAILED, order_failed_email),
    },
    on_invocation=send_within_invocation,
)
