"""The two lifecycle facts the orders service announces itself, outside the saga's states.

Every state an execution enters is billed, so the saga runs its four callback steps and nothing
else on the happy path. The facts around them come from the orders service's own records:

- **OrderReceived**, from the stored order, before its saga starts. The API announces it; should
  the API fail or die first, the pending-start sweep does, since the order stays marked as not
  started until both the announcement and the start are done.
- **OrderCompleted**, from the execution that SUCCEEDED: its output is invoicing's answer (the
  invoice and its total), which the last step leaves as the output.

Either may be announced more than once (a retried request, a sweep racing the API, a status event
delivered twice), so each copy is the same event: its id is derived from the order and its time is
when the fact happened, and consumers drop duplicates by id.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from orderflow_shared.contracts import OrderCompleted, OrderReceived
from orderflow_shared.contracts.orders import InvoiceResult, OrderCompletedData, OrderReceivedData
from orderflow_shared.contracts.values import OrderItem


def order_received(record: dict[str, Any]) -> OrderReceived:
    """OrderReceived for a stored order (an Orders table item), timed when the order was stored."""
    order_id = str(record["orderId"])
    return OrderReceived.create(
        order_id,
        OrderReceivedData(
            customer_id=str(record["customerId"]),
            items=[OrderItem(sku=item["sku"], quantity=int(item["quantity"])) for item in record["items"]],
        ),
        event_id=OrderReceived.stable_event_id(order_id),
        occurred_at=datetime.fromisoformat(str(record["createdAt"])),
    )


def order_completed(order_id: str, saga_output: dict[str, Any], completed_at: datetime) -> OrderCompleted:
    """OrderCompleted for an order whose saga SUCCEEDED with ``saga_output`` (the invoice)."""
    invoice = InvoiceResult.model_validate(saga_output)
    return OrderCompleted.create(
        order_id,
        OrderCompletedData(
            total_amount=invoice.total_amount, currency=invoice.currency, invoice_url=invoice.invoice_url
        ),
        event_id=OrderCompleted.stable_event_id(order_id),
        occurred_at=completed_at,
    )
