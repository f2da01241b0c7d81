"""Downloads of an order's invoice: a URL presigned on each request, valid for a few minutes.

The invoice's link (``invoiceUrl``) is GET /orders/{orderId}/invoice; the API checks the caller and
redirects to the URL made here. The PDF is where invoicing stored it (orderflow_shared.invoices).
"""

from __future__ import annotations

from typing import Any

from orderflow_shared.invoices import invoice_pdf_key


class InvoiceDownloads:
    def __init__(self, s3_client: Any, bucket: str, valid_seconds: int) -> None:
        if valid_seconds < 1:
            raise ValueError(f"an invoice download must be valid for at least a second, not {valid_seconds}")
        self._s3 = s3_client
        self._bucket = bucket
        self._valid_seconds = valid_seconds

    def url(self, order_id: str) -> str:
        """A GET of the order's invoice PDF, presigned (SigV4: see orderflow_shared.aws) with this
        function's credentials. It grants that one object for ``valid_seconds``, or until those
        credentials expire, whichever comes first; it is answered to the caller, never logged."""
        url: str = self._s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": self._bucket, "Key": invoice_pdf_key(order_id)},
            ExpiresIn=self._valid_seconds,
        )
        return url
