"""What the handlers share, built once per container from the function's environment."""

from __future__ import annotations

import functools
import os

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

from notifications.mailer import SesMailer
from notifications.notifier import CustomerNotifier, email_idempotency_config
from notifications.sent_emails import SentEmailsTable
from orderflow_shared.aws import client, dynamodb_table
from orderflow_shared.publisher import EventPublisher

# Module level so each handler can hand it the Lambda context: a send interrupted by a timeout
# then blocks its retries only until the invocation's deadline, not for the whole record lifetime.
IDEMPOTENCY_CONFIG = email_idempotency_config()


@functools.cache
def sent_emails() -> SentEmailsTable:
    return SentEmailsTable(dynamodb_table(os.environ["SENT_EMAILS_TABLE"]))


@functools.cache
def customer_notifier() -> CustomerNotifier:
    return CustomerNotifier(
        mailer=SesMailer(
            sender=os.environ["SENDER_EMAIL"], configuration_set=os.environ["SES_CONFIGURATION_SET"]
        ),
        publisher=EventPublisher(),
        sent_emails=sent_emails(),
        persistence_store=DynamoDBPersistenceLayer(
            table_name=os.environ["IDEMPOTENCY_TABLE"], boto3_client=client("dynamodb")
        ),
        config=IDEMPOTENCY_CONFIG,
    )
