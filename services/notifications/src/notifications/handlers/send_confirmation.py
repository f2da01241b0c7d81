"""SendConfirmation command (SendConfirmationQueue): email the confirmation, answer the workflow."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from notifications.emails import confirmation_email
from notifications.notifier import CustomerEmail
from notifications.runtime import IDEMPOTENCY_CONFIG, customer_notifier
from orderflow_shared.consumer import EventRouter, answer_command
from orderflow_shared.contracts.notifications import NotificationKind
from orderflow_shared.contracts.orders import ConfirmationResult, SendConfirmation
from orderflow_shared.observability import telemetry

tools = telemetry()
logger, tracer, metrics = tools.logger, tools.tracer, tools.metrics


def _send_confirmation(command: SendConfirmation) -> ConfirmationResult:
    content = confirmation_email(command.order_id, command.metadata.occurred_at.date(), command.data)
    email = CustomerEmail.of(
        command.order_id, NotificationKind.CONFIRMATION, str(command.data.customer.email), content
    )
    message_id = customer_notifier().notify(email)
    logger.info("order confirmation emailed", extra={"message_id": message_id})
    metrics.add_metric(name="ConfirmationCommandsHandled", unit=MetricUnit.Count, value=1)
    return ConfirmationResult(message_id=message_id)


@functools.cache
def _router() -> EventRouter:
    return EventRouter({SendConfirmation: answer_command(_send_confirmation)}, logger)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    IDEMPOTENCY_CONFIG.register_lambda_context(context)
    return _router().handle(event, context)
