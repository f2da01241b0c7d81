"""StockReserved (from inventory): keep the order's priced total, which ProcessPayment must match.

Rule (orderflow.inventory / StockReserved) -> PricedReservationsQueue -> this function.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow_shared.consumer import EventRouter
from orderflow_shared.contracts import StockReserved
from payments.handlers.wiring import TELEMETRY, priced_reservations
from payments.verification import PricedTotal

logger, tracer, metrics = TELEMETRY.logger, TELEMETRY.tracer, TELEMETRY.metrics


def on_stock_reserved(event: StockReserved) -> None:
    total = PricedTotal(amount=event.data.total_amount, currency=event.data.currency)
    priced_reservations().record(event.order_id, total)


router = EventRouter({StockReserved: on_stock_reserved}, logger)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return router.handle(event, context)
