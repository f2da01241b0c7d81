"""OrderPaymentFailed, OrderFailed: fences the failed order's payment and refunds what it was charged.

Rule (orderflow.orders / OrderPaymentFailed, OrderFailed) -> RefundFailedOrdersQueue -> this
function. Either event may come, or both, in any order and more than once: the fence and each
refund are idempotent, and PaymentRefunded is published once per refunded charge.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from orderflow_shared.contracts import OrderFailed, OrderPaymentFailed
from orderflow_shared.entry_points import events_handler
from payments.handlers.wiring import TELEMETRY, payment_reconciler

logger, metrics = TELEMETRY.logger, TELEMETRY.metrics


def on_order_failed(event: OrderPaymentFailed | OrderFailed) -> None:
    outcome = payment_reconciler().fence(event.order_id, event.data.reason)
    metrics.add_metric(name="PaymentRefunded", unit=MetricUnit.Count, value=outcome.refunds_announced)
    if not outcome.certain:
        logger.info("a charge attempt's outcome is not known yet; the reconciler will search again")


handler = events_handler(TELEMETRY, {OrderPaymentFailed: on_order_failed, OrderFailed: on_order_failed})
