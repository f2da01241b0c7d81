"""PaymentSucceeded: the order is paid, so its reserved units are sold."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from inventory.handlers.wiring import TELEMETRY, inventory, publisher
from inventory.stock import ordered_items
from orderflow_shared.consumer import EventRouter
from orderflow_shared.contracts import PaymentSucceeded, StockCommitted
from orderflow_shared.contracts.inventory import StockMovementData

logger, tracer, metrics = TELEMETRY.logger, TELEMETRY.tracer, TELEMETRY.metrics


def commit_and_publish(event: PaymentSucceeded) -> None:
    settlement = inventory().commit(event.order_id)
    if settlement is None:
        metrics.add_metric(name="StockCommitSkipped", unit=MetricUnit.Count, value=1)
        return
    items = ordered_items(settlement.order)
    publisher().publish(StockCommitted.create(event.order_id, StockMovementData(items=items)))
    metrics.add_metric(name="StockCommitted", unit=MetricUnit.Count, value=1)


_router = EventRouter({PaymentSucceeded: commit_and_publish}, logger)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _router.handle(event, context)
