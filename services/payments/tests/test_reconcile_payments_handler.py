"""ReconcilePaymentsFunction in moto, against the local payment provider: each schedule tick
refunds the charges found for failed orders whose charge outcome was unknown."""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from orderflow_devtools.testing import (
    FakeLambdaContext,
    PublishedEvents,
    WorkflowAnswers,
    scheduled_event,
    sqs_event,
)
from orderflow_local.payment_provider import PaymentProviderServer
from orderflow_shared.contracts import OrderFailed, PaymentRefunded
from orderflow_shared.contracts.orders import OrderFailureData
from orderflow_shared.contracts.values import Customer
from payments.errors import PaymentProviderUnavailable
from payments.handlers import process_payment, reconcile_payments, refund_failed_orders, wiring
from payments.reconciliation import instant

from .conftest import READ_TIMEOUT_SECONDS, SLOW_ANSWER_SECONDS, payment_command, sealed_and_priced

TICK = sqs_event(scheduled_event("orderflow-payments-ReconcilePaymentsSchedule"))

pytestmark = [pytest.mark.enable_socket, pytest.mark.usefixtures("aws", "provider", "published", "workflow")]


@dataclass
class LambdaContext(FakeLambdaContext):
    remaining_millis: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_millis


def unknown_then_failed(order_id: str) -> None:
    """A charge the adapter gave up on while the provider was still making it; then the order failed."""
    process_payment.handler(
        sqs_event(
            sealed_and_priced(payment_command(order_id, payment_token="tok_slow_charge", task_token="t"))
        ),
        FakeLambdaContext(),
    )
    failure = OrderFailureData(customer=Customer(id="c-1", email="a@example.com"), error="X", reason="failed")
    refund_failed_orders.handler(sqs_event(OrderFailed.create(order_id, failure)), FakeLambdaContext())


def due_now(order_id: str) -> None:
    wiring.ledger().schedule_reconcile(order_id, instant(datetime.now(UTC) - timedelta(seconds=1)))


def test_a_tick_refunds_a_charge_that_landed_after_its_order_failed(
    provider: PaymentProviderServer, published: PublishedEvents
) -> None:
    unknown_then_failed("o-1")
    assert provider.ledger("o-1")["charges"] == []
    time.sleep(SLOW_ANSWER_SECONDS - READ_TIMEOUT_SECONDS + 0.2)  # the provider completes the charge
    assert provider.ledger("o-1")["netAmount"] == 2599
    due_now("o-1")

    response = reconcile_payments.handler(TICK, LambdaContext())

    assert response == {"batchItemFailures": []}
    assert provider.ledger("o-1")["netAmount"] == 0
    assert [e.order_id for e in published.of_type(PaymentRefunded)] == ["o-1"]
    record = wiring.ledger().get("o-1")
    assert record is not None
    assert record.reconcile_due is None


def test_a_tick_leaves_payments_not_yet_due_alone(
    provider: PaymentProviderServer, published: PublishedEvents
) -> None:
    unknown_then_failed("o-1")
    time.sleep(SLOW_ANSWER_SECONDS - READ_TIMEOUT_SECONDS + 0.2)

    reconcile_payments.handler(TICK, LambdaContext())

    assert provider.ledger("o-1")["netAmount"] == 2599  # due in five minutes, not now
    assert published.of_type(PaymentRefunded) == []


def test_a_tick_with_little_time_left_starts_nothing(provider: PaymentProviderServer) -> None:
    unknown_then_failed("o-1")
    time.sleep(SLOW_ANSWER_SECONDS - READ_TIMEOUT_SECONDS + 0.2)
    due_now("o-1")

    reconcile_payments.handler(
        TICK,
        LambdaContext(remaining_millis=reconcile_payments.RESERVED_MILLIS - 1),
    )

    assert provider.ledger("o-1")["netAmount"] == 2599


def test_a_payment_that_cannot_be_reconciled_fails_the_tick_after_the_others_are_done(
    provider: PaymentProviderServer, published: PublishedEvents, monkeypatch: pytest.MonkeyPatch
) -> None:
    for order_id in ("o-1", "o-2"):
        unknown_then_failed(order_id)
    time.sleep(SLOW_ANSWER_SECONDS - READ_TIMEOUT_SECONDS + 0.2)
    for order_id in ("o-1", "o-2"):
        due_now(order_id)
    real_search = wiring.provider().find_charges

    def search_failing_for_o1(order_id: str) -> Any:
        if order_id == "o-1":
            raise PaymentProviderUnavailable("HTTP 503")
        return real_search(order_id)

    monkeypatch.setattr(wiring.provider(), "find_charges", search_failing_for_o1)

    with pytest.raises(BatchProcessingError, match="All records failed"):
        reconcile_payments.handler(TICK, LambdaContext())

    assert [e.order_id for e in published.of_type(PaymentRefunded)] == ["o-2"]
    record = wiring.ledger().get("o-1")
    assert record is not None
    assert record.reconcile_due is not None


def test_anything_but_a_schedule_tick_is_refused(workflow: WorkflowAnswers) -> None:
    data = OrderFailureData(customer=Customer(id="c-1", email="a@example.com"), error="X", reason="failed")

    with pytest.raises(BatchProcessingError, match="All records failed"):
        reconcile_payments.handler(sqs_event(OrderFailed.create("o-1", data)), LambdaContext())
