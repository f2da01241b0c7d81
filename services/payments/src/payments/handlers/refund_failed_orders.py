"""OrderPaymentFailed, OrderFailed: fences the failed order's payment and refunds what it was charged.

Rule (orderflow.orders / OrderPaymentFailed, OrderFailed) -> RefundFailedOrdersQueue -> this
function. Either event may come, or both, in any order and more than once: the fence and each
refund are idempotent, and PaymentRefunded is published once per refunded charge.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow_shared.consumer import EventRouter
from orderflow_shared.contracts import OrderFailed, OrderPaymentFailed
from payments.handlers.wiring import TELEMETRY, payment_reconciler

logger, tracer, metrics = TELEMETRY.logger, TELEMETRY.tracer, TELEMETRY.metrics


def on_order_failed(event: OrderPaymentFailed | OrderFailed) -> None:
    outcome = payment_reconciler().fence(event.order_id, event.data.reason)
    metrics.add_metric(name="PaymentRefunded", unit=MetricUnit.Count, value=outcome.refunds_announced)
    if not outcome.certain:
        logger.info("a charge attempt's outcome is not known yet; the reconciler will search again")


router = EventRouter({OrderPaymentFailed: on_order_failed, OrderFailed: on_order_failed}, logger)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return router.handle(event, context)
