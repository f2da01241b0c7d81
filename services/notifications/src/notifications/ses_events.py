"""SES's own report of each email it accepted: the tags we give an email, and its "Email Sent" event.

Every customer email is sent with the configuration set whose event destination puts SES's ``SEND``
events on the account's default bus: ``source`` ``aws.ses``, ``detail-type`` ``Email Sent``, and a
``detail`` of ``{"eventType": "Send", "mail": {...}, "send": {}}`` in which ``mail`` carries the
``messageId``, the ``timestamp`` and every tag as a list of values (SES's own ``ses:*`` tags and
ours). Our tags name the email's identity, so the event tells which (order, category) got which
message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field

from orderflow_shared.contracts.notifications import NotificationKind
from orderflow_shared.observability import trace_header_from_tags, trace_tags

EMAIL_SENT: Final = ("aws.ses", "Email Sent")

ORDER_ID_TAG: Final = "order_id"
CATEGORY_TAG: Final = "category"
# The kind says what the email told the customer, so that a later duplicate can be answered with it.
KIND_TAG: Final = "kind"


def email_tags(order_id: str, category: str, kind: NotificationKind) -> dict[str, str]:
    """The SES message tags of one customer email (values SES accepts: letters, digits, '_', '-')."""
    # The sender's trace header too, so the "Email Sent" event continues the order's trace.
    return {ORDER_ID_TAG: order_id, CATEGORY_TAG: category, KIND_TAG: kind.value, **trace_tags()}


@dataclass(frozen=True)
class SentEmailReport:
    """One email SES accepted for an (order, category)."""

    order_id: str
    category: str
    kind: NotificationKind
    message_id: str
    trace_header: str | None = None  # the sender's, from the email's tags


class UntaggedEmail(ValueError):
    """An email SES reported without our tags: not one of the customer emails this service sends."""


class _Mail(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    message_id: str = Field(alias="messageId")
    timestamp: datetime
    tags: dict[str, list[str]] = Field(default_factory=dict)


class _SendDetail(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    event_type: str = Field(alias="eventType")
    mail: _Mail


def sent_email_report(detail: Any) -> SentEmailReport:
    """The email an "Email Sent" event reports; UntaggedEmail if it lacks our tags."""
    parsed = _SendDetail.model_validate(detail)
    if parsed.event_type != "Send":
        raise ValueError(f"not a Send event: {parsed.event_type!r}")
    tags = parsed.mail.tags
    missing = [name for name in (ORDER_ID_TAG, CATEGORY_TAG, KIND_TAG) if len(tags.get(name, [])) != 1]
    if missing:
        raise UntaggedEmail(f"message {parsed.mail.message_id} has no single {', '.join(missing)} tag")
    return SentEmailReport(
        order_id=tags[ORDER_ID_TAG][0],
        category=tags[CATEGORY_TAG][0],
        kind=NotificationKind(tags[KIND_TAG][0]),
        message_id=parsed.mail.message_id,
        trace_header=trace_header_from_tags(
            {name: values[0] for name, values in tags.items() if len(values) == 1}
        ),
    )
