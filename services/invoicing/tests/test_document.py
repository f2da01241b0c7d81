from datetime import UTC, datetime

from invoicing.document import InvoiceDocument, invoice_number
from orderflow_shared.contracts.orders import GenerateInvoiceData

ISSUED_AT = datetime(2026, 5, 14, 23, 59, tzinfo=UTC)


def test_invoice_number_is_the_issue_date_and_the_order_id_prefix() -> None:
    assert invoice_number("3f2a9c1b-77d0-4c1e", ISSUED_AT) == "INV-20260514-3F2A9C1B"


def test_invoice_number_skips_separators_in_the_order_id() -> None:
    assert invoice_number("ab-cd_ef.gh-ij", ISSUED_AT) == "INV-20260514-ABCDEFGH"


def test_document_carries_the_command_and_reads_back_from_its_json(invoice_data: GenerateInvoiceData) -> None:
    document = InvoiceDocument.for_order("o-1", "INV-20260514-O1", ISSUED_AT, invoice_data)

    wire = document.model_dump_json(by_alias=True)
    assert '"invoiceNumber":"INV-20260514-O1"' in wire
    assert '"shipTo"' in wire
    assert InvoiceDocument.model_validate_json(wire) == document
    assert document.total_amount == invoice_data.order.total_amount
    assert document.lines == invoice_data.order.lines
    assert document.bill_to == invoice_data.customer
