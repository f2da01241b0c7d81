"""Placing and reading orders: the use cases behind the orders API."""

from __future__ import annotations

from typing import Any

from orders.domain.order import PlaceOrderRequest, new_order_id, new_order_record, now_iso, workflow_input
from orders.domain.status import ordered_history
from orders.repository import OrdersRepository
from orders.workflow import OrderWorkflow


class OrderNotAcceptedError(RuntimeError):
    """The order could not be started; nothing of it was kept."""


class OrdersService:
    def __init__(self, repository: OrdersRepository, workflow: OrderWorkflow) -> None:
        self._repository = repository
        self._workflow = workflow

    def place_order(self, request: PlaceOrderRequest) -> dict[str, Any]:
        """Stores the order as RECEIVED and starts its saga: both happen, or neither is kept."""
        order_id = new_order_id()
        record = new_order_record(order_id, request, now_iso())
        self._repository.create(record)
        try:
            self._workflow.start(order_id, workflow_input(order_id, request))
        except Exception as error:
            # No half-written order: without a running saga nothing would ever move it.
            self._repository.delete(order_id)
            raise OrderNotAcceptedError(f"order {order_id} could not be started") from error
        return order_view(record)

    def get_order(self, order_id: str) -> dict[str, Any] | None:
        record = self._repository.get(order_id)
        return order_view(record) if record else None


def order_view(record: dict[str, Any]) -> dict[str, Any]:
    """The public representation of an order (GET /orders/{orderId} and POST's answer)."""
    view: dict[str, Any] = {
        "orderId": record["orderId"],
        "status": record["status"],
        "customerId": record["customerId"],
        "items": [{"sku": item["sku"], "quantity": int(item["quantity"])} for item in record["items"]],
        "totalAmount": _int_or_none(record.get("totalAmount")),
        "currency": record.get("currency"),
        "createdAt": record["createdAt"],
        "history": ordered_history(record.get("history", {})),
    }
    for optional in ("invoiceUrl", "invoiceNumber", "failureReason"):
        if optional in record:
            view[optional] = record[optional]
    return view


def _int_or_none(value: Any) -> int | None:
    # DynamoDB hands numbers back as Decimal.
    return None if value is None else int(value)
