"""Events published by the invoicing service."""

from __future__ import annotations

from typing import ClassVar

from orderflow_shared.contracts.base import Contract, Event
from orderflow_shared.contracts.values import CurrencyCode, MinorUnits

SOURCE = "orderflow.invoicing"


class InvoiceGeneratedData(Contract):
    invoice_number: str
    invoice_url: str
    total_amount: MinorUnits
    currency: CurrencyCode


class InvoiceGenerated(Event):
    """The order's invoice (PDF and JSON) is stored, in answer to GenerateInvoice; carries its number
    and download link.
    """

    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "InvoiceGenerated"
    data: InvoiceGeneratedData
