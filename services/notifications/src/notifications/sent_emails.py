"""The sent-emails table: (order id, category) -> the message SES reported sending for it.

Filled from SES's "Email Sent" events, never by the code that sends: it records what SES did,
so a send whose outcome is unknown (the function died after SES accepted the email and before
Powertools recorded the result) is settled by looking here, as payments settles an unknown charge
by searching the provider's charges. The first report per key wins, by a conditional put; a report
of another message for a key already taken means a second email reached the customer.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

from botocore.exceptions import ClientError

from notifications.ses_events import SentEmailReport
from orderflow_shared.contracts.notifications import NotificationKind

_CONDITION_FAILED = "ConditionalCheckFailedException"


class Recorded(Enum):
    FIRST = "first"  # the first email of its key: now the answer for every later send
    AGAIN = "again"  # a report seen before (EventBridge and SQS deliver at least once)
    DUPLICATE = "duplicate"  # another email of a key already taken, reported for the first time


@dataclass(frozen=True)
class Recording:
    outcome: Recorded
    first_message_id: str | None  # the key's first email, when the report is not the one seen again


class SentEmailsTable:
    def __init__(self, table: Any) -> None:
        self._table = table

    def lookup(self, order_id: str, category: str) -> SentEmailReport | None:
        """The email SES reported for the key, if any. Strongly consistent: a report recorded
        before the call is always seen."""
        item = self._table.get_item(Key=_key(order_id, category), ConsistentRead=True).get("Item")
        if item is None:
            return None
        return SentEmailReport(
            order_id=order_id,
            category=category,
            kind=NotificationKind(item["kind"]),
            message_id=str(item["messageId"]),
        )

    def record(self, email: SentEmailReport) -> Recording:
        try:
            self._table.put_item(
                Item={
                    **_key(email.order_id, email.category),
                    "messageId": email.message_id,
                    "kind": email.kind.value,
                },
                ConditionExpression="attribute_not_exists(orderId)",
            )
            return Recording(Recorded.FIRST, email.message_id)
        except ClientError as error:
            if error.response["Error"]["Code"] != _CONDITION_FAILED:
                raise
        return self._record_duplicate(email)

    def _record_duplicate(self, email: SentEmailReport) -> Recording:
        # Each duplicate is added to the item once, so a redelivered report is not counted again.
        try:
            attributes = self._table.update_item(
                Key=_key(email.order_id, email.category),
                UpdateExpression="ADD duplicateMessageIds :ids",
                ConditionExpression="messageId <> :id AND NOT contains(duplicateMessageIds, :id)",
                ExpressionAttributeValues={":id": email.message_id, ":ids": {email.message_id}},
                ReturnValues="ALL_NEW",
            )["Attributes"]
            return Recording(Recorded.DUPLICATE, str(attributes["messageId"]))
        except ClientError as error:
            if error.response["Error"]["Code"] != _CONDITION_FAILED:
                raise
        return Recording(Recorded.AGAIN, None)


def _key(order_id: str, category: str) -> dict[str, str]:
    return {"orderId": order_id, "category": category}
