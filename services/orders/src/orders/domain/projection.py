"""How each lifecycle event moves an order: the status projection's rules."""

from __future__ import annotations

from collections.abc import Sequence
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
    """What one or more lifecycle events of an order ask for: ``status``, if it is ahead of the stored one,
    and, whether or not it is, each status of ``history`` recorded as first reached at its time and the
    ``attributes`` recorded where absent."""

    order_id: str
    status: OrderStatus
    history: dict[OrderStatus, str]  # status -> first time reached; holds ``status``
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def at(self) -> str:
        """When the order reached ``status``."""
        return self.history[self.status]


def status_change(event: Event) -> StatusChange:
    """The change a lifecycle event asks for. Whether it applies is the repository's call."""
    at = event.metadata.occurred_at.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    status, attributes = _rule(event)
    return StatusChange(order_id=event.order_id, status=status, history={status: at}, attributes=attributes)


def merged(changes: Sequence[StatusChange]) -> StatusChange:
    """One order's changes, in the order they arrived, as one change that leaves the order as applying
    them one after the other would: the status of the highest rank (of equals, the first to arrive,
    which is the one that would have moved the order), the earliest time each status was reached, and
    every attribute.

    Only the terminal failures share an attribute (``failureReason``); the status that wins keeps its own.
    """
    if not changes:
        raise ValueError("no change to merge")
    order_ids = {change.order_id for change in changes}
    if len(order_ids) > 1:
        raise ValueError(f"changes of different orders cannot be merged: {sorted(order_ids)}")
    # sorted is stable: among equal ranks the first to arrive stays first.
    ranked = sorted(changes, key=lambda change: change.status.rank, reverse=True)
    history: dict[OrderStatus, str] = {}
    attributes: dict[str, Any] = {}
    for change in ranked:
        for status, at in change.history.items():
            # Every time is status_change's UTC ISO text, which sorts as the instants do.
            history[status] = min(at, history.get(status, at))
        for name, value in change.attributes.items():
            attributes.setdefault(name, value)
    winner = ranked[0]
    return StatusChange(winner.order_id, winner.status, history, attributes)


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
