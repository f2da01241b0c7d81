"""Events published by the inventory service."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from orderflow_shared.contracts.base import Contract, Event
from orderflow_shared.contracts.values import OrderItem, PricedOrder

SOURCE = "orderflow.inventory"


class StockReserved(Event):
    """Stock for every line of the order is held, in answer to ReserveStock; carries the order priced
    from the inventory catalogue.
    """

    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "StockReserved"
    data: PricedOrder


class StockMovementData(Contract):
    items: list[OrderItem] = Field(min_length=1)


class StockReleased(Event):
    """Compensation done: after OrderPaymentFailed (or OrderOutOfStock, when a late reservation held
    stock) the order's reserved units went back to available stock.
    """

    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "StockReleased"
    data: StockMovementData


class StockCommitted(Event):
    """After PaymentSucceeded, the paid order's reservation became final: the units left the
    warehouse's books.
    """

    SOURCE: ClassVar[str] = SOURCE
    DETAIL_TYPE: ClassVar[str] = "StockCommitted"
    data: StockMovementData
