"""Events published by the payments service."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

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


class PaymentRefundedData(Contract):
    payment_id: str = Field(description="The provider's id of the charge that was refunded")
    refund_id: str = Field(description="The provider's id of the refund")
    amount: MinorUnits
    currency: CurrencyCode
    reason: str = Field(description="Why the charge was given back, e.g. the order failed after payment")


class PaymentRefunded(Event):
    """A charge taken for an order that then failed was given back in full, so the order's net charge
    is zero. Published once per refunded charge, after the provider confirmed the refund.
    """

    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "PaymentRefunded"
    data: PaymentRefundedData
