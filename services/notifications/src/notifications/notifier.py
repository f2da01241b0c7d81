"""Emailing a customer exactly once per order and category of email, then saying so on the bus.

The categories are the confirmation and the failure notice: an order that failed gets one failure
email even when two compensations reach us (an OrderPaymentFailed, then an OrderFailed from the
execution that could not finish), and the second one reports the email the customer already got.

Two lines keep an email from going out twice, since SES has no idempotency key:

1. Powertools idempotency on (order id, category) answers every later delivery with the first
   send's result, cheaply, once that send has recorded it.
2. SES's own report of each email it accepted, the sent-emails table (see ``sent_emails``), settles
   what Powertools cannot know: a send whose function died after SES accepted the email and before
   the result was recorded. Its idempotency record stays in progress until that invocation's
   deadline (the function's timeout, 30 s) and then expires. A delivery that meets the record in
   progress looks the key up, and so does every send before calling SES: an email SES reported is
   answered with its message id and not sent again.

What remains: a later attempt may send again only once the dead invocation's deadline has passed,
the function's timeout (30 s) after it started. So an email goes out twice only if SES's "Email
Sent" event of the first send is slower than the function timeout to reach the sent-emails table
(it is delivered best effort: a lost event counts as slower). A duplicate that gets out is reported
by SES too, and the sent-emails consumer logs it as an error and counts ``DuplicateEmails``.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from notifications.emails import EmailContent
from notifications.mailer import SesMailer
from notifications.sent_emails import SentEmailsTable
from notifications.ses_events import SentEmailReport, email_tags
from orderflow_shared.contracts.notifications import CustomerNotified, CustomerNotifiedData, NotificationKind
from orderflow_shared.publisher import EventPublisher

if TYPE_CHECKING:
    # Imported where a notifier is built and runs, not with this module: Powertools' idempotency
    # utility loads boto3, and the handlers that import this module for its email model load boto3
    # only with their first AWS client.
    from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer, IdempotencyConfig

logger = logging.getLogger(__name__)

# Long enough to outlive every redelivery: SQS retries, then a redrive from the 14-day DLQ.
REMEMBER_SENT_EMAILS_SECONDS = 14 * 24 * 3600

# Stable across renames of the function and of the Lambda, so that old records still match.
_IDEMPOTENCY_KEY_PREFIX = "customer-email"


def email_idempotency_config() -> IdempotencyConfig:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

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

    @classmethod
    def reported(cls, report: SentEmailReport) -> SentEmail:
        return cls(message_id=report.message_id, kind=report.kind)


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
        sent_emails: SentEmailsTable,
        persistence_store: BasePersistenceLayer,
        config: IdempotencyConfig,
    ) -> None:
        from aws_lambda_powertools.utilities.idempotency import idempotent_function

        self._mailer = mailer
        self._publisher = publisher
        self._sent_emails = sent_emails
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
        sent = self._send_or_find(email)
        self._publisher.publish(
            CustomerNotified.create(
                email.order_id, CustomerNotifiedData(kind=sent.kind, message_id=sent.message_id)
            )
        )
        return sent.message_id

    def _send_or_find(self, email: CustomerEmail) -> SentEmail:
        from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

        try:
            return SentEmail.model_validate(self._send_once(email=email))
        except IdempotencyAlreadyInProgressError:
            # Another delivery is sending this email, or died after SES accepted it (its record stays
            # in progress until its deadline): an unknown outcome, which SES's report settles. None
            # yet is no proof that nothing was sent, so the delivery fails and is tried again.
            reported = self._sent_emails.lookup(email.order_id, email.category)
            if reported is None:
                raise
            logger.info("email in progress elsewhere already sent", extra={"message_id": reported.message_id})
            return SentEmail.reported(reported)

    def _send(self, email: CustomerEmail) -> dict[str, str]:
        # Powertools forgets a send whose invocation died before recording the result (once that
        # invocation's deadline has passed), and every send after REMEMBER_SENT_EMAILS_SECONDS;
        # SES reported the email if it accepted it.
        reported = self._sent_emails.lookup(email.order_id, email.category)
        if reported is not None:
            logger.warning(
                "email already sent, as SES reported; not sent again",
                extra={"message_id": reported.message_id},
            )
            return SentEmail.reported(reported).model_dump(mode="json")
        content = EmailContent(subject=email.subject, text=email.text, html=email.html)
        tags = email_tags(email.order_id, email.category, email.kind)
        message_id = self._mailer.send(email.recipient, content, tags)
        return SentEmail(message_id=message_id, kind=email.kind).model_dump(mode="json")
