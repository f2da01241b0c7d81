"""Emailing a customer exactly once per order and category of email, then saying so on the bus.

The categories are the confirmation and the failure notice: an order that failed gets one failure
email even when two compensations reach us (an OrderPaymentFailed, then an OrderFailed from the
execution that could not finish), and the second one reports the email the customer already got.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from aws_lambda_powertools.utilities.idempotency import (
    BasePersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from pydantic import BaseModel, ConfigDict

from notifications.emails import EmailContent
from notifications.mailer import SesMailer
from orderflow_shared.contracts.notifications import CustomerNotified, CustomerNotifiedData, NotificationKind
from orderflow_shared.publisher import EventPublisher

# Long enough to outlive every redelivery: SQS retries, then a redrive from the 14-day DLQ.
REMEMBER_SENT_EMAILS_SECONDS = 14 * 24 * 3600

# Stable across renames of the function and of the Lambda, so that old records still match.
_IDEMPOTENCY_KEY_PREFIX = "customer-email"


def email_idempotency_config() -> IdempotencyConfig:
    return IdempotencyConfig(
        event_key_jmespath="[order_id, category]",
        raise_on_no_idempotency_key=True,
        expires_after_seconds=REMEMBER_SENT_EMAILS_SECONDS,
    )


class EmailCategory(StrEnum):
    CONFIRMATION = "confirmation"
    FAILURE = "failure"


def category_of(kind: NotificationKind) -> EmailCategory:
    return EmailCategory.CONFIRMATION if kind is NotificationKind.CONFIRMATION else EmailCategory.FAILURE


class SentEmail(BaseModel):
    """What the first send of an email recorded: the answer every duplicate gets."""

    message_id: str
    kind: NotificationKind


class CustomerEmail(BaseModel):
    """One email to one customer; its identity is (order_id, category), whatever its text says."""

    model_config = ConfigDict(frozen=True)

    order_id: str
    kind: NotificationKind
    category: EmailCategory
    recipient: str
    subject: str
    text: str
    html: str

    @classmethod
    def of(
        cls, order_id: str, kind: NotificationKind, recipient: str, content: EmailContent
    ) -> CustomerEmail:
        return cls(
            order_id=order_id,
            kind=kind,
            category=category_of(kind),
            recipient=recipient,
            subject=content.subject,
            text=content.text,
            html=content.html,
        )


class CustomerNotifier:
    def __init__(
        self,
        mailer: SesMailer,
        publisher: EventPublisher,
        persistence_store: BasePersistenceLayer,
        config: IdempotencyConfig,
    ) -> None:
        self._mailer = mailer
        self._publisher = publisher
        send_once: Any = idempotent_function(
            data_keyword_argument="email",
            persistence_store=persistence_store,
            config=config,
            key_prefix=_IDEMPOTENCY_KEY_PREFIX,
        )(self._send)
        self._send_once = send_once

    def notify(self, email: CustomerEmail) -> str:
        """Sends ``email`` unless one of its category was sent already, publishes CustomerNotified,
        returns the message id.

        A duplicate gets the first send's message id and kind, so the workflow and subscribers
        see the one email the customer received.
        """
        sent = SentEmail.model_validate(self._send_once(email=email))
        self._publisher.publish(
            CustomerNotified.create(
                email.order_id, CustomerNotifiedData(kind=sent.kind, message_id=sent.message_id)
            )
        )
        return sent.message_id

    def _send(self, email: CustomerEmail) -> dict[str, str]:
        content = EmailContent(subject=email.subject, text=email.text, html=email.html)
        message_id = self._mailer.send(email.recipient, content)
        return SentEmail(message_id=message_id, kind=email.kind).model_dump(mode="json")
