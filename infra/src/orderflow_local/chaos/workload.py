"""A scenario's orders: a seeded mix of SKUs, customers, lines and payment tokens, and placing them.

Everything is drawn from the scenario's own random generator, so one seed gives the same orders
every run. Each order has a customer of its own (faults and checks can target it by id) and an
Idempotency-Key, so the client retries a 5xx or a dropped connection the way a real client would,
landing on the same order.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from orderflow_local.launcher import LocalStack, http
from orderflow_local.tokens import Identity, customer, operator

# Weights of the provider's test tokens: mostly good cards, every failure mode present.
TOKEN_WEIGHTS: dict[str, int] = {
    "tok_visa": 8,
    "tok_declined": 1,
    "tok_unavailable": 1,
    "tok_flaky": 1,
    "tok_error_after_charge": 1,
    "tok_error_before_charge": 1,
    "tok_dropped_after_charge": 1,
    "tok_timeout_after_charge": 1,
    "tok_slow_charge": 1,
}
SHIPPING_ADDRESS = {
    "name": "Chaos Tester",
    "line1": "1 Fault Line",
    "city": "Lisbon",
    "postalCode": "1100",
    "country": "PT",
}
# How long a client keeps retrying one order (a crashed API call is "in progress" for the function's timeout).
CLIENT_PATIENCE_SECONDS = 90


@dataclass(frozen=True)
class StockedSku:
    sku: str
    available: int
    unit_price: int


@dataclass(frozen=True)
class PlannedOrder:
    customer_id: str
    lines: tuple[tuple[str, int], ...]
    token: str

    @property
    def customer(self) -> Identity:
        return customer(self.customer_id, f"{self.customer_id}@example.com")

    def body(self) -> dict[str, Any]:
        return {
            "customer": {"id": self.customer.username, "email": self.customer.email},
            "items": [{"sku": sku, "quantity": quantity} for sku, quantity in self.lines],
            "payment": {"token": self.token},
            "shippingAddress": SHIPPING_ADDRESS,
        }


@dataclass(frozen=True)
class WorkloadShape:
    orders: int = 12
    scarce_skus: int = 1
    scarce_units: int = 4
    plentiful_skus: int = 3
    plentiful_units: int = 50
    max_lines: int = 3
    max_quantity: int = 2
    tokens: dict[str, int] = field(default_factory=lambda: dict(TOKEN_WEIGHTS))
    concurrency: int = 4


@dataclass(frozen=True)
class Workload:
    skus: tuple[StockedSku, ...]
    orders: tuple[PlannedOrder, ...]
    concurrency: int


def plan_workload(rng: random.Random, prefix: str, shape: WorkloadShape) -> Workload:
    """``prefix`` keeps names apart between scenarios (upper case: SKUs are upper case)."""
    skus = tuple(
        StockedSku(f"{prefix}-S{index}", shape.scarce_units, rng.randrange(500, 5000))
        for index in range(shape.scarce_skus)
    ) + tuple(
        StockedSku(f"{prefix}-P{index}", shape.plentiful_units, rng.randrange(500, 5000))
        for index in range(shape.plentiful_skus)
    )
    names, weights = list(shape.tokens), list(shape.tokens.values())
    orders = []
    for index in range(shape.orders):
        chosen = rng.sample(skus, k=rng.randint(1, min(shape.max_lines, len(skus))))
        lines = tuple((item.sku, rng.randint(1, shape.max_quantity)) for item in chosen)
        orders.append(PlannedOrder(f"{prefix.lower()}-c{index:03d}", lines, rng.choices(names, weights)[0]))
    return Workload(skus, tuple(orders), shape.concurrency)


def stock_skus(stack: LocalStack, skus: Sequence[StockedSku]) -> None:
    for item in skus:
        body = {"available": item.available, "unitPrice": item.unit_price, "currency": "USD"}
        response = http("PUT", f"{stack.api_url}/inventory/{item.sku}", body, stack.signed_in(operator()))
        if response.status != 200:
            raise RuntimeError(f"stocking {item.sku} failed: {response.status} {response.body!r}")


@dataclass(frozen=True)
class Placed:
    order: PlannedOrder
    order_id: str | None  # None: the API never accepted it
    attempts: int
    last_status: int


def place_orders(stack: LocalStack, workload: Workload) -> list[Placed]:
    for order in workload.orders:  # signed in up front: the orders then arrive together
        stack.signed_in(order.customer)
    with ThreadPoolExecutor(max_workers=workload.concurrency) as pool:
        return list(pool.map(lambda order: place(stack, order), workload.orders))


def place(stack: LocalStack, order: PlannedOrder) -> Placed:
    """POST /orders as a patient client: a 5xx, a 409 (the same key in progress) or a dropped
    connection is retried with the same Idempotency-Key; any other answer is final."""
    headers = {"Idempotency-Key": f"{order.customer_id}-first", **stack.signed_in(order.customer)}
    deadline = time.monotonic() + CLIENT_PATIENCE_SECONDS
    attempts, status = 0, 0
    while time.monotonic() < deadline:
        attempts += 1
        try:
            response = http("POST", f"{stack.api_url}/orders", order.body(), headers)
        except OSError:
            time.sleep(1)
            continue
        status = response.status
        if status == 201:
            return Placed(order, str(response.json()["orderId"]), attempts, status)
        if status != 409 and status < 500:
            break
        time.sleep(1)
    return Placed(order, None, attempts, status)
