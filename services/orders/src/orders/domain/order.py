"""An order as the API accepts it and as the Orders table stores it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import ConfigDict, Field

from orderflow_shared.contracts.base import Contract
from orderflow_shared.contracts.values import Customer, OrderItem, ShippingAddress
from orders.domain.status import OrderStatus

MAX_ORDER_LINES = 50


class PaymentDetails(Contract):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=255, description="Payment provider token, e.g. tok_visa")


class PlaceOrderRequest(Contract):
    """The body of POST /orders. Prices are not accepted: they come from the catalogue."""

    model_config = ConfigDict(extra="forbid")

    customer: Customer
    items: list[OrderItem] = Field(min_length=1, max_length=MAX_ORDER_LINES)
    payment: PaymentDetails
    shipping_address: ShippingAddress


def new_order_id() -> str:
    return str(uuid.uuid4())


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_order_record(order_id: str, request: PlaceOrderRequest, created_at: str) -> dict[str, Any]:
    """The Orders table item for a just-received order (the payment token is never stored)."""
    return {
        "orderId": order_id,
        "customerId": request.customer.id,
        "items": [item.to_wire() for item in request.items],
        "status": OrderStatus.RECEIVED.value,
        "statusRank": OrderStatus.RECEIVED.rank,
        "history": {OrderStatus.RECEIVED.value: created_at},
        "createdAt": created_at,
    }


def workflow_input(order_id: str, request: PlaceOrderRequest) -> dict[str, Any]:
    """The order saga's execution input: everything the steps need, nothing they do not."""
    return {"orderId": order_id, **request.to_wire()}
