"""StockReserved (from inventory): keep the order's priced total, which ProcessPayment must match.

Rule (orderflow.inventory / StockReserved) -> PricedReservationsQueue -> this function.
"""

from __future__ import annotations

from orderflow_shared.contracts import StockReserved
from orderflow_shared.entry_points import events_handler
from payments.handlers.wiring import TELEMETRY, priced_reservations
from payments.verification import PricedTotal


def on_stock_reserved(event: StockReserved) -> None:
    total = PricedTotal(amount=event.data.total_amount, currency=event.data.currency)
    priced_reservations().record(event.order_id, total)


handler = events_handler(TELEMETRY, {StockReserved: on_stock_reserved})
