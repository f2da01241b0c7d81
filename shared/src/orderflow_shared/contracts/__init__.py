"""Every event of the system, as pydantic models (the single source of the contracts)."""

from orderflow_shared.contracts.base import Command, Contract, Event, EventMetadata
from orderflow_shared.contracts.inventory import StockCommitted, StockReleased, StockReserved
from orderflow_shared.contracts.invoicing import InvoiceGenerated
from orderflow_shared.contracts.notifications import CustomerNotified, NotificationKind
from orderflow_shared.contracts.orders import (
    GenerateInvoice,
    OrderCompleted,
    OrderFailed,
    OrderOutOfStock,
    OrderPaymentFailed,
    OrderReceived,
    ProcessPayment,
    ReserveStock,
    SendConfirmation,
)
from orderflow_shared.contracts.payments import PaymentRefunded, PaymentSucceeded

ALL_EVENTS: tuple[type[Event], ...] = (
    OrderReceived,
    ReserveStock,
    ProcessPayment,
    GenerateInvoice,
    SendConfirmation,
    OrderOutOfStock,
    OrderPaymentFailed,
    OrderFailed,
    OrderCompleted,
    StockReserved,
    StockReleased,
    StockCommitted,
    PaymentSucceeded,
    PaymentRefunded,
    InvoiceGenerated,
    CustomerNotified,
)

__all__ = [
    "ALL_EVENTS",
    "Command",
    "Contract",
    "CustomerNotified",
    "Event",
    "EventMetadata",
    "GenerateInvoice",
    "InvoiceGenerated",
    "NotificationKind",
    "OrderCompleted",
    "OrderFailed",
    "OrderOutOfStock",
    "OrderPaymentFailed",
    "OrderReceived",
    "PaymentRefunded",
    "PaymentSucceeded",
    "ProcessPayment",
    "ReserveStock",
    "SendConfirmation",
    "StockCommitted",
    "StockReleased",
    "StockReserved",
]
