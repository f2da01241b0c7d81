"""Rendering an invoice document as a PDF (fpdf2, built-in fonts: nothing to bundle or download)."""

from __future__ import annotations

import unicodedata

from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from invoicing.document import InvoiceDocument
from orderflow_shared.addresses import address_lines
from orderflow_shared.money import format_money

# The PDF core fonts only know this code page; the JSON copy keeps the exact Unicode text.
_CORE_FONT_ENCODING = "windows-1252"
_FONT = "Helvetica"
_LINE_HEIGHT = 6
_COLUMN_WIDTHS = (70, 25, 40, 45)


def render_pdf(document: InvoiceDocument) -> bytes:
    pdf = FPDF(format="A4")
    pdf.core_fonts_encoding = _CORE_FONT_ENCODING
    # A fixed creation date makes a re-render of the same invoice byte-for-byte identical.
    pdf.set_creation_date(document.issued_at)
    pdf.set_title(f"Invoice {document.invoice_number}")
    pdf.set_author(document.seller)
    pdf.add_page()

    _header(pdf, document)
    _parties(pdf, document)
    _lines(pdf, document)
    _total(pdf, document)
    return bytes(pdf.output())


def _header(pdf: FPDF, document: InvoiceDocument) -> None:
    pdf.set_font(_FONT, style="B", size=22)
    pdf.cell(text=_printable(document.seller), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    pdf.set_font(_FONT, style="B", size=14)
    pdf.cell(text="INVOICE", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(_FONT, size=10)
    for label, value in (
        ("Invoice number", document.invoice_number),
        ("Order id", document.order_id),
        ("Date", f"{document.issued_at:%Y-%m-%d}"),
        ("Payment reference", document.payment_id),
    ):
        _labelled(pdf, label, value)
    pdf.ln(6)


def _parties(pdf: FPDF, document: InvoiceDocument) -> None:
    half_width = pdf.epw / 2
    top = pdf.get_y()
    _block(pdf, "Bill to", [f"Customer {document.bill_to.id}", str(document.bill_to.email)], half_width)
    bill_to_bottom = pdf.get_y()
    pdf.set_xy(pdf.l_margin + half_width, top)
    _block(pdf, "Ship to", address_lines(document.ship_to), half_width)
    pdf.set_xy(pdf.l_margin, max(bill_to_bottom, pdf.get_y()))
    pdf.ln(6)


def _lines(pdf: FPDF, document: InvoiceDocument) -> None:
    pdf.set_font(_FONT, size=10)
    with pdf.table(
        col_widths=_COLUMN_WIDTHS,
        width=sum(_COLUMN_WIDTHS),
        align=Align.L,
        text_align=(Align.L, Align.R, Align.R, Align.R),
        first_row_as_headings=True,
    ) as table:
        table.row(("SKU", "Quantity", "Unit price", "Line total"))
        for line in document.lines:
            table.row(
                (
                    line.sku,
                    str(line.quantity),
                    format_money(line.unit_price, document.currency),
                    format_money(line.line_total, document.currency),
                )
            )


def _total(pdf: FPDF, document: InvoiceDocument) -> None:
    pdf.ln(4)
    pdf.set_font(_FONT, style="B", size=12)
    label_width = sum(_COLUMN_WIDTHS[:-1])
    pdf.cell(w=label_width, text="Total", align=Align.R)
    pdf.cell(
        w=_COLUMN_WIDTHS[-1],
        text=format_money(document.total_amount, document.currency),
        align=Align.R,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )


def _labelled(pdf: FPDF, label: str, value: str) -> None:
    pdf.set_font(_FONT, style="B", size=10)
    pdf.cell(w=40, h=_LINE_HEIGHT, text=f"{label}:")
    pdf.set_font(_FONT, size=10)
    pdf.cell(h=_LINE_HEIGHT, text=_printable(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)


def _block(pdf: FPDF, title: str, lines: list[str], width: float) -> None:
    left = pdf.get_x()
    pdf.set_font(_FONT, style="B", size=11)
    pdf.cell(w=width, h=_LINE_HEIGHT + 1, text=title, new_x=XPos.LEFT, new_y=YPos.NEXT)
    pdf.set_font(_FONT, size=10)
    for line in lines:
        pdf.set_x(left)
        pdf.multi_cell(w=width - 4, h=_LINE_HEIGHT, text=_printable(line), new_x=XPos.LEFT, new_y=YPos.NEXT)


def _printable(text: str) -> str:
    """The text in the core fonts' code page: accents kept where possible, others spelled plainly."""
    return "".join(_printable_char(char) for char in text)


def _printable_char(char: str) -> str:
    try:
        char.encode(_CORE_FONT_ENCODING)
    except UnicodeEncodeError:
        base = unicodedata.normalize("NFKD", char).encode("ascii", "ignore").decode()
        return base or "?"
    return char
