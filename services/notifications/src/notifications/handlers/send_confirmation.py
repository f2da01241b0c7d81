"""SendConfirmation command (SendConfirmationQueue): email the confirmation, answer the workflow."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from notifications.emails import confirmation_email
from notifications.handlers.wiring import TELEMETRY, customer_notifier, send_within_invocation
from notifications.notifier import CustomerEmail
from orderflow_shared.consumer import answer_command
from orderflow_shared.contracts.notifications import NotificationKind
from orderflow_shared.contracts.orders import ConfirmationResult, SendConfirmation
from orderflow_shared.entry_points import events_handler

logger, metrics = TELEMETRY.logger, TELEMETRY.metrics


def send_confirmation(command: SendConfirmation) -> ConfirmationResult:
    content = confirmation_email(command.order_id, command.metadata.occurred_at.date(), command.data)
    email = CustomerEmail.of(
        command.order_id, NotificationKind.CONFIRMATION, str(command.data.customer.email), content
    )
    message_id = customer_notifier().notify(email)
    logger.info("order confirmation emailed", extra={"message_id": message_id})
    metrics.add_metric(name="ConfirmationCommandsHandled", unit=MetricUnit.Count, value=1)
    TELEMETRY.record_step_latency(command)
    return ConfirmationResult(message_id=message_id)


handler = events_handler(
    TELEMETRY, {SendConfirmation: answer_command(send_confirmation)}, on_invocation=send_within_invocation
)
