"""How each lifecycle event moves an order: the status projection's rules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from orderflow_shared.contracts import (
    Event,
    InvoiceGenerated,
    OrderCompleted,
    OrderFailed,
    OrderOutOfStock,
    OrderPaymentFailed,
    PaymentSucceeded,
    StockReserved,
)
from orders.domain.status import OrderStatus


@dataclass(frozen=True)
class StatusChange:
    order_id: str
    status: OrderStatus
    at: str
    attributes: dict[str, Any] = field(default_factory=dict)


def status_change(event: Event) -> StatusChange:
    """The change a lifecycle event asks for. Whether it applies is the repository's call."""
    at = event.metadata.occurred_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    status, attributes = _rule(event)
    return StatusChange(order_id=event.order_id, status=status, at=at, attributes=attributes)


def _rule(event: Event) -> tuple[OrderStatus, dict[str, Any]]:
    match event:
        case StockReserved(data=priced):
            return OrderStatus.INVENTORY_CONFIRMED, {
                "totalAmount": priced.total_amount,
                "currency": priced.currency,
                "lines": [line.to_wire() for line in priced.lines],
            }
        case PaymentSucceeded(data=payment):
            return OrderStatus.PAYMENT_SUCCESS, {"paymentId": payment.payment_id}
        case InvoiceGenerated(data=invoice):
            return OrderStatus.INVOICED, {
                "invoiceNumber": invoice.invoice_number,
                "invoiceUrl": invoice.invoice_url,
            }
        case OrderCompleted():
            return OrderStatus.COMPLETED, {}
        case OrderOutOfStock(data=failure):
            return OrderStatus.OUT_OF_STOCK, {"failureReason": failure.reason}
        case OrderPaymentFailed(data=failure):
            return OrderStatus.PAYMENT_FAILED, {"failureReason": failure.reason}
        case OrderFailed(data=failure):
            return OrderStatus.FAILED, {"failureReason": failure.reason}
    raise ValueError(f"{type(event).__name__} does not change an order's status")


# What the status queue brings the projector. OrderCompleted is projected where it is announced,
# from the saga's SUCCEEDED status (handlers/execution_status.py), so it does not come back here.
PROJECTED_EVENTS: tuple[type[Event], ...] = (
    StockReserved,
    PaymentSucceeded,
    InvoiceGenerated,
    OrderOutOfStock,
    OrderPaymentFailed,
    OrderFailed,
)
