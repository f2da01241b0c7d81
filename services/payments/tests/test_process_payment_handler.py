"""ProcessPaymentFunction in moto, against the local payment provider.

SQS batch in -> charge made -> PaymentSucceeded published -> workflow task answered.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters

from orderflow_devtools.testing import (
    FakeLambdaContext,
    PublishedEvents,
    WorkflowAnswers,
    emitted_metric,
    eventbridge_event,
    sqs_event,
)
from orderflow_devtools.testing.dynamodb import writes_to
from orderflow_local.payment_provider import PaymentProviderServer
from orderflow_shared.aws import client, dynamodb_table
from orderflow_shared.contracts import PaymentSucceeded, ProcessPayment
from orderflow_shared.contracts.orders import PaymentResult
from payments.handlers import process_payment

from .conftest import PAYMENTS_TABLE, SECRET_NAME, payment_command, sealed_and_priced

pytestmark = [pytest.mark.enable_socket, pytest.mark.usefixtures("aws", "provider", "published")]

ORDER_ID = "o-1"
CHARGE_KEY = f"order-{ORDER_ID}-charge"
FIRST_TASK = "task-1"


def command(payment_token: str, task_token: str = FIRST_TASK, order_id: str = ORDER_ID) -> ProcessPayment:
    return sealed_and_priced(payment_command(order_id, payment_token=payment_token, task_token=task_token))


def payment_item(order_id: str = ORDER_ID) -> dict[str, Any] | None:
    item: dict[str, Any] | None = (
        dynamodb_table(PAYMENTS_TABLE).get_item(Key={"orderId": order_id}).get("Item")
    )
    return item


def test_a_successful_charge_publishes_payment_succeeded_then_answers_with_the_payment_id(
    provider: PaymentProviderServer,
    workflow: WorkflowAnswers,
    published: PublishedEvents,
    context: FakeLambdaContext,
) -> None:
    with writes_to(dynamodb_table(PAYMENTS_TABLE)) as writes:
        response = process_payment.handler(sqs_event(command("tok_visa")), context)

    assert response == {"batchItemFailures": []}
    assert workflow.heartbeats == ["task-1"]
    result = PaymentResult.model_validate(workflow.successes["task-1"])
    assert result.payment_id.startswith("ch_")
    [event] = published.of_type(PaymentSucceeded)
    assert event.order_id == ORDER_ID
    assert (event.data.payment_id, event.data.amount, event.data.currency) == (result.payment_id, 2599, "USD")
    item = payment_item()
    assert item is not None
    assert (item["status"], item["attempts"], item["paymentId"]) == ("SUCCEEDED", 1, result.payment_id)
    assert (item["amount"], item["currency"]) == (2599, "USD")
    assert {"createdAt", "updatedAt", "succeededAt"} <= item.keys()
    assert provider.attempts(CHARGE_KEY) == 1
    # The attempt and its success; the announcement is not recorded (a redelivery announces again).
    assert writes == ["UpdateItem", "UpdateItem"]
    assert "announcedAt" not in item


def test_a_redelivered_command_after_success_answers_again_without_calling_the_provider(
    provider: PaymentProviderServer,
    workflow: WorkflowAnswers,
    published: PublishedEvents,
    context: FakeLambdaContext,
) -> None:
    delivered = command("tok_visa")
    process_payment.handler(sqs_event(delivered), context)
    first_answer = workflow.successes.pop("task-1")

    with writes_to(dynamodb_table(PAYMENTS_TABLE)) as writes:
        response = process_payment.handler(sqs_event(delivered), context)

    assert response == {"batchItemFailures": []}
    assert workflow.successes["task-1"] == first_answer
    assert provider.attempts(CHARGE_KEY) == 1
    # Announced again, as the same event (consumers drop it by id), and nothing recorded about it:
    # the one write is the attempt the settled ledger refused.
    first, again = published.of_type(PaymentSucceeded)
    assert first == again
    assert first.metadata.event_id == PaymentSucceeded.stable_event_id(ORDER_ID)
    assert writes == ["UpdateItem"]
    item = payment_item()
    assert item is not None
    assert item["attempts"] == 1
    assert first.metadata.occurred_at.isoformat() == item["succeededAt"]


def test_a_decline_answers_payment_declined_and_publishes_nothing(
    workflow: WorkflowAnswers, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    response = process_payment.handler(sqs_event(command("tok_declined")), context)

    assert response == {"batchItemFailures": []}  # a business answer, not a delivery fault
    error, cause = workflow.failures["task-1"]
    assert error == "PaymentDeclined"
    assert "declined" in cause
    assert workflow.successes == {}
    assert published.of_type(PaymentSucceeded) == []
    item = payment_item()
    assert item is not None
    assert (item["status"], item["lastError"]) == ("DECLINED", cause)


def test_a_redelivered_decline_is_answered_from_the_ledger(
    provider: PaymentProviderServer, workflow: WorkflowAnswers, context: FakeLambdaContext
) -> None:
    process_payment.handler(sqs_event(command("tok_declined")), context)
    first_failure = workflow.failures.pop("task-1")

    process_payment.handler(sqs_event(command("tok_declined")), context)

    assert workflow.failures["task-1"] == first_failure
    assert provider.attempts(CHARGE_KEY) == 1


def test_an_unavailable_provider_answers_payment_provider_unavailable(
    workflow: WorkflowAnswers, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    response = process_payment.handler(sqs_event(command("tok_unavailable")), context)

    assert response == {"batchItemFailures": []}
    error, cause = workflow.failures["task-1"]
    assert error == "PaymentProviderUnavailable"
    assert "503" in cause
    assert published.of_type(PaymentSucceeded) == []
    item = payment_item()
    assert item is not None
    assert (item["status"], item["attempts"]) == ("UNAVAILABLE", 1)


def test_the_workflow_retry_after_an_outage_charges_the_order_once(
    provider: PaymentProviderServer,
    workflow: WorkflowAnswers,
    published: PublishedEvents,
    context: FakeLambdaContext,
) -> None:
    process_payment.handler(sqs_event(command("tok_flaky", task_token="task-1")), context)
    # Step Functions' Retry re-runs the state: a new command with a new task token, same order.
    process_payment.handler(sqs_event(command("tok_flaky", task_token="task-2")), context)

    assert workflow.failures["task-1"][0] == "PaymentProviderUnavailable"
    result = PaymentResult.model_validate(workflow.successes["task-2"])
    [event] = published.of_type(PaymentSucceeded)
    assert event.data.payment_id == result.payment_id
    item = payment_item()
    assert item is not None
    assert (item["status"], item["attempts"]) == ("SUCCEEDED", 2)
    assert provider.attempts(CHARGE_KEY) == 2


def test_a_command_whose_task_already_closed_is_not_charged(
    provider: PaymentProviderServer, workflow: WorkflowAnswers, context: FakeLambdaContext
) -> None:
    workflow.closed_tokens.add("task-1")

    response = process_payment.handler(sqs_event(command("tok_visa")), context)

    assert response == {"batchItemFailures": []}
    assert provider.attempts(CHARGE_KEY) == 0
    assert (workflow.successes, workflow.failures) == ({}, {})
    assert payment_item() is None


def test_a_wrong_api_key_is_reported_to_the_workflow_as_a_service_fault(
    workflow: WorkflowAnswers, context: FakeLambdaContext
) -> None:
    client("secretsmanager").put_secret_value(SecretId=SECRET_NAME, SecretString="sk_test_revoked")

    response = process_payment.handler(sqs_event(command("tok_visa")), context)

    # The workflow's Retry policy decides what happens next, not SQS redelivery.
    assert response == {"batchItemFailures": []}
    error, cause = workflow.failures["task-1"]
    assert error == "ServiceFault"
    assert "HTTP 401" in cause
    assert workflow.successes == {}
    item = payment_item()
    assert item is not None
    assert (item["status"], item["attemptsEnded"]) == ("PENDING", 1)


def test_a_command_without_a_payment_token_fails_alone_in_its_batch(
    provider: PaymentProviderServer, workflow: WorkflowAnswers, context: FakeLambdaContext
) -> None:
    malformed = eventbridge_event(command("tok_visa", order_id="o-bad"))
    del malformed["detail"]["data"]["paymentToken"]
    event = sqs_event(json.dumps(malformed), command("tok_visa", task_token="task-2"))

    response = process_payment.handler(event, context)

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert provider.attempts("order-o-bad-charge") == 0
    assert list(workflow.successes) == ["task-2"]


@pytest.fixture
def captured_logs(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], str]]:
    """Everything logged at any level: the service's JSON lines and every library's records."""
    caplog.set_level(logging.INFO)
    # Debug for our code and the libraries on our path; botocore's own debug dump of every
    # response body (the secret's included) is the SDK's, and is never on in a deployment.
    for name in ["payments", "orderflow_shared", "aws_lambda_powertools", "urllib3", "orderflow_local"]:
        caplog.set_level(logging.DEBUG, logger=name)
    service_lines = io.StringIO()
    service_handler = logging.StreamHandler(service_lines)
    service_handler.setFormatter(process_payment.logger.registered_formatter)
    process_payment.logger.addHandler(service_handler)
    process_payment.logger.setLevel("DEBUG")
    yield lambda: service_lines.getvalue() + caplog.text
    process_payment.logger.removeHandler(service_handler)
    process_payment.logger.setLevel("INFO")


def test_logs_and_answers_never_carry_the_api_key_or_the_payment_token(
    api_key: str, workflow: WorkflowAnswers, context: FakeLambdaContext, captured_logs: Callable[[], str]
) -> None:
    tokens = [
        "tok_visa",
        "tok_declined",
        "tok_unavailable",
        "tok_error_after_charge",
        "tok_error_before_charge",
    ]
    for number, payment_token in enumerate(tokens):
        process_payment.handler(sqs_event(command(payment_token, order_id=f"o-{number}")), context)
    client("secretsmanager").put_secret_value(SecretId=SECRET_NAME, SecretString="sk_test_revoked")
    parameters.clear_caches()
    process_payment.handler(sqs_event(command("tok_visa", order_id="o-fault")), context)

    logs = captured_logs()
    answers = json.dumps([workflow.successes, workflow.failures])
    assert "payment provider answered HTTP 401" in logs  # the fault path was logged, too
    assert "charge outcome unknown" in logs  # and the search after a lost answer
    for secret in [api_key, "sk_test_revoked", *tokens]:
        assert secret not in logs
        assert secret not in answers


def test_the_steps_latency_from_the_command_to_the_answer_is_a_metric(
    workflow: WorkflowAnswers, context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    # The workflow entered the step 20 s ago: the answer comes at least that long after.
    sent = command("tok_visa")
    entered = datetime.now(UTC) - timedelta(seconds=20)
    sent = sent.model_copy(update={"metadata": sent.metadata.model_copy(update={"occurred_at": entered})})

    process_payment.handler(sqs_event(sent), context)

    assert workflow.successes
    [seconds] = emitted_metric(capsys.readouterr().out, "ProcessPaymentStepSeconds")
    assert 20 <= seconds < 20 + (datetime.now(UTC) - entered).total_seconds()
