"""Sealing a value for one service and one order: envelope encryption under a KMS key's data keys.

A sealer encrypts a short text with AES-256-GCM under a data key that KMS makes with the key
(GenerateDataKey, encryption context ``purpose: <the seal's purpose>``); the sealed form carries that
data key encrypted by KMS. Only a principal allowed to Decrypt under the key *for that purpose* can
open it, and only a principal allowed to make data keys for that purpose can make a seal that opens:
the key policy and the roles' grants condition on the purpose. Two uses (``SealPurpose``):

- payment tokens, sealed by the orders API, opened by payments (``orderflow_shared.payment_tokens``);
- priced reservations, sealed by inventory, opened by payments (``orderflow_shared.priced_reservations``).

What a seal guarantees:

- A seal made for one order does not open for another: the order id is the AES-GCM associated data,
  so opening with any other order id fails the authentication tag.
- A seal made for one purpose does not open as another: its data key was made under the other
  purpose's encryption context, which KMS will not decrypt under this one.
- A tampered, foreign or malformed seal, or one whose data key was not made with the key for this
  purpose (KMS answers AccessDenied, IncorrectKey or InvalidCiphertext), raises the purpose's
  ``UnreadableSeal`` with a message that never quotes the seal. Any other AWS error (a throttle, an
  outage) propagates, so the command is retried rather than refused.

KMS is called only to make a data key or to open one the first time, not once per seal. A sealer
reuses its data key for ``data_key_seconds`` (5 minutes) and at most ``max_seals_per_data_key``
seals; an opener keeps each data key it opened, by its encrypted form, for ``data_key_seconds`` and
at most ``max_cached_keys`` of them. That is safe because a cached data key lives only in the memory
of the one container that made or opened it, which is already trusted with every value it seals or
opens in that time, and it is never written anywhere. The bound on seals per data key keeps the
chance of two random 96-bit nonces colliding under one key negligible (NIST SP 800-38D allows 2**32).

The sealed form is standard base64 of::

    version (1 byte) | length of the encrypted data key (2 bytes, big-endian) | encrypted data key
    | nonce (12 bytes) | AES-GCM ciphertext of the value | its tag (16 bytes)

with associated data ``version + order id (UTF-8)``, so the version cannot be altered either.
"""

from __future__ import annotations

import base64
import binascii
import os
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from botocore.exceptions import ClientError
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

# 2, not 1: the earlier sealed form, a bare KMS ciphertext, starts with byte 1, and such a token
# should be reported as an unknown format rather than parsed as this one.
FORMAT_VERSION = 2

DATA_KEY_SECONDS = 300
MAX_SEALS_PER_DATA_KEY = 10_000
# Each orders API container makes about one data key per DATA_KEY_SECONDS, so this covers a thousand
# containers sealing at once, for a few hundred bytes a key.
MAX_CACHED_KEYS = 1_000

_DATA_KEY_BYTES = 32
_NONCE_BYTES = 12
_TAG_BYTES = 16
_HEADER = struct.Struct(">BH")  # version, length of the encrypted data key

# What KMS answers for an encrypted data key that is not ours, was altered, or was made for another
# purpose or with another key.
_UNREADABLE = frozenset({"InvalidCiphertextException", "IncorrectKeyException", "AccessDeniedException"})


class UnreadableSeal(ValueError):
    """A seal that does not open for this order and purpose."""


@dataclass(frozen=True)
class SealPurpose:
    """What a seal is for: the encryption context of its data keys, and how errors name it."""

    name: str  # the encryption context's ``purpose``, which the key policy and grants condition on
    noun: str  # e.g. "payment token", in error messages
    unreadable: type[UnreadableSeal] = UnreadableSeal

    @property
    def encryption_context(self) -> dict[str, str]:
        return {"purpose": self.name}

    def error(self, problem: str) -> UnreadableSeal:
        return self.unreadable(f"the {self.noun} {problem}")


@dataclass
class _DataKey:
    cipher: AESGCM
    encrypted: bytes
    made_at: float
    sealed: int = 0


class _DataKeyUser:
    """What sealing and opening share: the key, the purpose, and how long a data key is used.

    Each use is a subclass naming its ``PURPOSE``.
    """

    PURPOSE: ClassVar[SealPurpose]

    def __init__(
        self,
        kms: Any,
        key_arn: str,
        clock: Callable[[], float] = time.monotonic,
        data_key_seconds: float = DATA_KEY_SECONDS,
    ) -> None:
        self._kms = kms
        self._key_arn = key_arn
        self._clock = clock
        self._data_key_seconds = data_key_seconds
        self._lock = threading.Lock()


class Sealer(_DataKeyUser):
    """``sealer(order_id, text)`` answers the text sealed for its purpose and that order alone."""

    def __init__(
        self,
        kms: Any,
        key_arn: str,
        clock: Callable[[], float] = time.monotonic,
        data_key_seconds: float = DATA_KEY_SECONDS,
        max_seals_per_data_key: int = MAX_SEALS_PER_DATA_KEY,
    ) -> None:
        super().__init__(kms, key_arn, clock, data_key_seconds)
        self._max_seals = max_seals_per_data_key
        self._data_key: _DataKey | None = None

    def __call__(self, order_id: str, text: str) -> str:
        cipher, encrypted_key = self._next_use()
        nonce = os.urandom(_NONCE_BYTES)
        sealed = cipher.encrypt(nonce, text.encode(), _associated_data(order_id))
        header = _HEADER.pack(FORMAT_VERSION, len(encrypted_key))
        return base64.b64encode(header + encrypted_key + nonce + sealed).decode("ascii")

    def _next_use(self) -> tuple[AESGCM, bytes]:
        # Held across GenerateDataKey so that concurrent first seals make one data key, not several,
        # and so that no data key seals more than its share of values.
        with self._lock:
            now = self._clock()
            data_key = self._data_key
            if (
                data_key is None
                or now - data_key.made_at >= self._data_key_seconds
                or data_key.sealed >= self._max_seals
            ):
                data_key = self._data_key = self._new_data_key(now)
            data_key.sealed += 1
            return data_key.cipher, data_key.encrypted

    def _new_data_key(self, now: float) -> _DataKey:
        made = self._kms.generate_data_key(
            KeyId=self._key_arn, KeySpec="AES_256", EncryptionContext=self.PURPOSE.encryption_context
        )
        encrypted: bytes = made["CiphertextBlob"]
        if len(encrypted) > 0xFFFF:
            raise ValueError("KMS answered an encrypted data key too long for the sealed format")
        return _DataKey(AESGCM(made["Plaintext"]), encrypted, now)


class Opener(_DataKeyUser):
    """``opener(order_id, sealed)`` answers the text sealed for that order and this purpose, or raises
    the purpose's ``UnreadableSeal``."""

    def __init__(
        self,
        kms: Any,
        key_arn: str,
        clock: Callable[[], float] = time.monotonic,
        data_key_seconds: float = DATA_KEY_SECONDS,
        max_cached_keys: int = MAX_CACHED_KEYS,
    ) -> None:
        super().__init__(kms, key_arn, clock, data_key_seconds)
        self._max_cached_keys = max_cached_keys
        # Encrypted data key -> (its cipher, when it was opened). Insertion order is age order, since
        # every entry lives equally long, so the first entry is always the next to expire.
        self._cache: dict[bytes, tuple[AESGCM, float]] = {}

    def __call__(self, order_id: str, sealed: str) -> str:
        encrypted_key, nonce, ciphertext = _parse(self.PURPOSE, sealed)
        cipher = self._cipher(encrypted_key)
        try:
            plaintext = cipher.decrypt(nonce, ciphertext, _associated_data(order_id))
        except InvalidTag:
            raise self.PURPOSE.error("was not sealed for this order, or was altered") from None
        return plaintext.decode()

    def _cipher(self, encrypted_key: bytes) -> AESGCM:
        with self._lock:
            cached = self._cache.get(encrypted_key)
            if cached is not None and self._clock() - cached[1] < self._data_key_seconds:
                return cached[0]
        # Outside the lock: one slow Decrypt should not hold up seals whose data key is cached.
        cipher = AESGCM(self._open_data_key(encrypted_key))
        with self._lock:
            now = self._clock()
            self._cache.pop(encrypted_key, None)
            while self._cache and (
                len(self._cache) >= self._max_cached_keys
                or now - next(iter(self._cache.values()))[1] >= self._data_key_seconds
            ):
                del self._cache[next(iter(self._cache))]
            self._cache[encrypted_key] = (cipher, now)
        return cipher

    def _open_data_key(self, encrypted_key: bytes) -> bytes:
        try:
            data_key: bytes = self._kms.decrypt(
                KeyId=self._key_arn,
                CiphertextBlob=encrypted_key,
                EncryptionContext=self.PURPOSE.encryption_context,
            )["Plaintext"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in _UNREADABLE:
                raise self.PURPOSE.error(
                    f"has a data key that was not made with its key for {self.PURPOSE.noun}s"
                ) from None
            raise
        if len(data_key) != _DATA_KEY_BYTES:
            raise self.PURPOSE.error("has a data key that is not an AES-256 key")
        return data_key


def _associated_data(order_id: str) -> bytes:
    return bytes([FORMAT_VERSION]) + order_id.encode()


def _parse(purpose: SealPurpose, sealed: str) -> tuple[bytes, bytes, bytes]:
    """The encrypted data key, nonce and ciphertext of a seal."""
    try:
        raw = base64.b64decode(sealed, validate=True)
    except (binascii.Error, ValueError):
        raise purpose.error("is not sealed") from None
    if len(raw) < _HEADER.size:
        raise purpose.error("is not sealed")
    version, key_length = _HEADER.unpack_from(raw)
    if version != FORMAT_VERSION:
        raise purpose.error(f"is not sealed in format {FORMAT_VERSION}")
    nonce_at = _HEADER.size + key_length
    ciphertext_at = nonce_at + _NONCE_BYTES
    if key_length == 0 or len(raw) < ciphertext_at + _TAG_BYTES:
        raise purpose.error("is truncated")
    return raw[_HEADER.size : nonce_at], raw[nonce_at:ciphertext_at], raw[ciphertext_at:]
