"""A ProcessPayment is checked before anything is charged: its amount and currency against the total
inventory sealed for the order, its payment token against the order it was sealed for.

The real handler in moto (KMS included) against the local payment provider.
"""

from __future__ import annotations

import os

import pytest

from orderflow_devtools.testing import FakeLambdaContext, PublishedEvents, WorkflowAnswers, sqs_event
from orderflow_local.payment_provider import PaymentProviderServer
from orderflow_shared.aws import client
from orderflow_shared.contracts import PaymentSucceeded, ProcessPayment
from orderflow_shared.payment_tokens import PaymentTokenSealer
from payments.handlers import process_payment, wiring

from .conftest import UNSEALED, payment_command, priced, sealed, sealed_and_priced

pytestmark = [pytest.mark.enable_socket, pytest.mark.usefixtures("aws", "provider", "published")]

ORDER_ID = "o-1"
CHARGE_KEY = f"order-{ORDER_ID}-charge"


def command(amount: int = 2599, currency: str = "USD", order_id: str = ORDER_ID) -> ProcessPayment:
    return payment_command(order_id, amount=amount, currency=currency)


def with_seal(cmd: ProcessPayment, seal: str | None) -> ProcessPayment:
    return cmd.model_copy(update={"data": cmd.data.model_copy(update={"priced_reservation": seal})})


def charge(cmd: ProcessPayment) -> dict[str, object]:
    result: dict[str, object] = process_payment.handler(sqs_event(cmd), FakeLambdaContext())
    return result


def assert_refused_and_nothing_charged(
    workflow: WorkflowAnswers, provider: PaymentProviderServer, published: PublishedEvents
) -> str:
    error, cause = workflow.failures["task-1"]
    assert error == "PaymentCommandRefused"
    assert provider.attempts(CHARGE_KEY) == 0
    assert published.of_type(PaymentSucceeded) == []
    assert wiring.ledger().get(ORDER_ID) is None  # not even an attempt was counted
    return cause


@pytest.mark.parametrize(
    ("asked", "reserved"),
    [((1, "USD"), (2599, "USD")), ((2599, "EUR"), (2599, "USD"))],
    ids=["amount", "currency"],
)
def test_a_command_disagreeing_with_the_sealed_total_is_refused_and_nothing_charged(
    asked: tuple[int, str],
    reserved: tuple[int, str],
    provider: PaymentProviderServer,
    workflow: WorkflowAnswers,
    published: PublishedEvents,
) -> None:
    # A task-token holder answered ReserveStock with a total of their own, keeping inventory's seal.
    response = charge(priced(sealed(command(*asked)), *reserved))

    assert response == {"batchItemFailures": []}  # an answer: the workflow compensates (catch-all)
    cause = assert_refused_and_nothing_charged(workflow, provider, published)
    assert f"{reserved[0]} {reserved[1]}" in cause


def test_the_same_command_at_the_sealed_total_is_charged(
    provider: PaymentProviderServer, workflow: WorkflowAnswers
) -> None:
    assert charge(sealed_and_priced(command(2599))) == {"batchItemFailures": []}

    assert "task-1" in workflow.successes
    assert provider.attempts(CHARGE_KEY) == 1


def test_a_total_sealed_for_another_order_is_refused(
    provider: PaymentProviderServer, workflow: WorkflowAnswers, published: PublishedEvents
) -> None:
    other = priced(command(order_id="o-2"))  # inventory's genuine seal, of another order at this total

    charge(with_seal(sealed(command()), other.data.priced_reservation))

    cause = assert_refused_and_nothing_charged(workflow, provider, published)
    assert "priced reservation was not sealed for this order" in cause


@pytest.mark.parametrize("seal", [UNSEALED, "not base64!", None], ids=["plain", "garbage", "none"])
def test_a_total_inventory_did_not_seal_is_refused(
    seal: str | None, provider: PaymentProviderServer, workflow: WorkflowAnswers, published: PublishedEvents
) -> None:
    charge(with_seal(sealed(command()), seal))

    assert_refused_and_nothing_charged(workflow, provider, published)


def test_a_total_sealed_with_a_data_key_made_for_payment_tokens_is_refused(
    provider: PaymentProviderServer, workflow: WorkflowAnswers, published: PublishedEvents
) -> None:
    # The orders API may make data keys of the same KMS key, but only for payment tokens: a "priced
    # reservation" it sealed does not open as one.
    forged = PaymentTokenSealer(client("kms"), os.environ["PAYMENT_TOKEN_KEY_ARN"])(
        ORDER_ID, '{"amount":1,"currency":"USD"}'
    )

    charge(with_seal(sealed(command(1)), forged))

    cause = assert_refused_and_nothing_charged(workflow, provider, published)
    assert "data key that was not made with its key for priced reservations" in cause


@pytest.mark.parametrize("token", ["tok_visa", "not base64!"], ids=["plaintext", "garbage"])
def test_a_token_not_sealed_by_the_orders_api_is_refused(
    token: str, provider: PaymentProviderServer, workflow: WorkflowAnswers, published: PublishedEvents
) -> None:
    charge(priced(payment_command(ORDER_ID, payment_token=token)))

    assert_refused_and_nothing_charged(workflow, provider, published)


def test_a_token_sealed_for_another_order_is_refused(
    provider: PaymentProviderServer, workflow: WorkflowAnswers, published: PublishedEvents
) -> None:
    other = sealed(command(order_id="o-2"))  # a genuine token, of another order

    charge(priced(command().model_copy(update={"data": other.data})))

    assert_refused_and_nothing_charged(workflow, provider, published)
