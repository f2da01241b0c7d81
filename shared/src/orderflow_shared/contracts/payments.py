"""Events published by the payments service."""

from __future__ import annotations

from typing import ClassVar

from orderflow_shared.contracts.base import Contract, Event
from orderflow_shared.contracts.values import CurrencyCode, MinorUnits

SOURCE = "orderflow.payments"


class PaymentSucceededData(Contract):
    payment_id: str
    amount: MinorUnits
    currency: CurrencyCode


class PaymentSucceeded(Event):
    """The customer was charged the order's total, in answer to ProcessPayment. Inventory then
    commits the order's reservation.
    """

    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "PaymentSucceeded"
    data: PaymentSucceededData
