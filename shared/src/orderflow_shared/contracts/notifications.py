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


class CustomerNotifiedData(Contract):
    kind: NotificationKind
    message_id: str


class CustomerNotified(Event):
    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "CustomerNotified"
    data: CustomerNotifiedData
