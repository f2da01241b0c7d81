"""Customers' payment tokens between the orders API and payments: sealed for payments, bound to their order.

The orders API seals the token it receives (``PaymentTokenSealer``); only payments can open it
(``PaymentTokenOpener``). Everything in between, the workflow's input and history, the
ProcessPayment command and any log line, carries the sealed form only. The sealing is
``orderflow_shared.sealing``'s, for the purpose ``payment-token``:

- Only payments can open a token. The key policy (PaymentTokenKey in infra/template.yaml) lets only
  payments' roles Decrypt under the key and denies Decrypt to every other principal; the orders API
  may only make data keys with it, for this purpose. Without Decrypt, nobody else can turn the
  encrypted data key a token carries back into the key that opens it.
- A token sealed for one order does not open for another, and a tampered, foreign or malformed one
  raises ``UnreadablePaymentToken`` with a message that never quotes the token.
"""

from __future__ import annotations

from orderflow_shared.sealing import (
    Opener,
    Sealer,
    SealPurpose,
    UnreadableSeal,
)


class UnreadablePaymentToken(UnreadableSeal):
    """The sealed token does not open with the payment-token key for this order."""


PAYMENT_TOKEN = SealPurpose("payment-token", "payment token", UnreadablePaymentToken)


class PaymentTokenSealer(Sealer):
    """``sealer(order_id, token)`` answers the token sealed for payments and that order alone."""

    PURPOSE = PAYMENT_TOKEN


class PaymentTokenOpener(Opener):
    """``opener(order_id, sealed)`` answers the token sealed for that order, or raises
    ``UnreadablePaymentToken``."""

    PURPOSE = PAYMENT_TOKEN
