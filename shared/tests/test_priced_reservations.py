"""Priced totals sealed by inventory and opened by payments, in moto's KMS: only a seal made for
priced reservations, for this order, opens."""

from __future__ import annotations

from typing import Any

import pytest

from orderflow_shared.aws import client
from orderflow_shared.payment_tokens import PaymentTokenOpener, PaymentTokenSealer, UnreadablePaymentToken
from orderflow_shared.priced_reservations import (
    PricedReservationOpener,
    PricedReservationSealer,
    PricedTotal,
    UnreadablePricedReservation,
)


@pytest.fixture
def kms(aws: None) -> Any:
    return client("kms")


@pytest.fixture
def key_arn(kms: Any) -> str:
    arn: str = kms.create_key(Description="what payments trusts")["KeyMetadata"]["Arn"]
    return arn


def test_a_sealed_total_opens_for_its_order(kms: Any, key_arn: str) -> None:
    sealed = PricedReservationSealer(kms, key_arn).seal("o-1", 2599, "USD")

    assert PricedReservationOpener(kms, key_arn).total("o-1", sealed) == PricedTotal(2599, "USD")


def test_a_total_sealed_for_one_order_does_not_open_for_another(kms: Any, key_arn: str) -> None:
    sealed = PricedReservationSealer(kms, key_arn).seal("o-1", 2599, "USD")

    with pytest.raises(UnreadablePricedReservation, match="not sealed for this order"):
        PricedReservationOpener(kms, key_arn).total("o-2", sealed)


def test_a_payment_token_seal_does_not_open_as_a_priced_total_nor_the_other_way(
    kms: Any, key_arn: str
) -> None:
    # Same key, same format, another purpose: the data key's encryption context tells them apart.
    token_seal = PaymentTokenSealer(kms, key_arn)("o-1", '{"amount":1,"currency":"USD"}')
    total_seal = PricedReservationSealer(kms, key_arn).seal("o-1", 1, "USD")

    with pytest.raises(UnreadablePricedReservation, match="not made with its key for priced reservations"):
        PricedReservationOpener(kms, key_arn).total("o-1", token_seal)
    with pytest.raises(UnreadablePaymentToken, match="not made with its key for payment tokens"):
        PaymentTokenOpener(kms, key_arn)("o-1", total_seal)


@pytest.mark.parametrize(
    "content", ["not json", "[1]", '{"amount":-1,"currency":"USD"}', '{"amount":"1","currency":"USD"}', "{}"]
)
def test_a_seal_of_anything_but_a_total_is_unreadable(kms: Any, key_arn: str, content: str) -> None:
    # Only a sealer for priced reservations could have made it; what it sealed is still checked.
    sealed = PricedReservationSealer(kms, key_arn)("o-1", content)

    with pytest.raises(UnreadablePricedReservation, match="holds no amount and currency"):
        PricedReservationOpener(kms, key_arn).total("o-1", sealed)


def test_errors_name_what_was_sealed_and_never_quote_the_seal(kms: Any, key_arn: str) -> None:
    with pytest.raises(UnreadablePricedReservation) as raised:
        PricedReservationOpener(kms, key_arn).total("o-1", "bm90IGEgc2VhbA==")

    assert str(raised.value).startswith("the priced reservation is not sealed")
    assert "bm90IGEgc2VhbA==" not in str(raised.value)
