"""Where an order's invoice is kept and how it is reached, for the two services that need it.

invoicing writes the copies under these keys of its bucket and announces ``invoice_link`` as the
invoice's URL; the orders API serves that link (GET /orders/{orderId}/invoice) by redirecting the
order's owner or an operator to a freshly presigned download of the PDF under the same key. The
orders template grants read on ``invoices/*/invoice.pdf`` alone, so the PDF key keeps that shape.
"""

from __future__ import annotations

from urllib.parse import quote

INVOICE_PATH = "/orders/{orderId}/invoice"


def invoice_pdf_key(order_id: str) -> str:
    return f"invoices/{order_id}/invoice.pdf"


def invoice_json_key(order_id: str) -> str:
    return f"invoices/{order_id}/invoice.json"


def invoice_link(api_base_url: str, order_id: str) -> str:
    """The invoice's public URL: the orders API's invoice route under ``api_base_url`` (the API's
    public base URL, stage included, e.g. ``https://api.example.com`` or ``https://<id>.execute-api.
    <region>.amazonaws.com/Prod``). It never expires and grants nothing by itself: the API checks the
    caller's token on every request."""
    path = INVOICE_PATH.replace("{orderId}", quote(order_id, safe=""))
    return api_base_url.rstrip("/") + path
