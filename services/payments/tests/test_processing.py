"""Charging an order, without AWS: the ledger decides what a delivery repeats."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from orderflow_shared.contracts import PaymentSucceeded, ProcessPayment
from orderflow_shared.contracts.orders import PaymentResult, ProcessPaymentData
from payments.errors import PaymentDeclined, PaymentProviderUnavailable, PaymentRequestRejected
from payments.model import SETTLED_STATUSES, Charge, ChargeRequest, PaymentRecord, PaymentStatus
from payments.processing import PaymentProcessor


class InMemoryLedger:
    """The PaymentLedger contract over a dict (the DynamoDB one is tested in test_ledger.py)."""

    def __init__(self) -> None:
        self.records: dict[str, PaymentRecord] = {}

    def begin_attempt(self, order_id: str, amount: int, currency: str) -> PaymentRecord:
        current = self.records.get(order_id)
        if current is not None and current.status in SETTLED_STATUSES:
            return current
        attempts = current.attempts + 1 if current else 1
        record = PaymentRecord(order_id, PaymentStatus.PENDING, attempts, amount, currency)
        if current:
            record = replace(current, status=PaymentStatus.PENDING, attempts=attempts)
        self.records[order_id] = record
        return record

    def record_succeeded(self, order_id: str, payment_id: str) -> PaymentRecord:
        current = self.records[order_id]
        record = replace(current, status=PaymentStatus.SUCCEEDED, payment_id=current.payment_id or payment_id)
        self.records[order_id] = record
        return record

    def record_announced(self, order_id: str) -> None:
        self.records[order_id] = replace(self.records[order_id], announced=True)

    def record_declined(self, order_id: str, reason: str) -> None:
        self.records[order_id] = replace(
            self.records[order_id], status=PaymentStatus.DECLINED, last_error=reason
        )

    def record_unavailable(self, order_id: str, reason: str) -> None:
        self.records[order_id] = replace(
            self.records[order_id], status=PaymentStatus.UNAVAILABLE, last_error=reason
        )


@dataclass
class ScriptedProvider:
    """Answers each charge with the next outcome: a charge id, or an exception to raise."""

    outcomes: list[str | Exception]
    requests: list[ChargeRequest] = field(default_factory=list)

    def charge(self, request: ChargeRequest) -> Charge:
        self.requests.append(request)
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        return Charge(charge_id=outcome)


@dataclass
class Bus:
    published: list[PaymentSucceeded] = field(default_factory=list)
    failures_left: int = 0

    def publish(self, event: PaymentSucceeded) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise RuntimeError("EventBridge rejected the entry")
        self.published.append(event)


def command(order_id: str = "o-1") -> ProcessPayment:
    data = ProcessPaymentData(customer_id="c-1", amount=2599, currency="EUR", payment_token="tok_visa")
    return ProcessPayment.create(order_id, data, task_token="task-1")


@pytest.fixture
def ledger() -> InMemoryLedger:
    return InMemoryLedger()


@pytest.fixture
def bus() -> Bus:
    return Bus()


def processor(ledger: InMemoryLedger, provider: ScriptedProvider, bus: Bus) -> PaymentProcessor:
    return PaymentProcessor(ledger=ledger, provider=provider, publish=bus.publish)


def test_a_charge_is_recorded_announced_and_answered(ledger: InMemoryLedger, bus: Bus) -> None:
    provider = ScriptedProvider(["ch_1"])

    result = processor(ledger, provider, bus).process(command())

    assert result == PaymentResult(payment_id="ch_1")
    [request] = provider.requests
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
    [event] = bus.published
    assert event.order_id == "o-1"
    assert (event.data.payment_id, event.data.amount, event.data.currency) == ("ch_1", 2599, "EUR")
    record = ledger.records["o-1"]
    assert (record.status, record.attempts, record.payment_id, record.announced) == (
        PaymentStatus.SUCCEEDED,
        1,
        "ch_1",
        True,
    )


def test_a_succeeded_payment_is_answered_again_without_charging_or_announcing(
    ledger: InMemoryLedger, bus: Bus
) -> None:
    provider = ScriptedProvider(["ch_1"])
    payments = processor(ledger, provider, bus)
    payments.process(command())

    again = payments.process(command())

    assert again == PaymentResult(payment_id="ch_1")
    assert len(provider.requests) == 1
    assert len(bus.published) == 1


def test_a_success_whose_announcement_failed_is_announced_on_redelivery_without_charging(
    ledger: InMemoryLedger,
) -> None:
    provider = ScriptedProvider(["ch_1"])
    bus = Bus(failures_left=1)
    payments = processor(ledger, provider, bus)
    with pytest.raises(RuntimeError):
        payments.process(command())
    assert ledger.records["o-1"].status is PaymentStatus.SUCCEEDED  # the money moved: recorded first

    result = payments.process(command())

    assert result == PaymentResult(payment_id="ch_1")
    assert [event.data.payment_id for event in bus.published] == ["ch_1"]
    assert len(provider.requests) == 1


def test_a_decline_is_recorded_and_repeated_without_asking_the_provider_again(
    ledger: InMemoryLedger, bus: Bus
) -> None:
    provider = ScriptedProvider([PaymentDeclined("Your card was declined. (card_declined)")])
    payments = processor(ledger, provider, bus)
    with pytest.raises(PaymentDeclined):
        payments.process(command())

    with pytest.raises(PaymentDeclined, match=r"Your card was declined\. \(card_declined\)"):
        payments.process(command())

    assert len(provider.requests) == 1
    assert ledger.records["o-1"].status is PaymentStatus.DECLINED
    assert bus.published == []


def test_an_outage_is_recorded_and_the_next_attempt_asks_the_provider_again(
    ledger: InMemoryLedger, bus: Bus
) -> None:
    provider = ScriptedProvider([PaymentProviderUnavailable("HTTP 503"), "ch_1"])
    payments = processor(ledger, provider, bus)
    with pytest.raises(PaymentProviderUnavailable):
        payments.process(command())
    outage = ledger.records["o-1"]
    assert (outage.status, outage.attempts, outage.last_error) == (PaymentStatus.UNAVAILABLE, 1, "HTTP 503")

    result = payments.process(command())

    assert result == PaymentResult(payment_id="ch_1")
    assert ledger.records["o-1"].attempts == 2
    assert [r.idempotency_key for r in provider.requests] == ["order-o-1-charge", "order-o-1-charge"]


def test_a_rejected_request_propagates_and_leaves_the_payment_pending(
    ledger: InMemoryLedger, bus: Bus
) -> None:
    provider = ScriptedProvider([PaymentRequestRejected(401, "invalid_request_error", None, "req_1")])

    with pytest.raises(PaymentRequestRejected):
        processor(ledger, provider, bus).process(command())

    assert ledger.records["o-1"].status is PaymentStatus.PENDING
    assert bus.published == []


def test_each_order_has_its_own_idempotency_key(ledger: InMemoryLedger, bus: Bus) -> None:
    provider = ScriptedProvider(["ch_1", "ch_2"])
    payments = processor(ledger, provider, bus)

    payments.process(command("o-1"))
    payments.process(command("o-2"))

    assert [r.idempotency_key for r in provider.requests] == ["order-o-1-charge", "order-o-2-charge"]
