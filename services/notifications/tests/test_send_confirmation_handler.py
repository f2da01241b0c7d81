from __future__ import annotations

import io
from datetime import UTC, datetime
from typing import Any

import pytest

from notifications.handlers.send_confirmation import handler, logger
from orderflow_devtools.testing import FakeLambdaContext, WorkflowAnswers, emitted_metric, sqs_event
from orderflow_shared.contracts.notifications import CustomerNotified
from orderflow_shared.contracts.orders import ConfirmationResult, SendConfirmation, SendConfirmationData

from .conftest import CONFIRMED_AT, SENDER, Stack

ORDER_ID = "3f2a9c1b-77d0-4c1e-9d51-0a6f3c2b8e11"


def _command(data: SendConfirmationData) -> SendConfirmation:
    command = SendConfirmation.create(ORDER_ID, data, task_token="tok-confirm")
    metadata = command.metadata.model_copy(update={"occurred_at": CONFIRMED_AT})
    return command.model_copy(update={"metadata": metadata})


def _deliver(*commands: SendConfirmation) -> dict[str, Any]:
    return handler(sqs_event(*commands), FakeLambdaContext())


def test_the_confirmation_is_emailed_from_the_sender_to_the_customer(
    stack: Stack, workflow: WorkflowAnswers, confirmation_data: SendConfirmationData
) -> None:
    assert _deliver(_command(confirmation_data)) == {"batchItemFailures": []}

    [email] = stack.sent_emails()
    assert email.source == SENDER
    assert email.destinations["ToAddresses"] == ["ana@example.com"]
    assert ORDER_ID in email.subject
    assert confirmation_data.invoice_url.replace("&", "&amp;") in email.body
    assert "1,334.54 USD" in email.body


def test_the_task_is_answered_and_customer_notified_published_with_the_ses_message_id(
    stack: Stack, workflow: WorkflowAnswers, confirmation_data: SendConfirmationData
) -> None:
    _deliver(_command(confirmation_data))

    [email] = stack.sent_emails()
    [answer] = workflow.success_outputs
    assert ConfirmationResult.model_validate(answer).message_id == email.id
    [event] = stack.published.drain()
    assert isinstance(event, CustomerNotified)
    assert event.order_id == ORDER_ID
    assert (event.data.kind, event.data.message_id) == ("CONFIRMATION", email.id)


def test_a_duplicate_command_sends_no_second_email_and_answers_the_same_message_id(
    stack: Stack, workflow: WorkflowAnswers, confirmation_data: SendConfirmationData
) -> None:
    command = _command(confirmation_data)
    _deliver(command)
    _deliver(command)
    _deliver(_command(confirmation_data))  # the same step published again, as a new event

    [email] = stack.sent_emails()
    assert [answer["messageId"] for answer in workflow.success_outputs] == [email.id] * 3


def test_a_failed_send_is_reported_as_a_service_fault_and_the_retried_step_sends_the_email(
    unverified_stack: Stack, workflow: WorkflowAnswers, confirmation_data: SendConfirmationData
) -> None:
    failed_attempt = _command(confirmation_data)
    assert _deliver(failed_attempt) == {"batchItemFailures": []}
    [(error, cause)] = workflow.failures.values()
    assert (error, cause.split(":")[0]) == ("ServiceFault", "MessageRejected")
    assert unverified_stack.published.drain() == []

    # The workflow retries the step with a new command and token.
    unverified_stack.ses.verify_email_identity(EmailAddress=SENDER)
    _deliver(_command(confirmation_data))

    [email] = unverified_stack.sent_emails()
    assert [answer["messageId"] for answer in workflow.success_outputs] == [email.id]


def test_logs_name_the_order_but_not_the_customers_address(
    stack: Stack,
    workflow: WorkflowAnswers,
    confirmation_data: SendConfirmationData,
) -> None:
    logs_stream = io.StringIO()
    previous_stream = logger.registered_handler.setStream(logs_stream)
    try:
        _deliver(_command(confirmation_data))
    finally:
        logger.registered_handler.setStream(previous_stream)

    logs = logs_stream.getvalue()
    assert "order confirmation emailed" in logs
    assert ORDER_ID in logs
    assert "ana@example.com" not in logs
    assert "tok-confirm" not in logs


def test_the_steps_latency_from_the_command_to_the_answer_is_a_metric(
    stack: Stack,
    workflow: WorkflowAnswers,
    confirmation_data: SendConfirmationData,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The workflow entered the step at CONFIRMED_AT: the answer's latency is counted from then.
    _deliver(_command(confirmation_data))

    assert workflow.success_outputs
    [seconds] = emitted_metric(capsys.readouterr().out, "SendConfirmationStepSeconds")
    assert (datetime.now(UTC) - CONFIRMED_AT).total_seconds() - 5 <= seconds
    assert seconds <= (datetime.now(UTC) - CONFIRMED_AT).total_seconds()
