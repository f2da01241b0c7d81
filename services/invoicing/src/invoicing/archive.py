"""The invoices bucket: the PDF and JSON copies of each invoice, and links to download the PDF."""

from __future__ import annotations

from typing import Any

from invoicing.document import InvoiceDocument
from orderflow_shared.aws import client

# SigV4's longest presigned-URL lifetime. A URL signed with a Lambda role's temporary
# credentials stops working when those credentials expire, whichever comes first.
DOWNLOAD_LINK_SECONDS = 7 * 24 * 3600

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

    def download_url(self, key: str) -> str:
        # The shared S3 client signs with SigV4, which a presigned URL needs (see orderflow_shared.aws).
        url: str = self._s3.generate_presigned_url(
            "get_object", Params={"Bucket": self._bucket, "Key": key}, ExpiresIn=DOWNLOAD_LINK_SECONDS
        )
        return url
