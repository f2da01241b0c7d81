"""PaymentSucceeded: the order is paid, so its reserved units are sold."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from inventory.handlers.wiring import TELEMETRY, inventory, publisher
from inventory.stock import ordered_items
from orderflow_shared.contracts import PaymentSucceeded, StockCommitted
from orderflow_shared.contracts.inventory import StockMovementData
from orderflow_shared.entry_points import events_handler

metrics = TELEMETRY.metrics


def commit_and_publish(event: PaymentSucceeded) -> None:
    settlement = inventory().commit(event.order_id)
    if settlement is None:
        metrics.add_metric(name="StockCommitSkipped", unit=MetricUnit.Count, value=1)
        return
    items = ordered_items(settlement.order)
    publisher().publish(StockCommitted.create(event.order_id, StockMovementData(items=items)))
    metrics.add_metric(name="StockCommitted", unit=MetricUnit.Count, value=1)


handler = events_handler(TELEMETRY, {PaymentSucceeded: commit_and_publish})
