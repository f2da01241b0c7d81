"""Compensations: an order that failed gives any units it holds back to sale.

OrderPaymentFailed: the order will not be paid. OrderOutOfStock: usually nothing was held, but
when the reservation step timed out a late delivery may still have reserved units. OrderFailed:
the order failed for any other reason, before or after its payment. An order that reserved
nothing is fenced, so a late ReserveStock cannot hold units for it any more.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from inventory.handlers.wiring import TELEMETRY, inventory, publisher
from inventory.stock import ordered_items
from orderflow_shared.contracts import OrderFailed, OrderOutOfStock, OrderPaymentFailed, StockReleased
from orderflow_shared.contracts.inventory import StockMovementData
from orderflow_shared.entry_points import events_handler

metrics = TELEMETRY.metrics


def release_and_publish(event: OrderPaymentFailed | OrderOutOfStock | OrderFailed) -> None:
    settlement = inventory().release(event.order_id)
    if settlement is None:
        metrics.add_metric(name="StockReleaseSkipped", unit=MetricUnit.Count, value=1)
        return
    items = ordered_items(settlement.order)
    publisher().publish(StockReleased.create(event.order_id, StockMovementData(items=items)))
    metrics.add_metric(name="StockReleased", unit=MetricUnit.Count, value=1)


handler = events_handler(
    TELEMETRY,
    {
        OrderPaymentFailed: release_and_publish,
        OrderOutOfStock: release_and_publish,
        OrderFailed: release_and_publish,
    },
)
