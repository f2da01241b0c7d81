"""Ended saga executions, read from Step Functions as they are now: completed when they succeeded; when
stopped, stalled after payment, else failed."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from moto import mock_aws

from orderflow_devtools.testing import (
    BUS_NAME,
    FakeLambdaContext,
    PublishedEvents,
    forget_cached_clients,
    sqs_record,
)
from orderflow_shared.aws import client, dynamodb_table
from orderflow_shared.contracts import OrderCompleted, OrderFailed
from orders.domain.order import PlaceOrderRequest, new_order_record, now_iso
from orders.domain.saga_outcome import FAILED_REASON
from orders.handlers import execution_status, wiring

from .conftest import TABLES, TEMPLATE

REQUEST = PlaceOrderRequest.model_validate(
    {
        "customer": {"id": "c-9", "email": "eve@example.com"},
        "items": [{"sku": "KB-001", "quantity": 1}],
        "payment": {"token": "tok_visa"},
        "shippingAddress": {"name": "E", "line1": "1 St", "city": "X", "postalCode": "1", "country": "PT"},
    }
)
ROLE = "arn:aws:iam::123456789012:role/saga"


class Sagas:
    """State machines whose executions stop in a chosen state, as the order saga's would."""

    def __init__(self, published: PublishedEvents) -> None:
        self.published = published
        self.orders = dynamodb_table(TABLES["ORDERS_TABLE"])

    def stop_in(self, state: str, error: str, machine_arn: str | None = None) -> dict[str, Any]:
        """Runs an order's execution that passes payment and fails in ``state`` with ``error``."""
        definition = {
            "StartAt": "ProcessPayment",
            "States": {
                "ProcessPayment": {"Type": "Pass", "Next": state},
                state: {"Type": "Fail", "Error": error, "Cause": "it broke"},
            },
        }
        order_id = f"order-{state}-{error}".replace(".", "-")
        execution_input = {"orderId": order_id, **REQUEST.to_wire()}
        return self._run(definition, order_id, execution_input, "FAILED", machine_arn)

    def succeed(self, order_id: str, output: dict[str, Any]) -> dict[str, Any]:
        """Runs an order's execution that succeeds with ``output``, as the saga's last step leaves it."""
        definition = {
            "StartAt": "SendConfirmation",
            "States": {"SendConfirmation": {"Type": "Pass", "End": True}},
        }
        return self._run(definition, order_id, output, "SUCCEEDED")

    def _run(
        self,
        definition: dict[str, Any],
        order_id: str,
        execution_input: dict[str, Any],
        status: str,
        machine_arn: str | None = None,
    ) -> dict[str, Any]:
        """Stores the order, runs its execution of ``definition`` to the end; the status change it made."""
        sfn = client("stepfunctions")
        machine = machine_arn or wiring.workflow().state_machine_arn
        sfn.update_state_machine(stateMachineArn=machine, definition=json.dumps(definition))
        self.orders.put_item(Item=new_order_record(order_id, REQUEST, now_iso(), "{}"))
        execution_arn = sfn.start_execution(
            stateMachineArn=machine, name=order_id, input=json.dumps(execution_input)
        )["executionArn"]
        while sfn.describe_execution(executionArn=execution_arn)["status"] == "RUNNING":
            time.sleep(0.01)
        return {
            "executionArn": execution_arn,
            "stateMachineArn": machine,
            "status": status,
            "orderId": order_id,
        }

    def order(self, order_id: str) -> dict[str, Any]:
        item: dict[str, Any] = self.orders.get_item(Key={"orderId": order_id})["Item"]
        return item


def deliver(change: dict[str, Any]) -> dict[str, Any]:
    envelope = {
        "version": "0",
        "id": "e-1",
        "detail-type": "Step Functions Execution Status Change",
        "source": "aws.states",
        "account": "123456789012",
        "time": "2026-12-01T10:00:00Z",
        "region": "us-east-1",
        "resources": [change["executionArn"]],
        "detail": {k: v for k, v in change.items() if k != "orderId"},
    }
    result: dict[str, Any] = execution_status.handler(
        {"Records": [sqs_record(json.dumps(envelope))]}, FakeLambdaContext()
    )
    return result


@pytest.fixture
def sagas(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sagas]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        forget_cached_clients(*wiring.CACHED)
        TEMPLATE.create_tables(client("dynamodb"))
        published = PublishedEvents.subscribe(BUS_NAME)
        placeholder = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
        arn = client("stepfunctions").create_state_machine(
            name="order-saga", definition=placeholder, roleArn=ROLE
        )["stateMachineArn"]
        monkeypatch.setenv("STATE_MACHINE_ARN", arn)
        try:
            yield Sagas(published)
        finally:
            forget_cached_clients(*wiring.CACHED)


def test_a_saga_stopped_at_the_invoice_marks_the_paid_order_stalled(sagas: Sagas) -> None:
    change = sagas.stop_in("GenerateInvoice", "ServiceFault")

    assert deliver(change) == {"batchItemFailures": []}

    stalled = sagas.order(change["orderId"])["stalled"]
    assert (stalled["step"], stalled["reason"]) == ("GenerateInvoice", "ServiceFault: it broke")
    assert stalled["since"]
    assert sagas.published.drain() == []  # a paid order is not compensated


def test_a_saga_stopped_before_payment_is_compensated_with_order_failed(sagas: Sagas) -> None:
    change = sagas.stop_in("AnnouncePaymentFailed", "EventBridge.FailedEntry")

    deliver(change)
    deliver(change)  # a duplicated status event: the compensation is idempotent downstream

    failures = sagas.published.of_type(OrderFailed)
    assert {f.order_id for f in failures} == {change["orderId"]}
    assert (failures[0].data.customer.id, failures[0].data.error, failures[0].data.reason) == (
        "c-9",
        "EventBridge.FailedEntry",
        FAILED_REASON,
    )
    assert "stalled" not in sagas.order(change["orderId"])


def test_a_saga_that_compensated_itself_needs_nothing(sagas: Sagas) -> None:
    change = sagas.stop_in("PaymentFailed", "PaymentFailed")

    deliver(change)

    assert sagas.published.drain() == []
    assert "stalled" not in sagas.order(change["orderId"])


def test_a_completed_order_is_never_marked_stalled(sagas: Sagas) -> None:
    change = sagas.stop_in("SendConfirmation", "States.Timeout")
    sagas.orders.update_item(
        Key={"orderId": change["orderId"]},
        UpdateExpression="SET #s = :s, statusRank = :r",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": "COMPLETED", ":r": 4},
    )

    deliver(change)

    assert "stalled" not in sagas.order(change["orderId"])


def test_a_status_change_of_another_state_machine_is_refused(sagas: Sagas) -> None:
    other = client("stepfunctions").create_state_machine(
        name="other",
        definition=json.dumps({"StartAt": "X", "States": {"X": {"Type": "Succeed"}}}),
        roleArn=ROLE,
    )["stateMachineArn"]
    change = sagas.stop_in("GenerateInvoice", "ServiceFault", machine_arn=other)

    with pytest.raises(BatchProcessingError, match="another state machine"):
        deliver(change)  # the message goes back to the queue, and on to the DLQ

    assert "stalled" not in sagas.order(change["orderId"])


INVOICE = {
    "invoiceNumber": "INV-20261202-0001",
    "invoiceUrl": "https://api.example.com/orders/o-done/invoice",
    "totalAmount": 4999,
    "currency": "USD",
}


def test_a_saga_that_succeeded_completes_the_order_and_announces_it_once_as_one_event(sagas: Sagas) -> None:
    change = sagas.succeed("o-done", INVOICE)

    assert deliver(change) == {"batchItemFailures": []}
    deliver(change)  # a duplicated status event announces the same event again

    completions = sagas.published.of_type(OrderCompleted)
    assert len(completions) == 2
    assert completions[0] == completions[1]
    assert (completions[0].order_id, completions[0].data.total_amount, completions[0].data.invoice_url) == (
        "o-done",
        4999,
        INVOICE["invoiceUrl"],
    )
    order = sagas.order("o-done")
    assert order["status"] == "COMPLETED"
    assert "COMPLETED" in order["history"]


def test_a_stalled_order_whose_redriven_saga_succeeded_is_completed_and_no_longer_stalled(
    sagas: Sagas,
) -> None:
    stopped = sagas.stop_in("SendConfirmation", "States.Timeout")
    deliver(stopped)
    assert "stalled" in sagas.order(stopped["orderId"])
    # The redrive is played by a second execution of the same order (moto cannot redrive a Fail state).
    sagas.orders.update_item(
        Key={"orderId": stopped["orderId"]},
        UpdateExpression="SET #s = :s, statusRank = :r",
        ExpressionAttributeNames={"#s": "status"},
        ExpressionAttributeValues={":s": "INVOICED", ":r": 3},
    )
    succeeded = sagas.succeed(f"{stopped['orderId']}-redriven", INVOICE)
    sagas.orders.put_item(Item={**sagas.order(stopped["orderId"]), "orderId": succeeded["orderId"]})

    deliver(succeeded)

    order = sagas.order(succeeded["orderId"])
    assert order["status"] == "COMPLETED"
    assert "stalled" not in order


def test_a_saga_that_succeeded_without_the_invoice_in_its_output_is_retried_not_completed(
    sagas: Sagas,
) -> None:
    change = sagas.succeed("o-no-invoice", {"confirmation": "sent"})

    with pytest.raises(BatchProcessingError):
        deliver(change)  # back to the queue, and on to the DLQ: an operator sees it

    assert sagas.order("o-no-invoice")["status"] == "RECEIVED"
    assert sagas.published.of_type(OrderCompleted) == []
