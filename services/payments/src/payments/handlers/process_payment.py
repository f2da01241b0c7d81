"""ProcessPayment: charges the order's customer and answers the order workflow's payment step.

Rule (orderflow.orders / ProcessPayment) -> ProcessPaymentQueue -> this function. The API key is
read from Secrets Manager (``PAYMENT_PROVIDER_SECRET_NAME``) and cached for a few minutes, so a key
an operator rotates is picked up without a deploy.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow_shared.aws import dynamodb_table
from orderflow_shared.consumer import EventRouter, answer_command
from orderflow_shared.contracts import ProcessPayment
from orderflow_shared.contracts.orders import PaymentResult
from orderflow_shared.observability import telemetry
from orderflow_shared.publisher import EventPublisher
from orderflow_shared.task_token import TaskFailure, TaskReply
from payments.ledger import DynamoDbPaymentLedger
from payments.processing import PaymentProcessor
from payments.provider import PaymentProviderClient

SECRET_MAX_AGE_SECONDS = 300

tools = telemetry()
logger, tracer, metrics = tools.logger, tools.tracer, tools.metrics


def provider_api_key() -> str:
    secret = parameters.get_secret(os.environ["PAYMENT_PROVIDER_SECRET_NAME"], max_age=SECRET_MAX_AGE_SECONDS)
    key = secret.strip() if isinstance(secret, str) else ""
    if not key:
        raise RuntimeError("the payment provider secret holds no API key")
    return key


@functools.cache
def payment_processor() -> PaymentProcessor:
    return PaymentProcessor(
        ledger=DynamoDbPaymentLedger(dynamodb_table(os.environ["PAYMENTS_TABLE"])),
        provider=PaymentProviderClient(os.environ["PAYMENT_PROVIDER_URL"], api_key=provider_api_key),
        publish=EventPublisher().publish,
    )


def charge(command: ProcessPayment) -> PaymentResult:
    try:
        result = payment_processor().process(command)
    except TaskFailure as failure:
        metrics.add_metric(name=failure.error, unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(name="PaymentSucceeded", unit=MetricUnit.Count, value=1)
    return result


replies = TaskReply()
answer = answer_command(charge, replies)


def on_process_payment(command: ProcessPayment) -> None:
    # A closed task was answered by an earlier delivery, or timed out and the workflow moved on
    # to its compensation: charging now could take money for an order that has already failed.
    if not replies.heartbeat(command):
        logger.warning("payment task already closed; not charging")
        return
    answer(command)


router = EventRouter({ProcessPayment: on_process_payment}, logger)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return router.handle(event, context)
