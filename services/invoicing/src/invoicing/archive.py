"""The invoices bucket: the PDF and JSON copies of each invoice.

Nothing here hands out a download: customers reach the PDF through the orders API, which presigns
a short-lived URL on each request (orderflow_shared.invoices).
"""

from __future__ import annotations

from typing import Any

from invoicing.document import InvoiceDocument
from orderflow_shared.aws import client

PDF_CONTENT_TYPE = "application/pdf"
JSON_CONTENT_TYPE = "application/json"


class InvoiceArchive:
    def __init__(self, bucket: str, s3_client: Any = None) -> None:
        self._bucket = bucket
        self._s3_client = s3_client

    @property
    def _s3(self) -> Any:
        return self._s3_client or client("s3")

    def store(self, document: InvoiceDocument, pdf: bytes, pdf_key: str, json_key: str) -> None:
        """Writes both copies under fixed keys, so storing an invoice again overwrites it."""
        self._s3.put_object(
            Bucket=self._bucket,
            Key=pdf_key,
            Body=pdf,
            ContentType=PDF_CONTENT_TYPE,
            # Browsers show it, and save it under the invoice number rather than "invoice.pdf".
            ContentDisposition=f'inline; filename="{document.invoice_number}.pdf"',
        )
        self._s3.put_object(
            Bucket=self._bucket,
            Key=json_key,
            Body=document.model_dump_json(by_alias=True, exclude_none=True).encode(),
            ContentType=JSON_CONTENT_TYPE,
        )
