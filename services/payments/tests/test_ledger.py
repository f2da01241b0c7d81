"""The Payments table's conditional writes, in moto: a settled payment never moves back, and no
attempt starts once the payment is fenced."""

from __future__ import annotations

from itertools import count
from typing import Any

import pytest

from orderflow_shared.aws import dynamodb_table
from payments.ledger import DynamoDbPaymentLedger
from payments.model import PaymentStatus, Refund, RefundRecord

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


def test_the_time_of_the_first_success_is_kept(ledger: DynamoDbPaymentLedger) -> None:
    ledger.begin_attempt("o-1", 2599, "USD")
    succeeded_at = ledger.record_succeeded("o-1", "ch_1").succeeded_at
    assert succeeded_at is not None

    assert ledger.record_succeeded("o-1", "ch_1").succeeded_at == succeeded_at
    assert ledger.begin_attempt("o-1", 2599, "USD").succeeded_at == succeeded_at


# --- how attempts end: what decides whether a charge may exist ----------------------------------


def test_every_way_an_attempt_ends_is_counted(ledger: DynamoDbPaymentLedger) -> None:
    for _ in range(4):
        ledger.begin_attempt("o-1", 2599, "USD")

    ledger.record_unavailable("o-1", "HTTP 503")
    ledger.record_key_busy("o-1")
    ledger.record_rejected("o-1", "HTTP 401")
    record = ledger.get("o-1")
    assert record is not None
    assert (record.attempts, record.attempts_ended, record.charge_outcome_known) == (4, 3, False)

    ledger.record_unavailable("o-1", "HTTP 503")

    record = ledger.get("o-1")
    assert record is not None
    assert (record.attempts_ended, record.charge_outcome_known) == (4, True)
    assert stored()["lastAttemptAt"] == "t4"


def test_an_attempt_that_lost_its_answer_leaves_the_outcome_unknown_for_good(
    ledger: DynamoDbPaymentLedger,
) -> None:
    ledger.begin_attempt("o-1", 2599, "USD")
    ledger.record_unavailable("o-1", "timeout, nothing found", outcome_unknown=True)
    ledger.begin_attempt("o-1", 2599, "USD")
    ledger.record_unavailable("o-1", "HTTP 503")  # says nothing about the first attempt's charge

    record = ledger.get("o-1")

    assert record is not None
    assert (record.status, record.outcome_unknown, record.charge_outcome_known) == (
        PaymentStatus.UNAVAILABLE,
        True,
        False,
    )


def test_a_charge_id_or_a_decline_makes_the_outcome_known(ledger: DynamoDbPaymentLedger) -> None:
    ledger.begin_attempt("o-1", 2599, "USD")
    ledger.record_unavailable("o-1", "lost", outcome_unknown=True)
    ledger.begin_attempt("o-1", 2599, "USD")
    ledger.begin_attempt("o-2", 2599, "USD")

    assert ledger.record_succeeded("o-1", "ch_1").charge_outcome_known
    ledger.record_declined("o-2", "declined")
    declined = ledger.get("o-2")
    assert declined is not None
    assert declined.declined
    assert declined.charge_outcome_known


def test_get_answers_none_for_an_order_never_seen(ledger: DynamoDbPaymentLedger) -> None:
    assert ledger.get("o-unknown") is None


# --- the fence ----------------------------------------------------------------------------------


def test_a_fence_before_any_attempt_creates_the_payment_cancelled_and_due(
    ledger: DynamoDbPaymentLedger,
) -> None:
    record = ledger.cancel("o-1", "Out of stock", reconcile_due="2026-05-14T09:35:00.000000+00:00")

    assert (record.status, record.attempts, record.amount, record.currency) == (
        PaymentStatus.CANCELLED,
        0,
        None,
        None,
    )
    assert (record.cancel_reason, record.refunds, record.reconcile_due) == (
        "Out of stock",
        {},
        "2026-05-14T09:35:00.000000+00:00",
    )
    assert stored()["reconcileShard"] == "due"


def test_no_attempt_starts_once_the_payment_is_cancelled(ledger: DynamoDbPaymentLedger) -> None:
    ledger.begin_attempt("o-1", 2599, "USD")
    ledger.cancel("o-1", "failed", reconcile_due="d")

    again = ledger.begin_attempt("o-1", 2599, "USD")

    assert (again.status, again.attempts) == (PaymentStatus.CANCELLED, 1)


def test_the_fence_overrides_a_success_and_keeps_the_first_reason(ledger: DynamoDbPaymentLedger) -> None:
    ledger.begin_attempt("o-1", 2599, "USD")
    ledger.record_succeeded("o-1", "ch_1")

    ledger.cancel("o-1", "first reason", reconcile_due="d")
    record = ledger.cancel("o-1", "second reason", reconcile_due="d")

    assert (record.status, record.payment_id, record.cancel_reason) == (
        PaymentStatus.CANCELLED,
        "ch_1",
        "first reason",
    )


def test_a_charge_landing_on_a_cancelled_payment_keeps_its_id_but_not_its_status(
    ledger: DynamoDbPaymentLedger,
) -> None:
    ledger.begin_attempt("o-1", 2599, "USD")
    ledger.cancel("o-1", "failed", reconcile_due="d")

    record = ledger.record_succeeded("o-1", "ch_1")

    assert (record.status, record.payment_id, record.attempts_ended) == (PaymentStatus.CANCELLED, "ch_1", 1)
    assert "succeededAt" not in stored()


@pytest.mark.parametrize(
    "end",
    [
        lambda ledger: ledger.record_declined("o-1", "declined"),
        lambda ledger: ledger.record_unavailable("o-1", "lost", outcome_unknown=True),
    ],
    ids=["declined", "unknown"],
)
def test_a_failure_landing_on_a_cancelled_payment_still_counts_how_the_attempt_ended(
    ledger: DynamoDbPaymentLedger, end: Any
) -> None:
    ledger.begin_attempt("o-1", 2599, "USD")
    ledger.cancel("o-1", "failed", reconcile_due="d")

    end(ledger)

    record = ledger.get("o-1")
    assert record is not None
    assert (record.status, record.attempts_ended) == (PaymentStatus.CANCELLED, 1)
    assert record.declined or record.outcome_unknown


# --- refunds ------------------------------------------------------------------------------------


def test_a_refund_is_recorded_once_per_charge_and_announced_once(ledger: DynamoDbPaymentLedger) -> None:
    ledger.cancel("o-1", "failed", reconcile_due="d")

    first = ledger.record_refund("o-1", Refund("re_1", "ch_1", 2599, "USD"))
    again = ledger.record_refund("o-1", Refund("re_2", "ch_1", 2599, "USD"))
    ledger.record_refund_announced("o-1", "ch_1")
    announced_at = stored()["refunds"]["ch_1"]["announcedAt"]
    ledger.record_refund_announced("o-1", "ch_1")

    assert first == again == RefundRecord("re_1", 2599, "USD", announced=False)
    record = ledger.get("o-1")
    assert record is not None
    assert record.refunds == {"ch_1": RefundRecord("re_1", 2599, "USD", announced=True)}
    assert stored()["refunds"]["ch_1"]["announcedAt"] == announced_at  # the first announcement stays


# --- reconciliation schedule --------------------------------------------------------------------


def test_only_payments_due_by_now_are_listed_oldest_first(ledger: DynamoDbPaymentLedger) -> None:
    ledger.cancel("o-late", "failed", reconcile_due="2026-05-14T10:00:00.000000+00:00")
    ledger.cancel("o-due", "failed", reconcile_due="2026-05-14T09:35:00.000000+00:00")
    ledger.cancel("o-older", "failed", reconcile_due="2026-05-14T09:31:00.000000+00:00")
    ledger.cancel("o-cleared", "failed", reconcile_due="2026-05-14T09:31:00.000000+00:00")
    ledger.clear_reconcile("o-cleared")
    ledger.begin_attempt("o-paid", 2599, "USD")

    due = ledger.due_for_reconcile("2026-05-14T09:40:00.000000+00:00", limit=10)

    assert due == ["o-older", "o-due"]
    assert ledger.due_for_reconcile("2026-05-14T09:40:00.000000+00:00", limit=1) == ["o-older"]
    assert "reconcileShard" not in stored("o-cleared")


def test_scheduling_moves_the_due_time(ledger: DynamoDbPaymentLedger) -> None:
    ledger.cancel("o-1", "failed", reconcile_due="2026-05-14T09:35:00.000000+00:00")

    ledger.schedule_reconcile("o-1", "2026-05-14T11:00:00.000000+00:00")

    assert ledger.due_for_reconcile("2026-05-14T10:00:00.000000+00:00", limit=10) == []
    assert ledger.due_for_reconcile("2026-05-14T11:00:00.000000+00:00", limit=10) == ["o-1"]
