"""orders' event contracts as producer: the events of an order's life, as the workflow and the service
put them on the bus.

The real state machine (statemachine/order_saga.asl.json, with the bus names substituted as the
deployment does) runs in moto's Step Functions interpreter, with orderflow_local.moto_compat's
fixes and an accelerated clock. Each command is answered through its task token as the owning
service would, along the four ways an order ends: completed, out of stock, payment failed and
failed. Around each run the service's own announcements are made as the service makes them:
OrderReceived from the stored order before the start, OrderCompleted from the execution that
SUCCEEDED (its real output, read back through DescribeExecution). Every event is then judged
against its committed registry schema, and by the bus it was put on: the commands, with their task
tokens, only on the commands bus.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from moto import mock_aws

from orderflow_devtools.registry.contract_checks import envelope_problems
from orderflow_devtools.registry.contract_runs import Catalogue, envelope_type
from orderflow_devtools.registry.schemas import JsonObject
from orderflow_devtools.testing import (
    ACCOUNT,
    BUS_NAME,
    COMMANDS_BUS_NAME,
    PublishedEvents,
    forget_cached_clients,
)
from orderflow_local import moto_compat
from orderflow_shared.aws import client
from orderflow_shared.contracts.base import Contract
from orderflow_shared.contracts.orders import ConfirmationResult, InvoiceResult, PaymentResult
from orderflow_shared.contracts.values import PricedLine, ReservedOrder
from orderflow_shared.publisher import EventPublisher
from orders.domain.announcements import order_received
from orders.domain.order import (
    PlaceOrderRequest,
    new_order_id,
    new_order_record,
    now_iso,
    workflow_input_text,
)
from orders.workflow import OrderWorkflow

pytestmark = [pytest.mark.contract, pytest.mark.timeout(60)]

SERVICE = "orders"
ASL_PATH = Path(__file__).resolve().parents[2] / "statemachine" / "order_saga.asl.json"
# Retry intervals, heartbeats and timeouts at 1% of their declared seconds: the real policy, quickly.
TIME_SCALE = 0.01
WAIT_SECONDS = 10.0
# What the orders API puts in the execution input: the customer's token, sealed for payments.
SEALED_TOKEN = "AQICAHh0c2VhbGVkLXBheW1lbnQtdG9rZW4="

# An order as the API receives it (the body of POST /orders).
REQUEST = PlaceOrderRequest.model_validate(
    {
        "customer": {"id": "c-1", "email": "ana@example.com"},
        "items": [{"sku": "KB-001", "quantity": 2}, {"sku": "MS-002", "quantity": 1}],
        "payment": {"token": "tok_visa"},
        "shippingAddress": {
            "name": "Ana Silva",
            "line1": "Rua Augusta 100",
            "city": "Lisbon",
            "postalCode": "1100-053",
            "country": "PT",
        },
    }
)
UNIT_PRICES = {"KB-001": 4999, "MS-002": 1999}
SEALED_TOTAL = "AgC4sealed-by-inventory"


def priced(request: PlaceOrderRequest) -> ReservedOrder:
    """What inventory answers ReserveStock with: the order's own lines, priced, and their total sealed
    for payments (opaque to the workflow, which hands it on in ProcessPayment)."""
    lines = [
        PricedLine(
            sku=item.sku,
            quantity=item.quantity,
            unit_price=UNIT_PRICES[item.sku],
            line_total=UNIT_PRICES[item.sku] * item.quantity,
        )
        for item in request.items
    ]
    total = sum(line.line_total for line in lines)
    return ReservedOrder(lines=lines, total_amount=total, currency="USD", priced_reservation=SEALED_TOTAL)


@dataclass(frozen=True)
class Succeed:
    result: Contract

    def send(self, sfn: Any, task_token: str) -> None:
        sfn.send_task_success(taskToken=task_token, output=json.dumps(self.result.to_wire()))


@dataclass(frozen=True)
class Fail:
    error: str
    cause: str

    def send(self, sfn: Any, task_token: str) -> None:
        sfn.send_task_failure(taskToken=task_token, error=self.error, cause=self.cause)


Answer = Succeed | Fail

# Each path: the commands in the order the workflow sends them, each with its owner's answer.
COMPLETED: dict[str, Answer] = {
    "ReserveStock": Succeed(priced(REQUEST)),
    "ProcessPayment": Succeed(PaymentResult(payment_id="ch_3f2a9c1b")),
    "GenerateInvoice": Succeed(
        InvoiceResult(
            invoice_number="INV-20260514-3F2A9C1B",
            invoice_url="https://orderflow-invoices.s3.amazonaws.com/invoices/3f2a9c1b.pdf",
            total_amount=priced(REQUEST).total_amount,
            currency=priced(REQUEST).currency,
        )
    ),
    "SendConfirmation": Succeed(ConfirmationResult(message_id="0100019a-3f2a-9c1b-example-000000")),
}
OUT_OF_STOCK: dict[str, Answer] = {
    "ReserveStock": Fail("OutOfStock", "KB-001: 2 requested, 0 available"),
}
PAYMENT_FAILED: dict[str, Answer] = {
    "ReserveStock": COMPLETED["ReserveStock"],
    "ProcessPayment": Fail("PaymentDeclined", "The card was declined"),
}
# An error no catch names: the catch-all compensates with OrderFailed.
FAILED: dict[str, Answer] = {
    "ReserveStock": Fail("InventoryBug", "KeyError: 'lines'"),
}


@dataclass
class Saga:
    """The deployed workflow and every event it published, as delivered, with the bus it was put on."""

    state_machine_arn: str
    queue_urls: dict[str, str]  # bus name -> the queue capturing everything put on it
    published: list[JsonObject] = field(default_factory=list)
    bus_of: list[str] = field(default_factory=list)  # bus_of[i]: where published[i] was put
    _unread: int = 0

    def run(self, answers: dict[str, Answer]) -> str:
        """Runs one order to its end, answering each command in turn; the execution's final status."""
        sfn = client("stepfunctions")
        order_id = new_order_id()
        execution_input = workflow_input_text(order_id, REQUEST, SEALED_TOKEN)
        announcements = EventPublisher(BUS_NAME)
        # As the orders API does: announced from the stored order, then started.
        announcements.publish(order_received(new_order_record(order_id, REQUEST, now_iso(), execution_input)))
        execution_arn = sfn.start_execution(
            stateMachineArn=self.state_machine_arn, name=order_id, input=execution_input
        )["executionArn"]
        for detail_type, answer in answers.items():
            answer.send(sfn, self._next_command(detail_type)["detail"]["taskToken"])
        status = self._wait_for_end(execution_arn)
        if status == "SUCCEEDED":
            # As the orders service does on the SUCCEEDED status event.
            ended = OrderWorkflow(sfn, self.state_machine_arn).stopped_execution(execution_arn)
            announcements.publish(ended.completion())
        self._receive()  # what the last state published
        return status

    def _next_command(self, detail_type: str) -> JsonObject:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            self._receive()
            for envelope in self.published[self._unread :]:
                self._unread += 1
                if envelope.get("detail-type") == detail_type:
                    return envelope
            time.sleep(0.01)
        raise AssertionError(f"the workflow published no {detail_type} within {WAIT_SECONDS}s")

    def stop_unfinished(self) -> None:
        """Stops what a failed test left running: leaving mock_aws while the interpreter thread
        still runs would send its calls past moto."""
        sfn = client("stepfunctions")
        running = sfn.list_executions(stateMachineArn=self.state_machine_arn, statusFilter="RUNNING")
        for execution in running["executions"]:
            sfn.stop_execution(executionArn=execution["executionArn"])
            self._wait_for_end(execution["executionArn"])

    def _wait_for_end(self, execution_arn: str) -> str:
        sfn = client("stepfunctions")
        deadline = time.monotonic() + WAIT_SECONDS
        while (status := str(sfn.describe_execution(executionArn=execution_arn)["status"])) == "RUNNING":
            assert time.monotonic() < deadline, f"{execution_arn} still RUNNING after {WAIT_SECONDS}s"
            time.sleep(0.01)
        return status

    def _receive(self) -> None:
        sqs = client("sqs")
        for bus, queue_url in self.queue_urls.items():
            while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
                for message in messages:
                    self.published.append(json.loads(message["Body"]))
                    self.bus_of.append(bus)
                    sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])


@pytest.fixture
def saga() -> Iterator[Saga]:
    moto_compat.apply(time_scale=TIME_SCALE)
    try:
        with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
            forget_cached_clients()
            saga = _deployed_saga()
            try:
                yield saga
            finally:
                saga.stop_unfinished()
                forget_cached_clients()
    finally:
        moto_compat.revert()


def _deployed_saga() -> Saga:
    # Only the workflow and the announcements of Saga.run publish here, so the catch-all captures hold
    # exactly an order's events.
    captures = {bus: PublishedEvents.subscribe(bus).queue_url for bus in (BUS_NAME, COMMANDS_BUS_NAME)}
    definition = (
        ASL_PATH.read_text()
        .replace("${EventBusName}", BUS_NAME)
        .replace("${CommandsBusName}", COMMANDS_BUS_NAME)
    )
    state_machine_arn = client("stepfunctions").create_state_machine(
        name="order-saga", definition=definition, roleArn=f"arn:aws:iam::{ACCOUNT}:role/order-saga"
    )["stateMachineArn"]
    return Saga(state_machine_arn, captures)


def test_every_event_the_workflow_publishes_matches_its_registry_schema(saga: Saga) -> None:
    assert saga.run(COMPLETED) == "SUCCEEDED"
    assert saga.run(OUT_OF_STOCK) == "FAILED"
    assert saga.run(PAYMENT_FAILED) == "FAILED"
    assert saga.run(FAILED) == "FAILED"

    catalogue = Catalogue.load()
    declared = catalogue.service(SERVICE).publishes
    assert envelope_problems(SERVICE, saga.published, catalogue.schemas, declared) == []
    built = {envelope_type(envelope) for envelope in saga.published}
    assert [
        f"{SERVICE} declares {event_type} in events.yaml, but no path of an order published it"
        for event_type in declared
        if event_type not in built
    ] == []
    # Task tokens never reach the domain-events bus, which external systems read and the archive keeps.
    on_domain_bus = {
        e["detail-type"] for e, bus in zip(saga.published, saga.bus_of, strict=True) if bus == BUS_NAME
    }
    on_commands_bus = {
        e["detail-type"]
        for e, bus in zip(saga.published, saga.bus_of, strict=True)
        if bus == COMMANDS_BUS_NAME
    }
    assert on_commands_bus == {"ReserveStock", "ProcessPayment", "GenerateInvoice", "SendConfirmation"}
    assert on_domain_bus.isdisjoint(on_commands_bus)
    assert not any(
        "taskToken" in e["detail"]
        for e, bus in zip(saga.published, saga.bus_of, strict=True)
        if bus == BUS_NAME
    )
    # Inventory's sealed total goes on to payments, the one service that can open it, and nowhere else.
    carrying_the_seal = {e["detail-type"] for e in saga.published if SEALED_TOTAL in json.dumps(e)}
    assert carrying_the_seal == {"ProcessPayment"}
