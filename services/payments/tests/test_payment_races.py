"""Races and lost answers, end to end inside payments: the real handlers in moto, the real adapter,
the local provider over HTTP. What G1 asks: at most one charge per order, and a failed order's net
charge is zero, by the provider's own books."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from orderflow_devtools.testing import FakeLambdaContext, PublishedEvents, WorkflowAnswers, sqs_event
from orderflow_local.payment_provider import PaymentProviderServer
from orderflow_shared.contracts import OrderFailed, OrderPaymentFailed, PaymentRefunded, PaymentSucceeded
from orderflow_shared.contracts.orders import (
    OrderFailureData,
    PaymentResult,
    ProcessPayment,
)
from orderflow_shared.contracts.values import Customer
from payments.errors import PaymentProviderUnavailable
from payments.handlers import process_payment, refund_failed_orders, wiring
from payments.ledger import DynamoDbPaymentLedger
from payments.model import PaymentRecord, PaymentStatus

from .conftest import READ_TIMEOUT_SECONDS, SLOW_ANSWER_SECONDS, payment_command, sealed_and_priced

pytestmark = [pytest.mark.enable_socket, pytest.mark.usefixtures("aws", "provider", "published")]

ORDER_ID = "o-1"
CHARGE_KEY = f"order-{ORDER_ID}-charge"
REASON = "Your payment could not be processed."


FIRST_TASK = "task-1"


def command(payment_token: str, task_token: str = FIRST_TASK) -> ProcessPayment:
    return sealed_and_priced(payment_command(ORDER_ID, payment_token=payment_token, task_token=task_token))


def failure(
    model: type[OrderFailed] | type[OrderPaymentFailed] = OrderFailed,
) -> OrderFailed | OrderPaymentFailed:
    data = OrderFailureData(customer=Customer(id="c-1", email="ana@example.com"), error="X", reason=REASON)
    return model.create(ORDER_ID, data)


def charge(cmd: ProcessPayment) -> dict[str, Any]:
    return process_payment.handler(sqs_event(cmd), FakeLambdaContext())


def fail_order(event: OrderFailed | OrderPaymentFailed | None = None) -> dict[str, Any]:
    return refund_failed_orders.handler(sqs_event(event or failure()), FakeLambdaContext())


def record() -> PaymentRecord:
    found = wiring.ledger().get(ORDER_ID)
    assert found is not None
    return found


def reaches_the_provider(provider: PaymentProviderServer) -> None:
    """Waits until the charge running in another thread is executing at the provider."""
    deadline = time.monotonic() + 5
    while provider.attempts(CHARGE_KEY) == 0:
        assert time.monotonic() < deadline, "the charge never reached the provider"
        time.sleep(0.01)


def succeeded_charges(provider: PaymentProviderServer) -> list[dict[str, Any]]:
    return [c for c in provider.ledger(ORDER_ID)["charges"] if c["status"] == "succeeded"]


# --- lost answers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "token", ["tok_error_after_charge", "tok_dropped_after_charge", "tok_timeout_after_charge"]
)
def test_a_charge_whose_answer_was_lost_is_found_and_answered(
    token: str, provider: PaymentProviderServer, workflow: WorkflowAnswers, published: PublishedEvents
) -> None:
    assert charge(command(token)) == {"batchItemFailures": []}

    [made] = succeeded_charges(provider)
    assert PaymentResult.model_validate(workflow.successes["task-1"]).payment_id == made["id"]
    [event] = published.of_type(PaymentSucceeded)
    assert event.data.payment_id == made["id"]
    assert (record().status, record().payment_id) == (PaymentStatus.SUCCEEDED, made["id"])


def test_a_poisoned_key_fails_the_payment_and_never_charges_with_another_key(
    provider: PaymentProviderServer, workflow: WorkflowAnswers
) -> None:
    charge(command("tok_error_before_charge", task_token="task-1"))
    charge(command("tok_error_before_charge", task_token="task-2"))  # the workflow's retry

    assert workflow.failures["task-1"][0] == workflow.failures["task-2"][0] == "PaymentProviderUnavailable"
    assert provider.attempts(CHARGE_KEY) == 2
    assert provider.ledger(ORDER_ID)["charges"] == []
    assert (record().status, record().outcome_unknown) == (PaymentStatus.UNAVAILABLE, True)


def test_a_failed_order_whose_charge_outcome_stays_unknown_is_kept_due(
    provider: PaymentProviderServer, published: PublishedEvents
) -> None:
    charge(command("tok_error_before_charge"))

    assert fail_order(failure(OrderPaymentFailed)) == {"batchItemFailures": []}

    assert record().status is PaymentStatus.CANCELLED
    assert record().reconcile_due is not None
    assert published.of_type(PaymentRefunded) == []


# --- concurrent deliveries ---------------------------------------------------------------------


def test_a_concurrent_delivery_that_meets_the_key_in_use_answers_nothing_and_comes_back(
    provider: PaymentProviderServer,
    workflow: WorkflowAnswers,
    published: PublishedEvents,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAYMENT_PROVIDER_READ_TIMEOUT_SECONDS", str(SLOW_ANSWER_SECONDS * 4))
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The first delivery, in another container (the batch processor of one is not shared).
        first = pool.submit(process_payment.on_process_payment, command("tok_slow_charge"))
        reaches_the_provider(provider)
        # The only record of the batch failed: the invocation fails, and SQS redelivers it later.
        with pytest.raises(BatchProcessingError, match="ChargeInProgress"):
            charge(command("tok_slow_charge"))
        assert (workflow.successes, workflow.failures) == ({}, {})  # not an answer, nor a fault
        first.result()

    assert workflow.failures == {}
    [made] = succeeded_charges(provider)
    assert PaymentResult.model_validate(workflow.successes["task-1"]).payment_id == made["id"]
    record_after = record()
    assert (record_after.attempts, record_after.attempts_ended, record_after.last_error) == (2, 2, None)

    workflow.closed_tokens.add("task-1")  # the first delivery's answer closed the task
    assert charge(command("tok_slow_charge")) == {"batchItemFailures": []}
    assert provider.attempts(CHARGE_KEY) == 2
    assert len(published.of_type(PaymentSucceeded)) == 1


# --- the fence ---------------------------------------------------------------------------------


def test_a_payment_fenced_before_its_first_attempt_is_never_charged(
    provider: PaymentProviderServer, workflow: WorkflowAnswers, published: PublishedEvents
) -> None:
    assert fail_order() == {"batchItemFailures": []}

    assert charge(command("tok_visa")) == {"batchItemFailures": []}

    assert workflow.failures["task-1"][0] == "PaymentCancelled"
    assert provider.attempts(CHARGE_KEY) == 0
    assert published.of_type(PaymentRefunded) == []
    assert record().reconcile_due is None


def test_a_charge_that_completes_after_the_fence_is_refunded_by_the_delivery_that_made_it(
    provider: PaymentProviderServer,
    workflow: WorkflowAnswers,
    published: PublishedEvents,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PAYMENT_PROVIDER_READ_TIMEOUT_SECONDS", str(SLOW_ANSWER_SECONDS * 4))
    with ThreadPoolExecutor(max_workers=1) as pool:
        charging = pool.submit(charge, command("tok_slow_charge"))
        reaches_the_provider(provider)
        assert fail_order() == {"batchItemFailures": []}  # finds nothing yet: the charge is in flight
        assert record().reconcile_due is not None
        assert charging.result() == {"batchItemFailures": []}

    assert workflow.failures["task-1"][0] == "PaymentCancelled"
    assert published.of_type(PaymentSucceeded) == []
    [refunded] = published.of_type(PaymentRefunded)
    [made] = succeeded_charges(provider)
    assert (refunded.data.payment_id, refunded.data.amount, refunded.data.currency) == (
        made["id"],
        2599,
        "USD",
    )
    assert provider.ledger(ORDER_ID)["netAmount"] == 0
    assert record().reconcile_due is None


def test_a_charge_still_unknown_when_the_fence_lands_is_refunded_by_the_reconciler(
    provider: PaymentProviderServer, workflow: WorkflowAnswers, published: PublishedEvents
) -> None:
    # The adapter gives up before the provider charges; the order then fails.
    charge(command("tok_slow_charge"))
    assert workflow.failures["task-1"][0] == "PaymentProviderUnavailable"
    fail_order()
    assert record().reconcile_due is not None
    time.sleep(SLOW_ANSWER_SECONDS - READ_TIMEOUT_SECONDS + 0.2)  # the charge completes meanwhile

    wiring.payment_reconciler().reconcile(record())

    assert len(published.of_type(PaymentRefunded)) == 1
    assert provider.ledger(ORDER_ID)["netAmount"] == 0
    assert record().reconcile_due is None


def test_a_delivery_that_crashed_after_charging_comes_back_to_a_closed_task_and_refunds(
    provider: PaymentProviderServer,
    workflow: WorkflowAnswers,
    published: PublishedEvents,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with monkeypatch.context() as crash:
        crash.setattr(DynamoDbPaymentLedger, "record_succeeded", _killed)
        with pytest.raises(SystemExit):
            charge(command("tok_visa"))
    # The workflow timed out the step and failed the order; the fence's search is down.
    with monkeypatch.context() as outage:
        outage.setattr(wiring.provider(), "find_charges", _unavailable)
        with pytest.raises(BatchProcessingError):
            fail_order()
    assert provider.ledger(ORDER_ID)["netAmount"] == 2599
    workflow.closed_tokens.add("task-1")

    assert charge(command("tok_visa")) == {"batchItemFailures": []}  # SQS brings the command back

    assert provider.attempts(CHARGE_KEY) == 1  # not charged again
    assert provider.ledger(ORDER_ID)["netAmount"] == 0
    assert len(published.of_type(PaymentRefunded)) == 1
    assert (workflow.successes, workflow.failures) == ({}, {})


def test_a_closed_task_of_an_order_that_did_not_fail_touches_nothing(
    provider: PaymentProviderServer, workflow: WorkflowAnswers
) -> None:
    charge(command("tok_unavailable"))
    workflow.closed_tokens.add("task-1")

    charge(command("tok_visa"))

    assert provider.attempts(CHARGE_KEY) == 1
    assert record().status is PaymentStatus.UNAVAILABLE


def _killed(*_: object) -> PaymentRecord:
    raise SystemExit("the function was killed after the provider charged")


def _unavailable(order_id: str) -> list[Any]:
    raise PaymentProviderUnavailable("HTTP 503")
