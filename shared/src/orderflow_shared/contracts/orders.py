"""Events published by the orders service: the order workflow's commands and lifecycle outcomes."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from orderflow_shared.contracts.base import Command, Contract, Event
from orderflow_shared.contracts.values import (
    CurrencyCode,
    Customer,
    MinorUnits,
    OrderItem,
    PricedOrder,
    ShippingAddress,
)

SOURCE = "orderflow.orders"


# --- lifecycle facts -------------------------------------------------------------------------


class OrderReceivedData(Contract):
    customer_id: str
    items: list[OrderItem] = Field(min_length=1)


class OrderReceived(Event):
    """The workflow has started for a new order (its first state publishes this)."""

    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "OrderReceived"
    data: OrderReceivedData


class OrderFailureData(Contract):
    customer: Customer
    error: str = Field(description="The typed error that ended the order, e.g. OutOfStock")
    reason: str = Field(description="Human-readable cause, safe to show the customer")


class OrderOutOfStock(Event):
    """Compensation: stock could not be reserved; the order ends OUT_OF_STOCK."""

    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "OrderOutOfStock"
    data: OrderFailureData


class OrderPaymentFailed(Event):
    """Compensation: payment failed for good; the reservation must be released."""

    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "OrderPaymentFailed"
    data: OrderFailureData


class OrderCompletedData(Contract):
    total_amount: MinorUnits
    currency: CurrencyCode
    invoice_url: str


class OrderCompleted(Event):
    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "OrderCompleted"
    data: OrderCompletedData


# --- workflow commands (answered with SendTaskSuccess / SendTaskFailure) ---------------------


class ReserveStockData(Contract):
    items: list[OrderItem] = Field(min_length=1)


class ReserveStock(Command):
    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "ReserveStock"
    data: ReserveStockData


class ProcessPaymentData(Contract):
    customer_id: str
    amount: MinorUnits
    currency: CurrencyCode
    payment_token: str = Field(min_length=1, repr=False)


class ProcessPayment(Command):
    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "ProcessPayment"
    data: ProcessPaymentData


class PaymentResult(Contract):
    payment_id: str


class GenerateInvoiceData(Contract):
    customer: Customer
    shipping_address: ShippingAddress
    order: PricedOrder
    payment_id: str


class GenerateInvoice(Command):
    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "GenerateInvoice"
    data: GenerateInvoiceData


class InvoiceResult(Contract):
    invoice_number: str
    invoice_url: str


class SendConfirmationData(Contract):
    customer: Customer
    shipping_address: ShippingAddress
    order: PricedOrder
    invoice_url: str


class SendConfirmation(Command):
    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "SendConfirmation"
    data: SendConfirmationData


class ConfirmationResult(Contract):
    message_id: str
