"""What the inventory's DynamoDB stores share: placeholders, timestamps, transaction outcomes and
how a catalogue item reads as a StockLevel (items from before a field existed included)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from inventory.stock import StockLevel

CONDITION_FAILED = "ConditionalCheckFailed"
NO_FAILURE = "None"


def names(*attributes: str) -> dict[str, str]:
    # Placeholders for every attribute: "state" (and others) are DynamoDB reserved words.
    return {f"#{attribute}": attribute for attribute in attributes}


def now() -> str:
    return datetime.now(UTC).isoformat()


def cancellation_reasons(error: ClientError) -> list[str]:
    """The per-item reason codes of a cancelled transaction; re-raises any other error."""
    if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
        raise error
    return [reason.get("Code", NO_FAILURE) for reason in error.response.get("CancellationReasons", [])]


def is_condition_failure(error: ClientError) -> bool:
    code: str = error.response.get("Error", {}).get("Code", "")
    return code == "ConditionalCheckFailedException"


def stock_level(item: Mapping[str, Any]) -> StockLevel:
    # Items written before sold, stocked and version existed read as never sold, never booked
    # (stocked None: the books open with what they hold) and version 0.
    return StockLevel(
        sku=item["sku"],
        available=int(item["available"]),
        reserved=int(item.get("reserved", 0)),
        unit_price=int(item["unitPrice"]),
        currency=item["currency"],
        sold=int(item.get("sold", 0)),
        stocked=int(item["stocked"]) if "stocked" in item else None,
        version=int(item.get("version", 0)),
    )


def stock_attributes(level: StockLevel) -> dict[str, Any]:
    """The catalogue attributes of a StockLevel (all but the key)."""
    return {
        "available": level.available,
        "reserved": level.reserved,
        "sold": level.sold,
        "stocked": level.on_books,
        "unitPrice": level.unit_price,
        "currency": level.currency,
        "version": level.version,
    }
