"""Charging an order: the ledger (DynamoDB, in moto) decides what a delivery repeats, and a fence
decides that nothing may be charged any more."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from orderflow_shared.aws import dynamodb_table
from orderflow_shared.contracts import PaymentRefunded, PaymentSucceeded, ProcessPayment
from orderflow_shared.contracts.orders import PaymentResult
from orderflow_shared.task_token import TaskFailure
from payments.errors import (
    ChargeInProgress,
    ChargeOutcomeUnknown,
    PaymentCancelled,
    PaymentDeclined,
    PaymentProviderUnavailable,
    PaymentRequestRejected,
)
from payments.ledger import DynamoDbPaymentLedger
from payments.model import PaymentRecord, PaymentStatus
from payments.processing import PaymentProcessor
from payments.reconciliation import PaymentReconciler

from .conftest import PAYMENTS_TABLE, payment_command
from .doubles import Bus, FakeClock, ScriptedProvider

pytestmark = pytest.mark.usefixtures("aws")

REASON = "Your payment could not be processed."


def command(order_id: str = "o-1") -> ProcessPayment:
    return payment_command(order_id, currency="EUR")


@dataclass
class Payments:
    ledger: DynamoDbPaymentLedger
    provider: ScriptedProvider
    bus: Bus
    reconciler: PaymentReconciler
    processor: PaymentProcessor

    def record(self, order_id: str = "o-1") -> PaymentRecord:
        record = self.ledger.get(order_id)
        assert record is not None
        return record


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make(clock: FakeClock) -> Callable[..., Payments]:
    def build(*outcomes: str | Exception, ledger: Any = None) -> Payments:
        real = DynamoDbPaymentLedger(dynamodb_table(PAYMENTS_TABLE), clock=clock.iso)
        provider, bus = ScriptedProvider(list(outcomes)), Bus()
        reconciler = PaymentReconciler(real, provider, bus.publish, now=clock.now)
        # Verification has its own tests (test_verification.py): these commands are all genuine.
        processor = PaymentProcessor(
            ledger or real, provider, bus.publish, reconciler.reconcile, verify=lambda c: c.data.payment_token
        )
        return Payments(real, provider, bus, reconciler, processor)

    return build


# --- the happy path and its repetitions ----------------------------------------------------------


def test_a_charge_is_recorded_announced_and_answered(make: Callable[..., Payments]) -> None:
    payments = make("ch_1")

    result = payments.processor.process(command())

    assert result == PaymentResult(payment_id="ch_1")
    [request] = payments.provider.requests
    assert (
        request.order_id,
        request.customer_id,
        request.amount,
        request.currency,
        request.payment_token,
    ) == (
        "o-1",
        "c-1",
        2599,
        "EUR",
        "tok_visa",
    )
    [event] = payments.bus.of_type(PaymentSucceeded)
    assert (event.order_id, event.data.payment_id, event.data.amount, event.data.currency) == (
        "o-1",
        "ch_1",
        2599,
        "EUR",
    )
    assert event.metadata.event_id == PaymentSucceeded.stable_event_id("o-1")
    record = payments.record()
    assert (record.status, record.attempts, record.attempts_ended, record.payment_id) == (
        PaymentStatus.SUCCEEDED,
        1,
        1,
        "ch_1",
    )
    assert event.metadata.occurred_at.isoformat() == record.succeeded_at


def test_a_succeeded_payment_is_answered_and_announced_again_as_the_same_event_without_charging(
    make: Callable[..., Payments], clock: FakeClock
) -> None:
    payments = make("ch_1")
    payments.processor.process(command())
    clock.advance(timedelta(minutes=5))

    again = payments.processor.process(command())

    assert again == PaymentResult(payment_id="ch_1")
    assert len(payments.provider.requests) == 1
    first, repeated = payments.bus.of_type(PaymentSucceeded)
    assert first == repeated


def test_a_success_whose_announcement_failed_is_announced_on_redelivery_without_charging(
    make: Callable[..., Payments],
) -> None:
    payments = make("ch_1")
    payments.bus.failures_left = 1
    with pytest.raises(RuntimeError):
        payments.processor.process(command())
    assert payments.record().status is PaymentStatus.SUCCEEDED  # the money moved: recorded first

    result = payments.processor.process(command())

    assert result == PaymentResult(payment_id="ch_1")
    assert [e.data.payment_id for e in payments.bus.of_type(PaymentSucceeded)] == ["ch_1"]
    assert len(payments.provider.requests) == 1


def test_a_decline_is_recorded_and_repeated_without_asking_the_provider_again(
    make: Callable[..., Payments],
) -> None:
    payments = make(PaymentDeclined("Your card was declined. (card_declined)"))
    with pytest.raises(PaymentDeclined):
        payments.processor.process(command())

    with pytest.raises(PaymentDeclined, match=r"Your card was declined\. \(card_declined\)"):
        payments.processor.process(command())

    assert len(payments.provider.requests) == 1
    assert (payments.record().status, payments.record().declined) == (PaymentStatus.DECLINED, True)
    assert payments.bus.published == []


def test_an_outage_is_recorded_and_the_next_attempt_asks_the_provider_again_with_the_same_key(
    make: Callable[..., Payments],
) -> None:
    payments = make(PaymentProviderUnavailable("HTTP 503"), "ch_1")
    with pytest.raises(PaymentProviderUnavailable):
        payments.processor.process(command())
    outage = payments.record()
    assert (outage.status, outage.attempts, outage.last_error) == (PaymentStatus.UNAVAILABLE, 1, "HTTP 503")
    assert not outage.outcome_unknown

    result = payments.processor.process(command())

    assert result == PaymentResult(payment_id="ch_1")
    assert payments.record().attempts == 2
    assert [r.idempotency_key for r in payments.provider.requests] == ["order-o-1-charge", "order-o-1-charge"]


def test_a_rejected_request_propagates_ends_the_attempt_and_leaves_the_payment_pending(
    make: Callable[..., Payments],
) -> None:
    payments = make(PaymentRequestRejected(401, "invalid_request_error", None, "req_1"))

    with pytest.raises(PaymentRequestRejected):
        payments.processor.process(command())

    record = payments.record()
    assert (record.status, record.attempts_ended) == (PaymentStatus.PENDING, 1)
    assert "HTTP 401" in (record.last_error or "")
    assert record.charge_outcome_known  # a rejected request charged nothing
    assert payments.bus.published == []


def test_each_order_has_its_own_idempotency_key(make: Callable[..., Payments]) -> None:
    payments = make("ch_1", "ch_2")

    payments.processor.process(command("o-1"))
    payments.processor.process(command("o-2"))

    assert [r.idempotency_key for r in payments.provider.requests] == ["order-o-1-charge", "order-o-2-charge"]


# --- answers that are not outcomes ---------------------------------------------------------------


def test_a_key_in_use_records_nothing_final_and_is_not_an_answer(make: Callable[..., Payments]) -> None:
    payments = make(ChargeInProgress("HTTP 409"))

    with pytest.raises(ChargeInProgress) as busy:
        payments.processor.process(command())

    assert not isinstance(busy.value, TaskFailure)  # the handler must not answer the workflow with it
    record = payments.record()
    assert (record.status, record.last_error, record.attempts, record.attempts_ended) == (
        PaymentStatus.PENDING,
        None,
        1,
        1,
    )
    assert payments.bus.published == []


def test_an_unknown_outcome_answers_unavailable_and_is_remembered(make: Callable[..., Payments]) -> None:
    payments = make(ChargeOutcomeUnknown("HTTP 500 and no charge found"))

    with pytest.raises(PaymentProviderUnavailable) as unavailable:
        payments.processor.process(command())

    assert unavailable.value.error == "PaymentProviderUnavailable"  # the workflow retries it
    record = payments.record()
    assert (record.status, record.outcome_unknown) == (PaymentStatus.UNAVAILABLE, True)
    assert not record.charge_outcome_known


# --- the fence -----------------------------------------------------------------------------------


def test_a_fence_before_any_attempt_refuses_to_charge(make: Callable[..., Payments]) -> None:
    payments = make("ch_1")
    payments.reconciler.fence("o-1", REASON)

    with pytest.raises(PaymentCancelled) as cancelled:
        payments.processor.process(command())

    assert cancelled.value.error == "PaymentCancelled"
    assert payments.provider.requests == []
    record = payments.record()
    assert (record.status, record.attempts) == (PaymentStatus.CANCELLED, 0)
    assert payments.bus.published == []


def test_a_fence_during_the_charge_makes_the_charging_delivery_refund_at_once(
    make: Callable[..., Payments],
) -> None:
    payments = make("ch_1")
    payments.provider.during_charge = lambda: payments.reconciler.fence("o-1", REASON)

    with pytest.raises(PaymentCancelled):
        payments.processor.process(command())

    assert payments.provider.refunded == ["ch_1"]
    assert payments.provider.refund_calls[0][1] == "order-o-1-refund-ch_1"
    [refunded] = payments.bus.of_type(PaymentRefunded)
    assert (refunded.data.payment_id, refunded.data.amount, refunded.data.reason) == ("ch_1", 2599, REASON)
    assert payments.bus.of_type(PaymentSucceeded) == []  # the order failed: it was never "paid"
    record = payments.record()
    assert (record.status, record.payment_id, record.reconcile_due) == (PaymentStatus.CANCELLED, "ch_1", None)
    assert record.refunds["ch_1"].announced


def test_the_fence_during_a_charge_keeps_the_payment_due_until_the_charge_lands(
    make: Callable[..., Payments],
) -> None:
    payments = make("ch_1")
    seen_by_fence: list[PaymentRecord] = []

    def fence_meanwhile() -> None:
        payments.reconciler.fence("o-1", REASON)
        seen_by_fence.append(payments.record())

    payments.provider.during_charge = fence_meanwhile
    with pytest.raises(PaymentCancelled):
        payments.processor.process(command())

    assert seen_by_fence[0].reconcile_due is not None  # the attempt was open: a charge could follow
    assert payments.record().reconcile_due is None  # it did, and was refunded: nothing left unknown


def test_a_charge_recorded_before_the_fence_is_refunded_by_it_and_never_charged_again(
    make: Callable[..., Payments],
) -> None:
    payments = make("ch_1")
    payments.processor.process(command())

    payments.reconciler.fence("o-1", REASON)
    with pytest.raises(PaymentCancelled):
        payments.processor.process(command())

    assert payments.provider.refunded == ["ch_1"]
    assert len(payments.provider.requests) == 1
    assert len(payments.bus.of_type(PaymentRefunded)) == 1


@dataclass
class CrashingLedger:
    """The ledger of a delivery that dies right after the provider charged."""

    ledger: DynamoDbPaymentLedger

    def __getattr__(self, name: str) -> Any:
        return getattr(self.ledger, name)

    def record_succeeded(self, order_id: str, payment_id: str) -> PaymentRecord:
        raise SystemExit("the function was killed")


def test_a_crash_after_charging_is_answered_by_the_redelivery_with_the_same_charge(
    make: Callable[..., Payments],
) -> None:
    crashed = make("ch_1")
    with pytest.raises(SystemExit):
        make("ch_1", ledger=CrashingLedger(crashed.ledger)).processor.process(command())
    redelivery = make("ch_1")  # the provider replays the key's saved charge

    result = redelivery.processor.process(command())

    assert result == PaymentResult(payment_id="ch_1")
    record = redelivery.record()
    assert (record.status, record.attempts, record.attempts_ended) == (PaymentStatus.SUCCEEDED, 2, 1)
    assert [r.idempotency_key for r in redelivery.provider.requests] == ["order-o-1-charge"]


def test_a_crash_after_charging_then_a_fence_refunds_the_charge_the_ledger_never_saw(
    make: Callable[..., Payments],
) -> None:
    payments = make("ch_1", ledger=None)
    with pytest.raises(SystemExit):
        make("ch_1", ledger=CrashingLedger(payments.ledger)).processor.process(command())
    payments.provider.made_charge("ch_1")  # what the crashed delivery's provider call did

    payments.reconciler.fence("o-1", REASON)

    assert payments.provider.refunded == ["ch_1"]
    assert payments.record().reconcile_due is None
    with pytest.raises(PaymentCancelled):
        payments.processor.process(command())  # a redelivery reconciles again: nothing new to refund
    assert payments.provider.refunded == ["ch_1"]
    assert len(payments.bus.of_type(PaymentRefunded)) == 1
