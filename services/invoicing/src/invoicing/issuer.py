"""Issuing an order's invoice: number it once, render it, store it, announce it."""

from __future__ import annotations

from dataclasses import dataclass

from invoicing.archive import InvoiceArchive
from invoicing.document import InvoiceDocument, invoice_number, json_key, pdf_key
from invoicing.pdf import render_pdf
from invoicing.registry import InvoiceRecord, InvoiceRegistry
from orderflow_shared.contracts.invoicing import InvoiceGenerated, InvoiceGeneratedData
from orderflow_shared.contracts.orders import GenerateInvoice, InvoiceResult
from orderflow_shared.publisher import EventPublisher


@dataclass(frozen=True)
class InvoiceIssuer:
    registry: InvoiceRegistry
    archive: InvoiceArchive
    publisher: EventPublisher

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
                pdf_key=pdf_key(order_id),
                json_key=json_key(order_id),
            )
        )
        document = InvoiceDocument.for_order(order_id, record.invoice_number, record.issued_at, command.data)
        self.archive.store(document, render_pdf(document), pdf_key=record.pdf_key, json_key=record.json_key)
        url = self.archive.download_url(record.pdf_key)

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
        return InvoiceResult(invoice_number=record.invoice_number, invoice_url=url)
