"""template.yaml keeps the service conventions and agrees with the code: subscriptions, schedule,
secret, index, timeouts."""

from __future__ import annotations

from typing import Any

import pytest

from orderflow_devtools.testing.template import FUNCTION, QUEUE, RULE, TABLE, convention_problems, logical_id
from orderflow_shared.contracts import OrderFailed, OrderPaymentFailed, ProcessPayment
from payments.handlers.reconcile_payments import RESERVED_MILLIS
from payments.ledger import RECONCILE_INDEX
from payments.provider import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS, READ_TIMEOUT_VARIABLE

from .conftest import TEMPLATE

FUNCTIONS = TEMPLATE.properties(FUNCTION)
PROVIDER_CALL_SECONDS = CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS


def environment(function: str) -> dict[str, Any]:
    """The function's variables as Lambda gets them: Globals, then its own."""
    globals_ = TEMPLATE.document["Globals"]["Function"].get("Environment", {}).get("Variables", {})
    own = FUNCTIONS[function].get("Environment", {}).get("Variables", {})
    return {**globals_, **own}


def test_the_template_keeps_the_service_conventions() -> None:
    assert convention_problems(TEMPLATE) == []


def test_the_charging_function_is_fed_by_a_rule_for_exactly_process_payment() -> None:
    assert TEMPLATE.rule_feeding("ProcessPaymentFunction")["EventPattern"] == {
        "source": [ProcessPayment.SOURCE],
        "detail-type": [ProcessPayment.DETAIL_TYPE],
    }


def test_the_refunding_function_is_fed_by_a_rule_for_both_failures_of_an_order() -> None:
    rule = TEMPLATE.rule_feeding("RefundFailedOrdersFunction")

    assert rule["EventBusName"] == {"Ref": "EventBusName"}
    assert rule["EventPattern"] == {
        "source": [OrderPaymentFailed.SOURCE],
        "detail-type": [OrderPaymentFailed.DETAIL_TYPE, OrderFailed.DETAIL_TYPE],
    }
    assert TEMPLATE.function_setting("RefundFailedOrdersFunction", "Handler") == (
        "payments.handlers.refund_failed_orders.handler"
    )


def test_the_reconciler_runs_every_five_minutes_from_the_default_bus() -> None:
    rule = TEMPLATE.rule_feeding("ReconcilePaymentsFunction")

    assert rule["ScheduleExpression"] == "rate(5 minutes)"
    assert "EventBusName" not in rule  # schedules fire on the default bus
    assert "EventPattern" not in rule
    assert TEMPLATE.function_setting("ReconcilePaymentsFunction", "Handler") == (
        "payments.handlers.reconcile_payments.handler"
    )


def test_each_queue_accepts_messages_from_its_own_rule_only() -> None:
    rules = {rule_id: properties for rule_id, properties in TEMPLATE.properties(RULE).items()}
    policies = TEMPLATE.properties("AWS::SQS::QueuePolicy").values()
    allowed = {
        queue["Ref"]: logical_id(statement["Condition"]["ArnEquals"]["aws:SourceArn"])
        for policy in policies
        for queue in policy["Queues"]
        for statement in policy["PolicyDocument"]["Statement"]
    }

    for rule_id, rule in rules.items():
        for target in rule["Targets"]:
            assert allowed[logical_id(target["Arn"])] == rule_id


@pytest.mark.parametrize("function", sorted(FUNCTIONS))
def test_every_function_reaches_the_provider_with_the_secret_the_stack_creates(function: str) -> None:
    secret = TEMPLATE.resources["PaymentProviderApiKeySecret"]["Properties"]
    variables = environment(function)

    assert variables["PAYMENT_PROVIDER_SECRET_NAME"] == secret["Name"]
    assert variables["PAYMENT_PROVIDER_URL"] == {"Ref": "PaymentProviderUrl"}
    assert variables[READ_TIMEOUT_VARIABLE] == {"Ref": "PaymentProviderReadTimeoutSeconds"}
    assert variables["PAYMENTS_TABLE"] == {"Ref": "PaymentsTable"}


def test_the_read_timeout_parameter_defaults_to_the_adapters_default() -> None:
    parameter = TEMPLATE.document["Parameters"]["PaymentProviderReadTimeoutSeconds"]

    assert float(parameter["Default"]) == READ_TIMEOUT_SECONDS


@pytest.mark.parametrize(
    ("function", "provider_calls"),
    [
        ("ProcessPaymentFunction", 3),  # charge, search after a lost answer, refund if fenced meanwhile
        ("RefundFailedOrdersFunction", 2),  # search, refund
    ],
)
def test_each_function_outlives_its_provider_calls(function: str, provider_calls: int) -> None:
    assert TEMPLATE.function_setting(function, "Timeout") >= provider_calls * PROVIDER_CALL_SECONDS


def test_the_reconciler_keeps_room_for_one_more_order_when_it_stops_starting_new_ones() -> None:
    timeout = TEMPLATE.function_setting("ReconcilePaymentsFunction", "Timeout")

    assert RESERVED_MILLIS >= 2 * PROVIDER_CALL_SECONDS * 1000
    assert timeout * 1000 > 2 * RESERVED_MILLIS


def test_the_reconcile_index_is_sparse_on_the_due_time() -> None:
    table = TEMPLATE.properties(TABLE)["PaymentsTable"]
    [index] = table["GlobalSecondaryIndexes"]

    assert index["IndexName"] == RECONCILE_INDEX
    assert index["KeySchema"] == [
        {"AttributeName": "reconcileShard", "KeyType": "HASH"},
        {"AttributeName": "reconcileDue", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}


# Every payments function calls the payment provider.
PROVIDER_CALLERS = sorted(FUNCTIONS)


@pytest.mark.parametrize("function", PROVIDER_CALLERS)
def test_each_function_calling_the_provider_reads_one_message_at_a_time(function: str) -> None:
    # A slow provider then delays only its own order, never the rest of a batch.
    [event] = TEMPLATE.sqs_events(function)
    assert event["BatchSize"] == 1
    assert TEMPLATE.queue_feeding(function) in TEMPLATE.properties(QUEUE)


def test_the_charging_function_may_answer_and_heartbeat_workflow_tasks() -> None:
    policies = FUNCTIONS["ProcessPaymentFunction"]["Policies"]
    statements = [s for policy in policies if "Statement" in policy for s in policy["Statement"]]

    granted = {action for statement in statements for action in statement["Action"]}
    assert {"states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"} <= granted
