"""G3 and G4 end to end: every order ends or is visibly stalled, with one invoice and one email.

Starting the saga, a throttled EventBridge at each of the saga's publishing steps, and an invoice
step that fails past its whole budget and is then redriven by an operator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from orderflow_local import faults
from tests.support.guarantees import invoice_objects
from tests.support.local_stack import REPO_ROOT, http
from tests.support.saga import placed_by, wait_until
from tests.support.scenario import Scenario


def executions_of(scenario: Scenario) -> list[str]:
    sfn = scenario.stack.client("stepfunctions")
    (machine,) = [
        m for m in sfn.list_state_machines()["stateMachines"] if m["name"].startswith("orderflow-orders-")
    ]
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=machine["stateMachineArn"])
    return [e["name"] for page in pages for e in page["executions"] if e["name"] == scenario.order_id]


# --- starting the saga ------------------------------------------------------------------------


def test_a_start_that_fails_before_reaching_step_functions_is_made_by_the_sweep(scenario: Scenario) -> None:
    scenario.arm(
        {
            "id": "start-refused",
            "point": "before:stepfunctions.StartExecution",
            "action": "raise",
            "error": "client",
            "code": "ServiceUnavailable",
            "function": "OrdersApiFunction",
            "match": scenario.customer_id,
            "times": 1,
        }
    )
    placed = scenario.place("tok_visa")  # the order is stored, so it is accepted: 201

    assert scenario.fired("start-refused") == 1
    assert scenario.terminal()["status"] == "COMPLETED"  # started by the pending-start sweep
    assert executions_of(scenario) == [placed]
    scenario.guarantees_hold()


def test_a_start_whose_answer_is_lost_runs_one_saga(scenario: Scenario) -> None:
    scenario.arm(
        {
            "id": "start-answer-lost",
            "point": "after:stepfunctions.StartExecution",
            "action": "raise",
            "error": "timeout",
            "function": "OrdersApiFunction",
            "match": scenario.customer_id,
            "times": 1,
        }
    )
    placed = scenario.place("tok_visa")

    assert scenario.fired("start-answer-lost") == 1
    assert scenario.terminal()["status"] == "COMPLETED"
    assert executions_of(scenario) == [placed]
    scenario.guarantees_hold()


def test_a_client_retry_after_a_crash_past_the_start_gets_the_same_order(scenario: Scenario) -> None:
    scenario.arm(
        {
            "id": "crash-after-start",
            "point": "after:stepfunctions.StartExecution",
            "action": "crash",
            "function": "OrdersApiFunction",
            "match": scenario.customer_id,
            "times": 1,
        }
    )
    url = f"{scenario.stack.api_url}/orders"
    key = {"Idempotency-Key": f"retry-{scenario.customer_id}", **placed_by(scenario.stack, scenario.body())}

    crashed = http("POST", url, scenario.body(), key)
    assert crashed.status == 502  # the function died: no answer, the saga is running
    # Until the dead invocation's time is up its request counts as in progress (409); then the
    # retry goes through and finds the order the first attempt stored.
    retried = wait_until(
        lambda: (response := http("POST", url, scenario.body(), key)).status != 409 and response,
        timeout=45,
        message="the retry to be served",
    )

    assert retried.status == 201
    scenario.order_id = retried.json()["orderId"]
    assert scenario.terminal()["status"] == "COMPLETED"
    assert executions_of(scenario) == [scenario.order_id]
    scenario.guarantees_hold()


# --- EventBridge throttled at every publishing step ----------------------------------------------


def throttle_once(scenario: Scenario, detail_type: str, *match: str) -> dict[str, object]:
    return {
        "id": f"throttle-{detail_type}",
        "point": "putEvents",
        "action": "throttle",
        "match": [f'"DetailType": "{detail_type}"', *match],
        "times": 1,
    }


def test_every_publishing_step_throttled_once_still_completes_the_order(scenario: Scenario) -> None:
    # The first two steps run before the order id is known: matched on the SKU and the customer.
    # ReserveStock is held back a moment so that the rest can be armed on the order id itself.
    scenario.arm(
        throttle_once(scenario, "OrderReceived", scenario.customer_id),
        throttle_once(scenario, "ReserveStock", scenario.sku),
        {
            "id": "hold-reservation",
            "point": "deliver",
            "queue": "ReserveStockFunction",
            "action": "delay",
            "seconds": 1.5,
            "match": scenario.sku,
            "times": 1,
        },
    )
    order_id = scenario.place("tok_visa")
    later_steps = ("ProcessPayment", "GenerateInvoice", "SendConfirmation", "OrderCompleted")
    scenario.add(*(throttle_once(scenario, step, order_id) for step in later_steps))

    order = scenario.terminal()

    assert order["status"] == "COMPLETED"
    for step in ("OrderReceived", "ReserveStock", *later_steps):
        assert scenario.fired(f"throttle-{step}") == 1, step
    scenario.guarantees_hold()


@pytest.mark.parametrize(
    ("token", "available", "compensation", "status"),
    [
        ("tok_visa", 1, "OrderOutOfStock", "OUT_OF_STOCK"),
        ("tok_declined", 10, "OrderPaymentFailed", "PAYMENT_FAILED"),
    ],
)
def test_a_throttled_compensation_still_ends_the_order(
    scenario: Scenario, token: str, available: int, compensation: str, status: str
) -> None:
    scenario.stock(available=available)
    scenario.arm(throttle_once(scenario, compensation, scenario.customer_id))
    scenario.place(token)

    assert scenario.terminal()["status"] == status
    assert scenario.fired(f"throttle-{compensation}") == 1
    scenario.guarantees_hold()


def test_an_unforeseen_fault_before_payment_fails_the_order_and_compensates_it(scenario: Scenario) -> None:
    scenario.arm(
        {
            "id": "catalogue-down",
            "point": "before:dynamodb.TransactWriteItems",
            "action": "raise",
            "error": "client",
            "code": "InternalServerError",
            "function": "ReserveStockFunction",
            "match": scenario.sku,
        },
        throttle_once(scenario, "OrderFailed", scenario.customer_id),
    )
    scenario.place("tok_visa")

    order = scenario.terminal()

    assert order["status"] == "FAILED"
    assert "technical problem" in order["reason"]
    assert scenario.fired("catalogue-down") == 3  # the first attempt and both retries
    assert scenario.fired("throttle-OrderFailed") == 1
    scenario.guarantees_hold()  # nothing reserved, nothing charged, one failure email


# --- an invoice step that keeps failing after payment -------------------------------------------


def test_an_invoice_step_failing_past_its_budget_stalls_the_paid_order_until_a_redrive(
    scenario: Scenario,
) -> None:
    scenario.arm(
        {
            "id": "invoices-down",
            "point": "before:s3.PutObject",
            "action": "raise",
            "error": "client",
            "code": "ServiceUnavailable",
            "function": "GenerateInvoiceFunction",
            "match": scenario.customer_id,
        }
    )
    scenario.place("tok_visa")

    stalled = wait_until(lambda: scenario.order().get("stalled"), timeout=90, message="the order to stall")
    assert stalled["step"] == "GenerateInvoice"
    assert "ServiceFault" in stalled["reason"]
    attempts = scenario.fired("invoices-down")
    assert attempts == 6  # the first attempt and five retries over the step's budget
    order = scenario.order()
    assert order["status"] == "PAYMENT_SUCCESS"
    assert scenario.ledger()["netAmount"] == order["totalAmount"]  # paid, and not refunded
    assert invoice_objects(scenario.stack, scenario.order_id) == []

    faults.disarm(scenario.stack.fault_plan)  # the operator fixes the cause, then redrives
    redrive = subprocess.run(
        [sys.executable, "-m", "orderflow_local.operator", "redrive", scenario.order_id],
        env={**os.environ, "ORDERFLOW_AWS_PORT": scenario.stack.aws_url.rsplit(":", 1)[1]},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert redrive.returncode == 0, redrive.stderr
    assert json.loads(redrive.stdout)["redriveDate"]

    completed = scenario.terminal()
    assert completed["status"] == "COMPLETED"
    assert "stalled" not in completed
    time.sleep(1)  # a second invoice or email would have been made by now
    scenario.guarantees_hold()  # exactly one invoice and one confirmation email
