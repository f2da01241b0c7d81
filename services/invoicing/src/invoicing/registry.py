"""The Invoices table: one record per order, so an order keeps one invoice number forever."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError


@dataclass(frozen=True)
class InvoiceRecord:
    order_id: str
    invoice_number: str
    issued_at: datetime
    pdf_key: str
    json_key: str

    def to_item(self) -> dict[str, str]:
        return {
            "orderId": self.order_id,
            "invoiceNumber": self.invoice_number,
            "issuedAt": self.issued_at.isoformat(),
            "pdfKey": self.pdf_key,
            "jsonKey": self.json_key,
        }

    @classmethod
    def from_item(cls, item: dict[str, Any]) -> InvoiceRecord:
        return cls(
            order_id=item["orderId"],
            invoice_number=item["invoiceNumber"],
            issued_at=datetime.fromisoformat(item["issuedAt"]),
            pdf_key=item["pdfKey"],
            json_key=item["jsonKey"],
        )


class InvoiceRegistry:
    def __init__(self, table: Any) -> None:
        self._table = table

    def claim(self, proposed: InvoiceRecord) -> InvoiceRecord:
        """Records ``proposed`` unless the order already has an invoice, and returns the one that holds."""
        try:
            self._table.put_item(Item=proposed.to_item(), ConditionExpression="attribute_not_exists(orderId)")
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise
            existing = self._table.get_item(Key={"orderId": proposed.order_id}, ConsistentRead=True)
            return InvoiceRecord.from_item(existing["Item"])
        return proposed
