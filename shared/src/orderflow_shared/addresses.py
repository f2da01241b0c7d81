"""Displaying a shipping address as the lines of a label, alike on the invoice and in the emails."""

from __future__ import annotations

from orderflow_shared.contracts.values import ShippingAddress


def address_lines(address: ShippingAddress) -> list[str]:
    return [
        address.name,
        address.line1,
        *([address.line2] if address.line2 else []),
        f"{address.postal_code} {address.city}",
        address.country,
    ]
