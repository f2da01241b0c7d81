"""An order as the API answers it (POST /orders and GET /orders/{orderId}), for the OpenAPI document.

``service.order_view`` builds the answer; these models describe it field by field, and refuse any
field they do not name, so the document never promises less than the API sends.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from orderflow_shared.contracts.values import CurrencyCode, MinorUnits, OrderItem
from orders.domain.status import OrderStatus


class _View(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class StatusReached(_View):
    status: OrderStatus
    at: datetime = Field(description="When the order first reached this status")


class Stall(_View):
    step: str = Field(description="The saga step that exhausted its retries")
    reason: str
    since: str = Field(description="When the saga stopped (ISO 8601), empty if unknown")


class OrderView(_View):
    order_id: str
    status: OrderStatus
    customer_id: str
    items: list[OrderItem]
    total_amount: MinorUnits | None = Field(description="Priced from the catalogue once stock is reserved")
    currency: CurrencyCode | None
    created_at: datetime
    history: list[StatusReached] = Field(description="Every status reached, in the order's life order")
    invoice_url: str | None = Field(
        default=None,
        description="Present once invoiced: this order's GET /orders/{orderId}/invoice, which redirects the "
        "owner or an operator to a short-lived download of the PDF",
    )
    invoice_number: str | None = Field(default=None, description="Present once invoiced")
    failure_reason: str | None = Field(default=None, description="Present on a failed order")
    reason: str | None = Field(default=None, description="Present on a failed order: failureReason")
    stalled: Stall | None = Field(default=None, description="Present while a paid order waits for a redrive")
