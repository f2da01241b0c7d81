"""OrderOutOfStock / OrderPaymentFailed / OrderFailed (CustomerAlertsQueue): tell the customer why."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from notifications.emails import EmailContent, order_failed_email, out_of_stock_email, payment_failed_email
from notifications.notifier import CustomerEmail
from notifications.runtime import IDEMPOTENCY_CONFIG, customer_notifier
from orderflow_shared.consumer import EventRouter
from orderflow_shared.contracts.notifications import NotificationKind
from orderflow_shared.contracts.orders import (
    OrderFailed,
    OrderFailureData,
    OrderOutOfStock,
    OrderPaymentFailed,
)
from orderflow_shared.observability import telemetry

tools = telemetry()
logger, tracer, metrics = tools.logger, tools.tracer, tools.metrics

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


@functools.cache
def _router() -> EventRouter:
    return EventRouter(
        {
            OrderOutOfStock: _alert(NotificationKind.OUT_OF_STOCK, out_of_stock_email),
            OrderPaymentFailed: _alert(NotificationKind.PAYMENT_FAILED, payment_failed_email),
            OrderFailed: _alert(NotificationKind.FAILED, order_failed_email),
        },
        logger,
    )


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    IDEMPOTENCY_CONFIG.register_lambda_context(context)
    return _router().handle(event, context)
