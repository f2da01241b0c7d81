"""A send whose outcome Powertools never learnt is settled by what SES reported: never sent twice.

The function can die after SES accepted an email and before Powertools recorded the result. Its
idempotency record then stays INPROGRESS until the invocation's deadline, and expires after it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from notifications.emails import EmailContent
from notifications.handlers.customer_alerts import handler as customer_alerts
from notifications.handlers.send_confirmation import handler as send_confirmation
from notifications.handlers.wiring import sent_emails
from notifications.mailer import SesMailer
from notifications.ses_events import SentEmailReport
from orderflow_devtools.testing import FakeLambdaContext, WorkflowAnswers, sqs_event
from orderflow_shared.contracts.notifications import CustomerNotified, NotificationKind
from orderflow_shared.contracts.orders import (
    OrderFailed,
    OrderFailureData,
    SendConfirmation,
    SendConfirmationData,
)

from .conftest import CUSTOMER, SesReports, Stack

ORDER_ID = "c41e7b9a-6f3d-4a8e-b2d1-7e5c9a0f3b62"


class ProcessKilled(BaseException):
    """The container dies: no ``except Exception`` runs, so Powertools leaves its record in progress."""


@dataclass
class DyingInvocation(FakeLambdaContext):
    """An invocation whose deadline is a moment away."""

    def get_remaining_time_in_millis(self) -> int:
        return 50


def _command(data: SendConfirmationData, task_token: str = "tok-confirm") -> SendConfirmation:
    return SendConfirmation.create(ORDER_ID, data, task_token=task_token)


@pytest.fixture
def die_after_ses_accepts(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Arms one crash right after SES accepted the next email."""
    send = SesMailer.send

    def arm() -> None:
        def send_then_die(mailer: SesMailer, recipient: str, content: EmailContent, tags: Any) -> str:
            monkeypatch.setattr(SesMailer, "send", send)  # the next container sends normally
            send(mailer, recipient, content, tags)
            raise ProcessKilled

        monkeypatch.setattr(SesMailer, "send", send_then_die)

    return arm


def test_a_send_finds_the_email_ses_reported_and_does_not_call_ses(
    stack: Stack, workflow: WorkflowAnswers, confirmation_data: SendConfirmationData
) -> None:
    sent_emails().record(
        SentEmailReport(ORDER_ID, "confirmation", NotificationKind.CONFIRMATION, "reported-by-ses")
    )

    send_confirmation(sqs_event(_command(confirmation_data)), FakeLambdaContext())

    assert stack.sent_emails() == []
    assert [answer["messageId"] for answer in workflow.success_outputs] == ["reported-by-ses"]
    [notified] = stack.published.of_type(CustomerNotified)
    assert (notified.data.kind, notified.data.message_id) == ("CONFIRMATION", "reported-by-ses")


def test_a_failure_notice_ses_reported_is_answered_with_the_kind_the_customer_got(stack: Stack) -> None:
    sent_emails().record(
        SentEmailReport(ORDER_ID, "failure", NotificationKind.PAYMENT_FAILED, "first-notice")
    )
    failure = OrderFailureData(customer=CUSTOMER, error="ServiceFault", reason="could not be processed")

    customer_alerts(sqs_event(OrderFailed.create(ORDER_ID, failure)), FakeLambdaContext())

    assert stack.sent_emails() == []
    [notified] = stack.published.of_type(CustomerNotified)
    assert (notified.data.kind, notified.data.message_id) == ("PAYMENT_FAILED", "first-notice")


def test_a_crash_between_the_send_and_its_record_sends_no_second_email_after_the_deadline(
    stack: Stack,
    ses_reports: SesReports,
    workflow: WorkflowAnswers,
    confirmation_data: SendConfirmationData,
    die_after_ses_accepts: Callable[[], None],
) -> None:
    die_after_ses_accepts()
    with pytest.raises(ProcessKilled):
        send_confirmation(sqs_event(_command(confirmation_data)), DyingInvocation())
    time.sleep(0.1)  # the dead invocation's deadline passes: its in-progress record has expired
    ses_reports.deliver()  # SES's "Email Sent" arrived long before that

    send_confirmation(sqs_event(_command(confirmation_data, "tok-retry")), FakeLambdaContext())

    [email] = stack.sent_emails()
    assert [answer["messageId"] for answer in workflow.success_outputs] == [email.id]
    [notified] = stack.published.of_type(CustomerNotified)
    assert notified.data.message_id == email.id


def test_a_delivery_meeting_the_dead_sends_record_in_progress_waits_for_ses_report_then_answers_it(
    stack: Stack,
    ses_reports: SesReports,
    workflow: WorkflowAnswers,
    confirmation_data: SendConfirmationData,
    die_after_ses_accepts: Callable[[], None],
) -> None:
    die_after_ses_accepts()
    with pytest.raises(ProcessKilled):
        send_confirmation(sqs_event(_command(confirmation_data)), FakeLambdaContext())

    # Within the dead invocation's 30 s Powertools still has the send in progress. Before SES's
    # report nothing says whether it was sent: the step fails, to be retried, and sends nothing.
    send_confirmation(sqs_event(_command(confirmation_data, "tok-retry-1")), FakeLambdaContext())
    [(error, cause)] = workflow.failures.values()
    assert (error, cause.split(":")[0]) == ("ServiceFault", "IdempotencyAlreadyInProgressError")
    ses_reports.deliver()
    send_confirmation(sqs_event(_command(confirmation_data, "tok-retry-2")), FakeLambdaContext())

    [email] = stack.sent_emails()
    assert [answer["messageId"] for answer in workflow.success_outputs] == [email.id]
