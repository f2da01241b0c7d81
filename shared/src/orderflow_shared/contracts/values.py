"""Value objects shared by several events and by the public API."""

from __future__ import annotations

from typing import Annotated

from pydantic import EmailStr, Field, model_validator

from orderflow_shared.contracts.base import Contract

Sku = Annotated[str, Field(pattern=r"^[A-Z0-9][A-Z0-9-]{1,31}$", examples=["KB-001"])]
CurrencyCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code", examples=["USD"])]
MinorUnits = Annotated[int, Field(ge=0, description="Amount in the currency's minor units (cents)")]
Quantity = Annotated[int, Field(ge=1, le=1000)]


class Customer(Contract):
    id: str = Field(min_length=1, max_length=64)
    email: EmailStr


class ShippingAddress(Contract):
    name: str = Field(min_length=1, max_length=200)
    line1: str = Field(min_length=1, max_length=200)
    line2: str | None = Field(default=None, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2 code")


class OrderItem(Contract):
    sku: Sku
    quantity: Quantity


class PricedLine(Contract):
    sku: Sku
    quantity: Quantity
    unit_price: MinorUnits
    line_total: MinorUnits

    @model_validator(mode="after")
    def _line_total_matches(self) -> PricedLine:
        if self.line_total != self.unit_price * self.quantity:
            raise ValueError("lineTotal must equal unitPrice * quantity")
        return self


class PricedOrder(Contract):
    """An order priced from the inventory catalogue: the only source of prices."""

    lines: list[PricedLine] = Field(min_length=1)
    total_amount: MinorUnits
    currency: CurrencyCode

    @model_validator(mode="after")
    def _total_matches(self) -> PricedOrder:
        if self.total_amount != sum(line.line_total for line in self.lines):
            raise ValueError("totalAmount must equal the sum of the line totals")
        return self


class ReservedOrder(PricedOrder):
    """Inventory's answer to ReserveStock: the priced order, and its total sealed for payments."""

    priced_reservation: str = Field(
        min_length=1,
        repr=False,
        description=(
            "The order's total and currency sealed by inventory for payments: base64 of their AES-GCM "
            "ciphertext under a data key of the payment-token KMS key made for priced reservations, "
            "bound to the order id (orderflow_shared.priced_reservations)"
        ),
    )
