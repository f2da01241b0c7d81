"""One order of a failure-path test, with a SKU and a customer of its own for faults and checks."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from orderflow_local import faults
from tests.support.guarantees import OrderUnderTest, wait_for_guarantees
from tests.support.local_stack import LocalStack, http
from tests.support.saga import get_order, new_sku, order_body, place_order, stock, wait_for_terminal


@dataclass
class Scenario:
    stack: LocalStack
    sku: str = field(default_factory=new_sku)
    customer_id: str = field(default_factory=lambda: f"cust-{uuid.uuid4().hex[:12]}")
    order_id: str = ""

    @property
    def email(self) -> str:
        return f"{self.customer_id}@example.com"

    def stock(self, available: int = 10, unit_price: int = 2500) -> Scenario:
        stock(self.stack, self.sku, available, unit_price)
        return self

    def body(self, token: str = "tok_visa", quantity: int = 2) -> dict[str, Any]:
        return order_body(self.sku, quantity, token, self.email, self.customer_id)

    def place(self, token: str = "tok_visa", quantity: int = 2, headers: dict[str, str] | None = None) -> str:
        self.order_id = str(place_order(self.stack, self.body(token, quantity), headers)["orderId"])
        return self.order_id

    def arm(self, *armed: dict[str, Any]) -> None:
        faults.arm(self.stack.fault_plan, *armed)

    def add(self, *more: dict[str, Any]) -> None:
        """Adds faults to the plan, keeping those armed already (and how often they fired)."""
        faults.write_plan(self.stack.fault_plan, [*faults.load_plan(self.stack.fault_plan), *more])

    def fired(self, fault_id: str) -> int:
        return faults.fired(self.stack.fault_plan, fault_id)

    def terminal(self, timeout: float = 90) -> dict[str, Any]:
        return wait_for_terminal(self.stack, self.order_id, timeout)

    def order(self) -> dict[str, Any]:
        response = get_order(self.stack, self.order_id)
        assert response.status == 200, response.body
        return dict(response.json())

    def guarantees_hold(self, timeout: float = 60) -> None:
        wait_for_guarantees(self.stack, [OrderUnderTest(self.order_id, (self.sku,))], timeout)

    def ledger(self) -> dict[str, Any]:
        response = http("GET", f"{self.stack.payment_provider_url}/__admin/ledger/{self.order_id}")
        assert response.status == 200, response.body
        return dict(response.json())
