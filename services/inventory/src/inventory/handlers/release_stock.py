"""Compensations: an order that failed after (possibly) reserving gives its units back to sale.

OrderPaymentFailed: the order will not be paid. OrderOutOfStock: usually nothing was held, but
when the reservation step timed out a late delivery may still have reserved units.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from inventory.handlers.wiring import TELEMETRY, inventory, publisher
from inventory.stock import ordered_items
from orderflow_shared.consumer import EventRouter
from orderflow_shared.contracts import OrderOutOfStock, OrderPaymentFailed, StockReleased
from orderflow_shared.contracts.inventory import StockMovementData

logger, tracer, metrics = TELEMETRY.logger, TELEMETRY.tracer, TELEMETRY.metrics


def release_and_publish(event: OrderPaymentFailed | OrderOutOfStock) -> None:
    order = inventory().release(event.order_id)
    if order is None:
        metrics.add_metric(name="StockReleaseSkipped", unit=MetricUnit.Count, value=1)
        return
    publisher().publish(StockReleased.create(event.order_id, StockMovementData(items=ordered_items(order))))
    metrics.add_metric(name="StockReleased", unit=MetricUnit.Count, value=1)


_router = EventRouter({OrderPaymentFailed: release_and_publish, OrderOutOfStock: release_and_publish}, logger)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _router.handle(event, context)
