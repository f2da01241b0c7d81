"""Customers' payment tokens between the orders API and payments: sealed with KMS, bound to their order.

The orders API seals the token it receives; only payments can open it (the key policy in
infra/template.yaml denies decryption to every other principal). Everything in between, the
workflow's input and history, the ProcessPayment command and any log line, carries the sealed
form: base64 of the KMS ciphertext. The order id is the encryption context, so a token sealed for
one order cannot be replayed in another order's command.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from botocore.exceptions import ClientError

ENCRYPTION_CONTEXT_KEY = "orderId"

# What KMS answers for a ciphertext that is not ours, was altered, or names another order.
_UNREADABLE = frozenset({"InvalidCiphertextException", "IncorrectKeyException", "AccessDeniedException"})


class UnreadablePaymentToken(ValueError):
    """The sealed token does not open with the payment-token key for this order."""


def seal_payment_token(kms: Any, key_arn: str, order_id: str, token: str) -> str:
    ciphertext: bytes = kms.encrypt(
        KeyId=key_arn,
        Plaintext=token.encode(),
        EncryptionContext={ENCRYPTION_CONTEXT_KEY: order_id},
    )["CiphertextBlob"]
    return base64.b64encode(ciphertext).decode("ascii")


def open_payment_token(kms: Any, key_arn: str, order_id: str, sealed: str) -> str:
    try:
        ciphertext = base64.b64decode(sealed, validate=True)
    except (binascii.Error, ValueError):
        raise UnreadablePaymentToken("the payment token is not a sealed token") from None
    try:
        plaintext: bytes = kms.decrypt(
            KeyId=key_arn,
            CiphertextBlob=ciphertext,
            EncryptionContext={ENCRYPTION_CONTEXT_KEY: order_id},
        )["Plaintext"]
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") in _UNREADABLE:
            raise UnreadablePaymentToken(
                "the payment token was not sealed for this order with the payment-token key"
            ) from None
        raise
    return plaintext.decode()
