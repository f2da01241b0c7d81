"""Payment tokens sealed by the orders API and opened by payments, under cached KMS data keys, in moto."""

from __future__ import annotations

import base64
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from unittest.mock import patch

import pytest
from botocore.exceptions import ClientError

from orderflow_shared.aws import client
from orderflow_shared.payment_tokens import PaymentTokenOpener, PaymentTokenSealer, UnreadablePaymentToken


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def kms(aws: None) -> Any:
    return client("kms")


@pytest.fixture
def key_arn(kms: Any) -> str:
    arn: str = kms.create_key(Description="payment tokens")["KeyMetadata"]["Arn"]
    return arn


@pytest.fixture
def kms_calls(kms: Any, key_arn: str) -> Counter[str]:
    """The KMS operations called through ``kms`` once the payment-token key exists, by name."""
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    kms.meta.events.register("before-call.kms", count)
    return calls


def tampered(sealed: str, at: int) -> str:
    raw = bytearray(base64.b64decode(sealed))
    raw[at] ^= 0x01
    return base64.b64encode(bytes(raw)).decode()


def test_a_sealed_token_opens_for_its_order(kms: Any, key_arn: str) -> None:
    sealed = PaymentTokenSealer(kms, key_arn)("o-1", "tok_visa")

    assert "tok_visa" not in sealed
    assert PaymentTokenOpener(kms, key_arn)("o-1", sealed) == "tok_visa"


def test_a_token_sealed_for_one_order_does_not_open_for_another(kms: Any, key_arn: str) -> None:
    sealed = PaymentTokenSealer(kms, key_arn)("o-1", "tok_visa")

    with pytest.raises(UnreadablePaymentToken, match="not sealed for this order"):
        PaymentTokenOpener(kms, key_arn)("o-2", sealed)


# The token's last bytes: nonce (12), ciphertext (8, as long as "tok_visa"), tag (16).
@pytest.mark.parametrize(
    "at",
    [0, 1, 2, 3, 60, -30, -20, -1],
    ids=[
        "version",
        "key-length-high",
        "key-length-low",
        "data-key",
        "data-key-middle",
        "nonce",
        "ciphertext",
        "tag",
    ],
)
def test_a_tampered_token_does_not_open(kms: Any, key_arn: str, at: int) -> None:
    sealed = PaymentTokenSealer(kms, key_arn)("o-1", "tok_visa")

    with pytest.raises(UnreadablePaymentToken):
        PaymentTokenOpener(kms, key_arn)("o-1", tampered(sealed, at))


@pytest.mark.parametrize(
    "sealed",
    [
        "tok_visa",
        "not base64!",
        "",
        "é",
        base64.b64encode(b"\x02").decode(),
        base64.b64encode(b"\x02\x00\x00" + bytes(40)).decode(),
        base64.b64encode(b"\x02\x00\x10" + bytes(20)).decode(),
        # The earlier sealed form: a bare KMS ciphertext, which starts with byte 1.
        "AQICAHhZm9yLXBheW1lbnRzLW9ubHkAexampleSealedPaymentToken==",
    ],
    ids=[
        "plaintext",
        "not-base64",
        "empty",
        "non-ascii",
        "header-cut",
        "no-data-key",
        "truncated",
        "kms-blob",
    ],
)
def test_what_is_not_a_sealed_token_does_not_open_nor_reach_kms(
    kms: Any, kms_calls: Counter[str], key_arn: str, sealed: str
) -> None:
    with pytest.raises(UnreadablePaymentToken):
        PaymentTokenOpener(kms, key_arn)("o-1", sealed)

    assert kms_calls["Decrypt"] == 0


def test_a_data_key_the_payment_token_key_did_not_make_does_not_open(kms: Any, key_arn: str) -> None:
    other_key = kms.create_key(Description="another key")["KeyMetadata"]["Arn"]
    sealed = PaymentTokenSealer(kms, other_key)("o-1", "tok_visa")

    with pytest.raises(UnreadablePaymentToken, match="data key"):
        PaymentTokenOpener(kms, key_arn)("o-1", sealed)


def test_seals_within_the_window_share_one_data_key_and_opens_one_decrypt(
    kms: Any, kms_calls: Counter[str], key_arn: str
) -> None:
    seal, open_ = PaymentTokenSealer(kms, key_arn), PaymentTokenOpener(kms, key_arn)

    first, second = seal("o-1", "tok_visa"), seal("o-2", "tok_mastercard")
    assert kms_calls["GenerateDataKey"] == 1
    assert (open_("o-1", first), open_("o-2", second)) == ("tok_visa", "tok_mastercard")
    assert kms_calls["Decrypt"] == 1
    assert kms_calls.keys() == {"GenerateDataKey", "Decrypt"}


def test_a_data_key_older_than_its_window_is_replaced_and_opened_again(
    kms: Any, kms_calls: Counter[str], key_arn: str
) -> None:
    clock = FakeClock()
    seal = PaymentTokenSealer(kms, key_arn, clock=clock, data_key_seconds=300)
    open_ = PaymentTokenOpener(kms, key_arn, clock=clock, data_key_seconds=300)
    early = seal("o-1", "tok_visa")
    assert open_("o-1", early) == "tok_visa"

    clock.now += 301
    late = seal("o-2", "tok_visa")

    assert kms_calls["GenerateDataKey"] == 2
    assert open_("o-2", late) == "tok_visa"
    assert open_("o-1", early) == "tok_visa"  # its cached data key expired too: opened anew
    assert kms_calls["Decrypt"] == 3


def test_a_data_key_seals_at_most_its_share_of_tokens(
    kms: Any, kms_calls: Counter[str], key_arn: str
) -> None:
    seal = PaymentTokenSealer(kms, key_arn, max_seals_per_data_key=2)
    open_ = PaymentTokenOpener(kms, key_arn)

    sealed = [seal(f"o-{n}", "tok_visa") for n in range(5)]

    assert kms_calls["GenerateDataKey"] == 3
    assert [open_(f"o-{n}", token) for n, token in enumerate(sealed)] == ["tok_visa"] * 5
    assert kms_calls["Decrypt"] == 3


def test_the_opener_keeps_at_most_its_bound_of_data_keys(
    kms: Any, kms_calls: Counter[str], key_arn: str
) -> None:
    sealed = [PaymentTokenSealer(kms, key_arn)(f"o-{n}", "tok_visa") for n in range(3)]
    open_ = PaymentTokenOpener(kms, key_arn, max_cached_keys=2)

    for n, token in enumerate(sealed):
        open_(f"o-{n}", token)
    open_("o-2", sealed[2])  # still cached
    open_("o-0", sealed[0])  # the oldest, dropped for the third

    assert kms_calls["Decrypt"] == 4


def test_other_kms_errors_propagate_and_are_not_cached(kms: Any, key_arn: str) -> None:
    sealed = PaymentTokenSealer(kms, key_arn)("o-1", "tok_visa")
    open_ = PaymentTokenOpener(kms, key_arn)
    throttled = ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "Decrypt")

    with patch.object(kms, "decrypt", side_effect=throttled), pytest.raises(ClientError) as raised:
        open_("o-1", sealed)

    assert not isinstance(raised.value, UnreadablePaymentToken)
    assert open_("o-1", sealed) == "tok_visa"


def test_threads_sealing_at_once_share_data_keys_within_their_bound(
    kms: Any, kms_calls: Counter[str], key_arn: str
) -> None:
    seal = PaymentTokenSealer(kms, key_arn, max_seals_per_data_key=100)

    with ThreadPoolExecutor(max_workers=8) as pool:
        sealed = list(pool.map(lambda n: seal(f"o-{n}", "tok_visa"), range(400)))

    assert kms_calls["GenerateDataKey"] == 4
    open_ = PaymentTokenOpener(kms, key_arn)
    assert {open_(f"o-{n}", token) for n, token in enumerate(sealed)} == {"tok_visa"}
    assert kms_calls["Decrypt"] == 4
