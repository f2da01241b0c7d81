"""Issuing an order's invoice: number it once, render it, store it, announce it."""

from __future__ import annotations

from dataclasses import dataclass

from invoicing.archive import InvoiceArchive
from invoicing.document import InvoiceDocument, invoice_number
from invoicing.pdf import render_pdf
from invoicing.registry import InvoiceRecord, InvoiceRegistry
from orderflow_shared.contracts.invoicing import InvoiceGenerated, InvoiceGeneratedData
from orderflow_shared.contracts.orders import GenerateInvoice, InvoiceResult
from orderflow_shared.invoices import invoice_json_key, invoice_link, invoice_pdf_key
from orderflow_shared.publisher import EventPublisher


@dataclass(frozen=True)
class InvoiceIssuer:
    registry: InvoiceRegistry
    archive: InvoiceArchive
    publisher: EventPublisher
    # The orders API's public base URL: the invoice's link is its GET /orders/{orderId}/invoice.
    link_base_url: str

    def issue(self, command: GenerateInvoice) -> InvoiceResult:
        """Idempotent per order: a redelivered or retried command keeps the first invoice number and
        overwrites the same objects, so the customer never sees two invoices for one order."""
        order_id = command.order_id
        issued_at = command.metadata.occurred_at
        record = self.registry.claim(
            InvoiceRecord(
                order_id=order_id,
                invoice_number=invoice_number(order_id, issued_at),
                issued_at=issued_at,
                pdf_key=invoice_pdf_key(order_id),
                json_key=invoice_json_key(order_id),
            )
        )
        document = InvoiceDocument.for_order(order_id, record.invoice_number, record.issued_at, command.data)
        self.archive.store(document, render_pdf(document), pdf_key=record.pdf_key, json_key=record.json_key)
        # The link never expires: the orders API checks who asks and presigns a download each time.
        url = invoice_link(self.link_base_url, order_id)

        self.publisher.publish(
            InvoiceGenerated.create(
                order_id,
                InvoiceGeneratedData(
                    invoice_number=record.invoice_number,
                    invoice_url=url,
                    total_amount=document.total_amount,
                    currency=document.currency,
                ),
            )
        )
        return InvoiceResult(
            invoice_number=record.invoice_number,
            invoice_url=url,
            total_amount=document.total_amount,
            currency=document.currency,
        )
