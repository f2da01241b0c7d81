"""The Payments table's conditional writes, in moto: a settled payment never moves back."""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest

from orderflow_shared.aws import dynamodb_table
from payments.ledger import DynamoDbPaymentLedger
from payments.model import PaymentStatus

from .conftest import PAYMENTS_TABLE

pytestmark = pytest.mark.usefixtures("aws")


@pytest.fixture
def ledger() -> DynamoDbPaymentLedger:
    ticks = count(1)
    return DynamoDbPaymentLedger(dynamodb_table(PAYMENTS_TABLE), clock=lambda: f"t{next(ticks)}")


def stored(order_id: str = "o-1") -> dict[str, Any]:
    item: dict[str, Any] = dynamodb_table(PAYMENTS_TABLE).get_item(Key={"orderId": order_id})["Item"]
    return item


def test_each_attempt_is_counted_and_the_first_one_dates_the_payment(ledger: DynamoDbPaymentLedger) -> None:
    first = ledger.begin_attempt("o-1", 2599, "USD")
    second = ledger.begin_attempt("o-1", 2599, "USD")

    assert (first.status, first.attempts, first.amount, first.currency) == (
        PaymentStatus.PENDING,
        1,
        2599,
        "USD",
    )
    assert second.attempts == 2
    assert (stored()["createdAt"], stored()["updatedAt"]) == ("t1", "t2")


def test_a_succeeded_payment_is_returned_unchanged_by_a_new_attempt(ledger: DynamoDbPaymentLedger) -> None:
    ledger.begin_attempt("o-1", 2599, "USD")
    ledger.record_succeeded("o-1", "ch_1")

    again = ledger.begin_attempt("o-1", 2599, "USD")

    assert (again.status, again.attempts, again.payment_id) == (PaymentStatus.SUCCEEDED, 1, "ch_1")


def test_a_declined_payment_is_returned_with_its_reason_by_a_new_attempt(
    ledger: DynamoDbPaymentLedger,
) -> None:
    ledger.begin_attempt("o-1", 2599, "USD")
    ledger.record_declined("o-1", "Your card was declined. (card_declined)")

    again = ledger.begin_attempt("o-1", 2599, "USD")

    assert (again.status, again.attempts) == (PaymentStatus.DECLINED, 1)
    assert again.last_error == "Your card was declined. (card_declined)"


def test_an_unavailable_payment_can_be_attempted_again(ledger: DynamoDbPaymentLedger) -> None:
    ledger.begin_attempt("o-1", 2599, "USD")
    ledger.record_unavailable("o-1", "HTTP 503")

    again = ledger.begin_attempt("o-1", 2599, "USD")

    assert (again.status, again.attempts, again.last_error) == (PaymentStatus.PENDING, 2, "HTTP 503")


def test_a_late_failure_does_not_overwrite_a_success(ledger: DynamoDbPaymentLedger) -> None:
    ledger.begin_attempt("o-1", 2599, "USD")
    ledger.record_succeeded("o-1", "ch_1")

    ledger.record_unavailable("o-1", "HTTP 409")
    ledger.record_declined("o-1", "declined")

    assert (stored()["status"], stored()["paymentId"]) == ("SUCCEEDED", "ch_1")


def test_the_first_charge_id_recorded_is_kept(ledger: DynamoDbPaymentLedger) -> None:
    ledger.begin_attempt("o-1", 2599, "USD")
    ledger.record_succeeded("o-1", "ch_1")

    record = ledger.record_succeeded("o-1", "ch_2")

    assert record.payment_id == "ch_1"


def test_announcing_is_recorded(ledger: DynamoDbPaymentLedger) -> None:
    ledger.begin_attempt("o-1", 2599, "USD")
    assert not ledger.record_succeeded("o-1", "ch_1").announced

    ledger.record_announced("o-1")

    assert ledger.begin_attempt("o-1", 2599, "USD").announced
