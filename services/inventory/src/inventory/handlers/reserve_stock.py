"""ReserveStock command (from the order workflow): hold every line's stock, publish, answer the task."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from inventory.handlers.wiring import TELEMETRY, inventory, priced_reservation_sealer, publisher
from inventory.stock import OutOfStock
from orderflow_shared.consumer import answer_command
from orderflow_shared.contracts import ReserveStock, StockReserved
from orderflow_shared.contracts.values import ReservedOrder
from orderflow_shared.entry_points import events_handler

metrics = TELEMETRY.metrics


def reserve_and_publish(command: ReserveStock) -> ReservedOrder:
    """The answer is the priced order, which the workflow keeps as the order's prices from here on,
    and its total sealed for payments, which charges only that total (a token holder answering this
    step with a total of their own cannot seal it)."""
    try:
        order = inventory().reserve(command.order_id, command.data.items)
    except OutOfStock:
        metrics.add_metric(name="OrdersOutOfStock", unit=MetricUnit.Count, value=1)
        raise
    # Published on every delivery: a redelivery may be the retry of one whose publish failed.
    publisher().publish(StockReserved.create(command.order_id, order))
    metrics.add_metric(name="StockReserved", unit=MetricUnit.Count, value=1)
    TELEMETRY.record_step_latency(command)
    sealed = priced_reservation_sealer().seal(command.order_id, order.total_amount, order.currency)
    return ReservedOrder(**order.model_dump(), priced_reservation=sealed)


handler = events_handler(TELEMETRY, {ReserveStock: answer_command(reserve_and_publish)})
