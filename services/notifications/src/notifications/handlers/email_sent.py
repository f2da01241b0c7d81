"""SES's "Email Sent" events (EmailSentQueue): record which message each (order, category) got.

Rule on the default bus (aws.ses, Email Sent, emails of our configuration set) -> EmailSentQueue
-> this function. The first report per key is what the send path answers later attempts with; a
report of a second message for a key means a customer got the same email twice.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

from notifications.handlers.wiring import TELEMETRY, sent_emails
from notifications.sent_emails import Recorded
from notifications.ses_events import EMAIL_SENT, SentEmailReport, UntaggedEmail, sent_email_report
from orderflow_shared.entry_points import records_handler
from orderflow_shared.observability import continue_trace

logger, metrics = TELEMETRY.logger, TELEMETRY.metrics


def record_sent_email(email: SentEmailReport) -> None:
    logger.set_correlation_id(email.order_id)
    logger.append_keys(order_id=email.order_id, category=email.category)
    continue_trace(email.trace_header, logger, order_id=email.order_id, handled="Email Sent")
    recording = sent_emails().record(email)
    if recording.outcome is Recorded.DUPLICATE:
        logger.error(
            "a second email of this order and category reached the customer",
            extra={"first_message_id": recording.first_message_id, "duplicate_message_id": email.message_id},
        )
        metrics.add_metric(name="DuplicateEmails", unit=MetricUnit.Count, value=1)
    elif recording.outcome is Recorded.FIRST:
        logger.info("sent email recorded", extra={"message_id": email.message_id, "kind": email.kind.value})


def _record_handler(record: SQSRecord) -> None:
    envelope = EventBridgeModel.model_validate_json(record.body)
    if (envelope.source, envelope.detail_type) != EMAIL_SENT:
        raise ValueError(f"not an SES Email Sent event: {envelope.source} {envelope.detail_type}")
    try:
        email = sent_email_report(envelope.detail)
    except UntaggedEmail as untagged:
        # Sent with our configuration set but not by our mailer (e.g. by hand): no order to record.
        logger.warning("email without order tags ignored", extra={"reason": str(untagged)})
        return
    record_sent_email(email)


handler = records_handler(TELEMETRY, _record_handler)
