"""Events published by the notifications service."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from orderflow_shared.contracts.base import Contract, Event

SOURCE = "orderflow.notifications"


class NotificationKind(StrEnum):
    CONFIRMATION = "CONFIRMATION"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    FAILED = "FAILED"


class CustomerNotifiedData(Contract):
    kind: NotificationKind
    message_id: str


class CustomerNotified(Event):
    """An email to the customer was accepted for delivery: the order confirmation (kind
    CONFIRMATION, in answer to SendConfirmation) or the news that the order failed (OUT_OF_STOCK
    after OrderOutOfStock, PAYMENT_FAILED after OrderPaymentFailed, FAILED after OrderFailed). A
    failed order gets one failure email, whichever of those compensations reached notifications.
    """

    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "CustomerNotified"
    data: CustomerNotifiedData
