"""template.yaml keeps the service conventions and agrees with the code: subscription, secret, timeouts."""

from __future__ import annotations

from orderflow_shared.contracts import ProcessPayment
from orderflow_shared.testing.template import FUNCTION, QUEUE, convention_problems
from payments.provider import CONNECT_TIMEOUT_SECONDS, READ_TIMEOUT_SECONDS

from .conftest import TEMPLATE

FUNCTION_NAME = "ProcessPaymentFunction"
PROPERTIES = TEMPLATE.properties(FUNCTION)[FUNCTION_NAME]


def test_the_template_keeps_the_service_conventions() -> None:
    assert convention_problems(TEMPLATE) == []


def test_the_function_is_fed_by_a_rule_for_exactly_process_payment() -> None:
    assert TEMPLATE.rule_feeding(FUNCTION_NAME)["EventPattern"] == {
        "source": [ProcessPayment.SOURCE],
        "detail-type": [ProcessPayment.DETAIL_TYPE],
    }


def test_the_function_gets_the_secret_by_the_name_the_secret_is_created_with() -> None:
    secret = TEMPLATE.resources["PaymentProviderApiKeySecret"]["Properties"]

    assert PROPERTIES["Environment"]["Variables"]["PAYMENT_PROVIDER_SECRET_NAME"] == secret["Name"]
    assert PROPERTIES["Environment"]["Variables"]["PAYMENT_PROVIDER_URL"] == {"Ref": "PaymentProviderUrl"}


def test_the_function_outlives_a_provider_call_and_the_queue_outlives_the_function() -> None:
    queue = TEMPLATE.properties(QUEUE)[TEMPLATE.queue_feeding(FUNCTION_NAME)]

    assert PROPERTIES["Timeout"] >= 2 * (CONNECT_TIMEOUT_SECONDS + READ_TIMEOUT_SECONDS)
    assert queue["VisibilityTimeout"] >= 6 * PROPERTIES["Timeout"]


def test_the_function_may_answer_and_heartbeat_workflow_tasks() -> None:
    statements = [
        s for policy in PROPERTIES["Policies"] if "Statement" in policy for s in policy["Statement"]
    ]

    granted = {action for statement in statements for action in statement["Action"]}
    assert {"states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat"} <= granted
