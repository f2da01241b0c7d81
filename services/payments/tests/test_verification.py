"""A ProcessPayment is checked before anything is charged: its amount and currency against the priced
reservation inventory published (StockReserved), its payment token against the order it was sealed for.

The real handlers in moto (KMS included) against the local payment provider.
"""

from __future__ import annotations

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from orderflow_devtools.testing import FakeLambdaContext, PublishedEvents, WorkflowAnswers, sqs_event
from orderflow_local.payment_provider import PaymentProviderServer
from orderflow_shared.contracts import PaymentSucceeded, ProcessPayment, StockReserved
from orderflow_shared.contracts.orders import ProcessPaymentData
from orderflow_shared.contracts.values import PricedLine, PricedOrder
from payments.handlers import process_payment, record_priced_reservation, wiring
from payments.verification import PricedTotal

from .conftest import sealed, sealed_and_priced

pytestmark = [pytest.mark.enable_socket, pytest.mark.usefixtures("aws", "provider", "published")]

ORDER_ID = "o-1"
CHARGE_KEY = f"order-{ORDER_ID}-charge"


def command(amount: int = 2599, currency: str = "USD", order_id: str = ORDER_ID) -> ProcessPayment:
    data = ProcessPaymentData(customer_id="c-1", amount=amount, currency=currency, payment_token="tok_visa")
    return ProcessPayment.create(order_id, data, task_token="task-1")


def stock_reserved(total: int, currency: str = "USD", order_id: str = ORDER_ID) -> StockReserved:
    line = PricedLine(sku="KB-001", quantity=1, unit_price=total, line_total=total)
    return StockReserved.create(order_id, PricedOrder(lines=[line], total_amount=total, currency=currency))


def reserved_at(total: int, currency: str = "USD") -> None:
    response = record_priced_reservation.handler(
        sqs_event(stock_reserved(total, currency)), FakeLambdaContext()
    )
    assert response == {"batchItemFailures": []}


def charge(cmd: ProcessPayment) -> dict[str, object]:
    result: dict[str, object] = process_payment.handler(sqs_event(cmd), FakeLambdaContext())
    return result


@pytest.mark.parametrize(
    ("asked", "reserved"),
    [((1, "USD"), (2599, "USD")), ((2599, "EUR"), (2599, "USD"))],
    ids=["amount", "currency"],
)
def test_a_command_disagreeing_with_the_priced_reservation_is_refused_and_nothing_charged(
    asked: tuple[int, str],
    reserved: tuple[int, str],
    provider: PaymentProviderServer,
    workflow: WorkflowAnswers,
    published: PublishedEvents,
) -> None:
    reserved_at(*reserved)

    response = charge(sealed(command(*asked)))

    assert response == {"batchItemFailures": []}  # an answer: the workflow compensates (catch-all)
    error, cause = workflow.failures["task-1"]
    assert error == "PaymentCommandRefused"
    assert f"{reserved[0]} {reserved[1]}" in cause
    assert provider.attempts(CHARGE_KEY) == 0
    assert published.of_type(PaymentSucceeded) == []
    assert wiring.ledger().get(ORDER_ID) is None  # not even an attempt was counted


def test_the_same_command_at_the_reserved_total_is_charged(
    provider: PaymentProviderServer, workflow: WorkflowAnswers
) -> None:
    reserved_at(2599)

    assert charge(sealed(command(2599))) == {"batchItemFailures": []}

    assert "task-1" in workflow.successes
    assert provider.attempts(CHARGE_KEY) == 1


@pytest.mark.parametrize("token", ["tok_visa", "not base64!"], ids=["plaintext", "garbage"])
def test_a_token_not_sealed_by_the_orders_api_is_refused(
    token: str, provider: PaymentProviderServer, workflow: WorkflowAnswers
) -> None:
    reserved_at(2599)
    data = ProcessPaymentData(customer_id="c-1", amount=2599, currency="USD", payment_token=token)

    charge(ProcessPayment.create(ORDER_ID, data, task_token="task-1"))

    assert workflow.failures["task-1"][0] == "PaymentCommandRefused"
    assert provider.attempts(CHARGE_KEY) == 0


def test_a_token_sealed_for_another_order_is_refused(
    provider: PaymentProviderServer, workflow: WorkflowAnswers
) -> None:
    reserved_at(2599)
    other = sealed_and_priced(command(order_id="o-2"))  # a genuine token, of another order
    replayed = command().model_copy(update={"data": other.data})

    charge(replayed)

    assert workflow.failures["task-1"][0] == "PaymentCommandRefused"
    assert provider.attempts(CHARGE_KEY) == 0


def test_a_command_ahead_of_its_stock_reserved_goes_back_to_its_queue_unanswered(
    provider: PaymentProviderServer, workflow: WorkflowAnswers
) -> None:
    event = sqs_event(sealed(command()))

    with pytest.raises(BatchProcessingError, match="All records failed"):  # back to SQS, unanswered
        process_payment.handler(event, FakeLambdaContext())

    assert workflow.successes == {}
    assert workflow.failures == {}
    assert provider.attempts(CHARGE_KEY) == 0

    reserved_at(2599)  # the fact arrives; the redelivered command is charged
    assert process_payment.handler(event, FakeLambdaContext()) == {"batchItemFailures": []}
    assert "task-1" in workflow.successes


def test_a_second_stock_reserved_with_another_total_does_not_move_the_first(
    workflow: WorkflowAnswers,
) -> None:
    reserved_at(2599)
    reserved_at(1)

    assert wiring.priced_reservations().total(ORDER_ID) == PricedTotal(2599, "USD")
    charge(sealed(command(1)))
    assert workflow.failures["task-1"][0] == "PaymentCommandRefused"
