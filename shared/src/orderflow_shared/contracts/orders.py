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
    """A new order was accepted (POST /orders) and its workflow started: the first event of every order."""

    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "OrderReceived"
    data: OrderReceivedData


class OrderFailureData(Contract):
    customer: Customer
    error: str = Field(description="The typed error that ended the order, e.g. OutOfStock")
    reason: str = Field(description="Human-readable cause, safe to show the customer")


class OrderOutOfStock(Event):
    """Compensation: stock could not be reserved, or inventory did not answer in time; the order ends
    OUT_OF_STOCK. The customer is told, and inventory releases anything a late reservation held.
    """

    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "OrderOutOfStock"
    data: OrderFailureData


class OrderPaymentFailed(Event):
    """Compensation: payment failed for good (declined, the provider still unavailable after retries,
    or no answer in time); the order ends PAYMENT_FAILED. Inventory releases the reservation and the
    customer is told.
    """

    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "OrderPaymentFailed"
    data: OrderFailureData


class OrderFailed(Event):
    """Compensation: the order failed for a reason the workflow did not foresee (a step that kept
    faulting, an execution that failed or timed out); the order ends FAILED. Inventory releases
    anything reserved, payments refunds anything charged, and the customer is told.
    """

    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "OrderFailed"
    data: OrderFailureData


class OrderCompletedData(Contract):
    total_amount: MinorUnits
    currency: CurrencyCode
    invoice_url: str


class OrderCompleted(Event):
    """The order is done: paid, invoiced and confirmed to the customer. The last event of a successful
    order.
    """

    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "OrderCompleted"
    data: OrderCompletedData


# --- workflow commands (answered with SendTaskSuccess / SendTaskFailure) ---------------------


class ReserveStockData(Contract):
    items: list[OrderItem] = Field(min_length=1)


class ReserveStock(Command):
    """Workflow command to inventory, right after OrderReceived: hold stock for every line. Answered
    through its task token with the priced order and its total sealed for payments (ReservedOrder),
    or failed with OutOfStock.
    """

    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "ReserveStock"
    data: ReserveStockData


class ProcessPaymentData(Contract):
    customer_id: str
    amount: MinorUnits
    currency: CurrencyCode
    payment_token: str = Field(
        min_length=1,
        repr=False,
        description=(
            "The customer's payment token sealed for payments by the orders API: base64 of its "
            "AES-GCM ciphertext under a data key of the payment-token KMS key, bound to the order id "
            "(orderflow_shared.payment_tokens)"
        ),
    )
    # Optional in the schema, so that version 1 stays compatible; payments refuses a command without it.
    priced_reservation: str | None = Field(
        default=None,
        min_length=1,
        repr=False,
        description=(
            "The order's total as inventory reserved it, sealed by inventory for payments "
            "(ReserveStock's answer, orderflow_shared.priced_reservations): payments charges only "
            "the amount and currency sealed in it, and refuses a command without it"
        ),
    )


class ProcessPayment(Command):
    """Workflow command to payments, once stock is reserved: charge the order's total. Answered with
    the payment id, or failed with PaymentDeclined or PaymentProviderUnavailable (retried first);
    a command whose amount disagrees with the total inventory sealed for the order, or whose seal or
    token was not sealed for the order, is failed with PaymentCommandRefused, and nothing is charged.
    """

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
    """Workflow command to invoicing, once the payment succeeded: issue the invoice. Answered with
    the invoice number and its download link.
    """

    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "GenerateInvoice"
    data: GenerateInvoiceData


class InvoiceResult(Contract):
    """Invoicing's answer to GenerateInvoice. With the confirmation sent it is also the saga's
    output, from which the orders service announces OrderCompleted: hence the invoiced total."""

    invoice_number: str
    invoice_url: str
    total_amount: MinorUnits
    currency: CurrencyCode


class SendConfirmationData(Contract):
    customer: Customer
    shipping_address: ShippingAddress
    order: PricedOrder
    invoice_url: str


class SendConfirmation(Command):
    """Workflow command to notifications, once the invoice exists: email the customer the order
    confirmation with the invoice link and delivery details. Answered with the email's message id.
    """

    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "SendConfirmation"
    data: SendConfirmationData


class ConfirmationResult(Contract):
    message_id: str
