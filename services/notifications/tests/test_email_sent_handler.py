"""SES's "Email Sent" reports fill the sent-emails table; a second email for a key is an error, counted."""

from __future__ import annotations

import io
import json

import pytest

from notifications.emails import EmailContent
from notifications.handlers import email_sent
from notifications.handlers.email_sent import logger
from notifications.handlers.send_confirmation import handler as send_confirmation
from notifications.handlers.wiring import sent_emails
from notifications.mailer import SesMailer
from notifications.ses_events import email_tags
from orderflow_devtools.testing import FakeLambdaContext, WorkflowAnswers, aws_event, sqs_event
from orderflow_shared.aws import client
from orderflow_shared.contracts.notifications import NotificationKind
from orderflow_shared.contracts.orders import SendConfirmation, SendConfirmationData

from .conftest import CONFIGURATION_SET, SENDER, SesReports, Stack

ORDER_ID = "5d0c8a31-2b7e-4f19-a6c4-9e1f3b7d2c55"
CONTENT = EmailContent(subject="s", text="t", html="h")


def metric(output: str, name: str) -> list[float]:
    """The values of one metric in the EMF blobs the function printed."""
    blobs = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [value for blob in blobs if "_aws" in blob and name in blob for value in blob[name]]


def send_directly(kind: NotificationKind, category: str) -> str:
    """An email sent as the notifier sends it, bypassing its checks: how a duplicate gets out."""
    mailer = SesMailer(sender=SENDER, configuration_set=CONFIGURATION_SET)
    return mailer.send("ana@example.com", CONTENT, email_tags(ORDER_ID, category, kind))


@pytest.mark.usefixtures("workflow")
def test_the_confirmation_ses_sent_is_recorded_under_its_order_and_category(
    stack: Stack, ses_reports: SesReports, confirmation_data: SendConfirmationData
) -> None:
    send_confirmation(
        sqs_event(SendConfirmation.create(ORDER_ID, confirmation_data, task_token="tok")), FakeLambdaContext()
    )

    assert ses_reports.deliver() == {"batchItemFailures": []}

    [email] = stack.sent_emails()
    recorded = sent_emails().lookup(ORDER_ID, "confirmation")
    assert recorded is not None
    assert (recorded.message_id, recorded.kind) == (email.id, NotificationKind.CONFIRMATION)
    assert sent_emails().lookup(ORDER_ID, "failure") is None


def test_a_report_delivered_again_changes_nothing_and_is_no_duplicate(
    stack: Stack, ses_reports: SesReports, capsys: pytest.CaptureFixture[str]
) -> None:
    first = send_directly(NotificationKind.OUT_OF_STOCK, "failure")
    [report] = ses_reports.bodies()
    capsys.readouterr()

    ses_reports.deliver([report])
    ses_reports.deliver([report])

    recorded = sent_emails().lookup(ORDER_ID, "failure")
    assert recorded is not None
    assert (recorded.message_id, recorded.kind) == (first, NotificationKind.OUT_OF_STOCK)
    assert metric(capsys.readouterr().out, "DuplicateEmails") == []


def test_a_second_email_for_a_key_is_logged_as_an_error_and_counted_once(
    stack: Stack, ses_reports: SesReports, capsys: pytest.CaptureFixture[str]
) -> None:
    first = send_directly(NotificationKind.PAYMENT_FAILED, "failure")
    ses_reports.deliver()
    second = send_directly(NotificationKind.FAILED, "failure")
    [duplicate_report] = ses_reports.bodies()
    capsys.readouterr()
    logs = io.StringIO()
    previous_stream = logger.registered_handler.setStream(logs)
    try:
        assert ses_reports.deliver([duplicate_report]) == {"batchItemFailures": []}
        duplicate_metrics = metric(capsys.readouterr().out, "DuplicateEmails")
        ses_reports.deliver([duplicate_report])  # the same duplicate reported again
        repeated_metrics = metric(capsys.readouterr().out, "DuplicateEmails")
    finally:
        logger.registered_handler.setStream(previous_stream)

    assert duplicate_metrics == [1.0]
    assert repeated_metrics == []
    [error] = [json.loads(line) for line in logs.getvalue().splitlines() if '"ERROR"' in line]
    assert (error["order_id"], error["category"]) == (ORDER_ID, "failure")
    assert (error["first_message_id"], error["duplicate_message_id"]) == (first, second)
    recorded = sent_emails().lookup(ORDER_ID, "failure")
    assert recorded is not None
    assert (recorded.message_id, recorded.kind) == (first, NotificationKind.PAYMENT_FAILED)  # the first wins


def test_an_email_without_order_tags_is_not_recorded(stack: Stack, ses_reports: SesReports) -> None:
    stack.ses.send_email(
        Source=SENDER,
        Destination={"ToAddresses": ["ops@example.com"]},
        Message={"Subject": {"Data": "test"}, "Body": {"Text": {"Data": "test"}}},
        ConfigurationSetName=CONFIGURATION_SET,
    )

    assert ses_reports.deliver() == {"batchItemFailures": []}

    assert client("dynamodb").scan(TableName="SentEmailsTable")["Items"] == []


def test_an_event_other_than_email_sent_is_reported_as_a_failure(
    stack: Stack, ses_reports: SesReports
) -> None:
    send_directly(NotificationKind.CONFIRMATION, "confirmation")
    [report] = ses_reports.bodies()
    delivered = json.dumps(aws_event("aws.ses", "Email Delivered", {"eventType": "Delivery"}))
    event = sqs_event(delivered, report)

    response = email_sent.handler(event, FakeLambdaContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert sent_emails().lookup(ORDER_ID, "confirmation") is not None


def test_emails_are_sent_with_the_configuration_set_and_the_tags_of_their_identity(
    stack: Stack,
    ses_reports: SesReports,
    workflow: WorkflowAnswers,
    confirmation_data: SendConfirmationData,
) -> None:
    send_confirmation(
        sqs_event(SendConfirmation.create(ORDER_ID, confirmation_data, task_token="tok")), FakeLambdaContext()
    )

    [email] = stack.sent_emails()
    [mail] = [json.loads(body)["detail"]["mail"] for body in ses_reports.bodies()]
    assert mail["messageId"] == email.id
    assert {name: values for name, values in mail["tags"].items() if not name.startswith("ses:")} == {
        "order_id": [ORDER_ID],
        "category": ["confirmation"],
        "kind": ["CONFIRMATION"],
    }
    assert mail["tags"]["ses:configuration-set"] == [CONFIGURATION_SET]
