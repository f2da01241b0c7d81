"""The invoice document: what an invoice says, independent of how it is rendered or stored."""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import Field

from orderflow_shared.contracts.base import Contract
from orderflow_shared.contracts.orders import GenerateInvoiceData
from orderflow_shared.contracts.values import (
    CurrencyCode,
    Customer,
    MinorUnits,
    PricedLine,
    ShippingAddress,
)

SELLER_NAME = "orderflow"
_NOT_ALPHANUMERIC = re.compile(r"[^A-Za-z0-9]")


def invoice_number(order_id: str, issued_at: datetime) -> str:
    """A short, human-friendly number that is the same every time it is derived for an order.

    ``INV-20260514-3F2A9C1B``: the issue date, then the first eight letters or digits of the order id.
    """
    order_prefix = _NOT_ALPHANUMERIC.sub("", order_id)[:8].upper()
    return f"INV-{issued_at:%Y%m%d}-{order_prefix}"


class InvoiceDocument(Contract):
    """The invoice as stored in ``invoice.json``, and the single input of the PDF renderer."""

    invoice_number: str = Field(min_length=1)
    order_id: str = Field(min_length=1)
    issued_at: datetime
    seller: str = SELLER_NAME
    bill_to: Customer
    ship_to: ShippingAddress
    lines: list[PricedLine] = Field(min_length=1)
    total_amount: MinorUnits
    currency: CurrencyCode
    payment_id: str

    @classmethod
    def for_order(
        cls, order_id: str, number: str, issued_at: datetime, data: GenerateInvoiceData
    ) -> InvoiceDocument:
        return cls(
            invoice_number=number,
            order_id=order_id,
            issued_at=issued_at,
            bill_to=data.customer,
            ship_to=data.shipping_address,
            lines=data.order.lines,
            total_amount=data.order.total_amount,
            currency=data.order.currency,
            payment_id=data.payment_id,
        )
