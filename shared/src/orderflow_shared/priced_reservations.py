"""The total inventory reserved an order at, sealed by inventory for payments, bound to the order.

The amount a ProcessPayment asks for is what the workflow was told when inventory answered its
ReserveStock step; whoever held that step's task token could have answered with any total. So
inventory answers with the total sealed as well (``PricedReservationSealer``), the workflow hands
the seal to payments in the ProcessPayment command, and payments charges only a command whose amount
and currency are the sealed ones (``PricedReservationOpener``). The sealing is
``orderflow_shared.sealing``'s, for the purpose ``priced-reservation``, under the same KMS key as
payment tokens (both are what payments must be able to trust):

- Only inventory can make a seal that opens: the key policy and its grants let inventory's
  ReserveStock role alone make data keys for this purpose, and only payments may Decrypt them. A
  token holder without those rights cannot seal a total of their own.
- A seal made for one order does not open for another, so one order's seal cannot price another.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from orderflow_shared.sealing import (
    Opener,
    Sealer,
    SealPurpose,
    UnreadableSeal,
)


class UnreadablePricedReservation(UnreadableSeal):
    """The seal does not open with the key for priced reservations of this order."""


PRICED_RESERVATION = SealPurpose("priced-reservation", "priced reservation", UnreadablePricedReservation)


@dataclass(frozen=True)
class PricedTotal:
    amount: int
    currency: str


class PricedReservationSealer(Sealer):
    """``seal(order_id, amount, currency)``: the total, sealed for payments and that order alone."""

    PURPOSE = PRICED_RESERVATION

    def seal(self, order_id: str, amount: int, currency: str) -> str:
        return self(order_id, json.dumps({"amount": amount, "currency": currency}, separators=(",", ":")))


class PricedReservationOpener(Opener):
    """``total(order_id, sealed)``: the total inventory sealed for the order, or
    ``UnreadablePricedReservation``."""

    PURPOSE = PRICED_RESERVATION

    def total(self, order_id: str, sealed: str) -> PricedTotal:
        text = self(order_id, sealed)
        # Only inventory can have sealed it, but a seal of an unknown shape is refused, not charged.
        try:
            document = json.loads(text)
        except ValueError:
            raise PRICED_RESERVATION.error("holds no amount and currency") from None
        if not isinstance(document, dict):
            raise PRICED_RESERVATION.error("holds no amount and currency")
        amount, currency = document.get("amount"), document.get("currency")
        if type(amount) is not int or amount < 0 or not isinstance(currency, str) or len(currency) != 3:
            raise PRICED_RESERVATION.error("holds no amount and currency")
        return PricedTotal(amount=amount, currency=currency)
