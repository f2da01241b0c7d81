import io
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader

from invoicing.document import InvoiceDocument
from invoicing.pdf import render_pdf
from orderflow_shared.contracts.orders import GenerateInvoiceData

ISSUED_AT = datetime(2026, 5, 14, 10, 30, tzinfo=UTC)


@pytest.fixture
def document(invoice_data: GenerateInvoiceData) -> InvoiceDocument:
    return InvoiceDocument.for_order("3f2a9c1b-77d0", "INV-20260514-3F2A9C1B", ISSUED_AT, invoice_data)


def _text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_invoice_is_a_pdf_naming_its_number_order_and_total(document: InvoiceDocument) -> None:
    pdf = render_pdf(document)

    assert pdf.startswith(b"%PDF-")
    text = _text(pdf)
    assert "INV-20260514-3F2A9C1B" in text
    assert "3f2a9c1b-77d0" in text
    assert "2026-05-14" in text
    assert "1,334.54 USD" in text


def test_invoice_lists_every_line_and_both_parties(document: InvoiceDocument) -> None:
    text = _text(render_pdf(document))

    assert "KB-001 2 49.99 USD 99.98 USD" in text
    assert "MS-002 1 1,234.56 USD 1,234.56 USD" in text
    assert "ana@example.com" in text
    assert "Ana Pérez" in text
    assert "28013 Madrid" in text


def test_text_outside_the_pdf_fonts_is_spelled_plainly_instead_of_failing(document: InvoiceDocument) -> None:
    address = document.ship_to.model_copy(update={"name": "Łucja 山田", "city": "Kraków"})
    text = _text(render_pdf(document.model_copy(update={"ship_to": address})))

    assert "Kraków" in text
    assert "ucja" in text


def test_rendering_an_invoice_again_gives_the_same_bytes(document: InvoiceDocument) -> None:
    assert render_pdf(document) == render_pdf(document)
