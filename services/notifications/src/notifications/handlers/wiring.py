"""What every notifications handler shares: its telemetry and the objects kept for the container's life.

Names come from the environment that template.yaml sets; the objects are built on first use, so
importing a handler needs no AWS configuration.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

from notifications.sent_emails import SentEmailsTable
from orderflow_shared.aws import client, dynamodb_table
from orderflow_shared.observability import telemetry
from orderflow_shared.publisher import EventPublisher

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from notifications.notifier import CustomerNotifier

# The Powertools logger is named after POWERTOOLS_SERVICE_NAME ("notifications"), so the domain's
# module loggers (notifications.*) propagate to it and share its JSON format and correlation id.
TELEMETRY = telemetry()


@functools.cache
def idempotency_config() -> IdempotencyConfig:
    from notifications.notifier import email_idempotency_config

    return email_idempotency_config()


def send_within_invocation(context: LambdaContext) -> None:
    """Hands each invocation to the idempotency config: a send interrupted by a timeout then blocks
    its retries only until this invocation's deadline, not for the whole record lifetime."""
    idempotency_config().register_lambda_context(context)


@functools.cache
def sent_emails() -> SentEmailsTable:
    return SentEmailsTable(dynamodb_table(os.environ["SENT_EMAILS_TABLE"]))


@functools.cache
def customer_notifier() -> CustomerNotifier:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    from notifications.mailer import SesMailer
    from notifications.notifier import CustomerNotifier

    return CustomerNotifier(
        mailer=SesMailer(
            sender=os.environ["SENDER_EMAIL"], configuration_set=os.environ["SES_CONFIGURATION_SET"]
        ),
        publisher=EventPublisher(),
        sent_emails=sent_emails(),
        persistence_store=DynamoDBPersistenceLayer(
            table_name=os.environ["IDEMPOTENCY_TABLE"], boto3_client=client("dynamodb")
        ),
        config=idempotency_config(),
    )


CACHED = (sent_emails, customer_notifier)
"""The objects above that hold AWS clients, for tests that build them afresh in each fake AWS."""
