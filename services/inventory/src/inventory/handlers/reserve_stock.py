"""ReserveStock command (from the order workflow): hold every line's stock, publish, answer the task."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from inventory.handlers.wiring import TELEMETRY, inventory, publisher
from inventory.stock import OutOfStock
from orderflow_shared.consumer import EventRouter, answer_command
from orderflow_shared.contracts import ReserveStock, StockReserved
from orderflow_shared.contracts.values import PricedOrder

logger, tracer, metrics = TELEMETRY.logger, TELEMETRY.tracer, TELEMETRY.metrics


def reserve_and_publish(command: ReserveStock) -> PricedOrder:
    """The answer is the priced order: the workflow keeps it as the order's prices from here on."""
    try:
        order = inventory().reserve(command.order_id, command.data.items)
    except OutOfStock:
        metrics.add_metric(name="OrdersOutOfStock", unit=MetricUnit.Count, value=1)
        raise
    # Published on every delivery: a redelivery may be the retry of one whose publish failed.
    publisher().publish(StockReserved.create(command.order_id, order))
    metrics.add_metric(name="StockReserved", unit=MetricUnit.Count, value=1)
    return order


_router = EventRouter({ReserveStock: answer_command(reserve_and_publish)}, logger)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _router.handle(event, context)
