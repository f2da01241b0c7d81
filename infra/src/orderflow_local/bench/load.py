"""Orders through the public API at a fixed concurrency, with clients that wait for each order like a user.

Each client is closed-loop: it places an order (POST /orders), polls GET /orders/{orderId} until
the order reaches a final status, then places the next. What it records: when it posted, when it
first saw the final status, and the order's own history (when each status was reached).
"""

from __future__ import annotations

import dataclasses
import datetime
import itertools
import random
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol

from orderflow_local.aws_server import observer_client
from orderflow_local.launcher import LocalStack, http
from orderflow_local.tokens import Identity, customer, operator

FINAL_STATUSES = frozenset({"COMPLETED", "OUT_OF_STOCK", "PAYMENT_FAILED", "FAILED"})
# The happy path's statuses in order; a stage is the time from one to the next.
STATUSES = ("RECEIVED", "INVENTORY_CONFIRMED", "PAYMENT_SUCCESS", "INVOICED", "COMPLETED")
STAGES = ("reserve", "pay", "invoice", "confirm")
# How often a waiting client asks again: an app refreshing an order page.
POLL_INTERVAL_SECONDS = 0.1
ORDER_PATIENCE_SECONDS = 300
CATALOGUE_SIZE = 50
ORDERS_TABLE_SUFFIX = "-OrdersTable"  # the orders stack's table, named by the local provisioner
UNITS_PER_SKU = 100_000
SHIPPING_ADDRESS = {
    "name": "Bench User",
    "line1": "1 Load Lane",
    "city": "Porto",
    "postalCode": "4000",
    "country": "PT",
}


@dataclass(frozen=True)
class OrderSample:
    order_id: str
    status: str
    posted: float  # monotonic seconds
    seen_final: float  # monotonic seconds: when the client first saw the final status
    reached: dict[str, datetime.datetime]  # status -> when the order's history says it was reached

    @property
    def client_latency(self) -> float:
        return self.seen_final - self.posted

    @property
    def history_latency(self) -> float | None:
        if "RECEIVED" not in self.reached or self.status not in self.reached:
            return None
        return (self.reached[self.status] - self.reached["RECEIVED"]).total_seconds()

    def stage_seconds(self) -> dict[str, float]:
        return {
            stage: (self.reached[end] - self.reached[start]).total_seconds()
            for stage, start, end in zip(STAGES, STATUSES[:-1], STATUSES[1:], strict=True)
            if start in self.reached and end in self.reached
        }


def stock_catalogue(stack: LocalStack, prefix: str) -> list[str]:
    """Enough SKUs that concurrent reservations rarely touch the same item, each with ample stock."""
    skus = [f"{prefix}-{index:03d}" for index in range(CATALOGUE_SIZE)]
    headers = stack.signed_in(operator())
    for sku in skus:
        body = {"available": UNITS_PER_SKU, "unitPrice": 1000 + len(sku), "currency": "USD"}
        response = http("PUT", f"{stack.api_url}/inventory/{sku}", body, headers)
        if response.status != 200:
            raise RuntimeError(f"stocking {sku} failed: {response.status} {response.body!r}")
    return skus


def signed_in_clients(stack: LocalStack, count: int) -> list[Identity]:
    """``count`` customers, each signed in (a token issued) before any measurement starts."""
    clients = [customer(f"bench-c{index:02d}", f"bench-c{index:02d}@example.com") for index in range(count)]
    for identity in clients:
        stack.signed_in(identity)
    return clients


def drive_orders(
    stack: LocalStack,
    skus: Sequence[str],
    orders: int,
    clients: Sequence[Identity],
    seed: int,
    *,
    watch_orders: bool = False,
) -> list[OrderSample]:
    """Place ``orders`` orders with one closed-loop client per identity; every sample, in completion order.

    ``watch_orders``: each client waits for its order to be final by watching the Orders table with
    the observer's credentials (calls the local AWS does not count) instead of polling the API: a
    customer told by email that the order is done, who need not read it (``read_orders`` prices a
    read on its own).
    """
    remaining = itertools.count()
    samples: list[OrderSample] = []
    lock = threading.Lock()
    watcher = OrderWatcher.of(stack) if watch_orders else None

    def client(identity: Identity, rng: random.Random) -> None:
        while next(remaining) < orders:
            sample = place_and_wait(stack, identity, _order_body(identity, skus, rng), watcher)
            with lock:
                samples.append(sample)

    with ThreadPoolExecutor(max_workers=len(clients)) as pool:
        # Seeded so that a run's orders can be placed again; nothing secret is drawn.
        rngs = [random.Random(seed * 1000 + n) for n in range(len(clients))]  # noqa: S311
        for future in [
            pool.submit(client, identity, rng) for identity, rng in zip(clients, rngs, strict=True)
        ]:
            future.result()
    return samples


def place_and_wait(
    stack: LocalStack, identity: Identity, body: dict[str, Any], watcher: OrderWatcher | None = None
) -> OrderSample:
    headers = stack.signed_in(identity)
    posted = time.monotonic()
    response = http("POST", f"{stack.api_url}/orders", body, headers)
    if response.status != 201:
        raise RuntimeError(f"POST /orders answered {response.status}: {response.body!r}")
    order_id = str(response.json()["orderId"])
    deadline = posted + ORDER_PATIENCE_SECONDS
    if watcher is not None:
        status = watcher.wait(order_id, deadline)
        return OrderSample(order_id, status, posted, time.monotonic(), watcher.history(order_id))
    while time.monotonic() < deadline:
        view = http("GET", f"{stack.api_url}/orders/{order_id}", headers=headers)
        if view.status == 200 and (order := view.json())["status"] in FINAL_STATUSES:
            reached = {entry["status"]: _instant(entry["at"]) for entry in order["history"]}
            return OrderSample(order_id, order["status"], posted, time.monotonic(), reached)
        time.sleep(POLL_INTERVAL_SECONDS)
    raise TimeoutError(f"order {order_id} did not finish within {ORDER_PATIENCE_SECONDS} s")


def read_orders(stack: LocalStack, identity: Identity, order_ids: Sequence[str]) -> list[str]:
    """Reads each order once through the API as its customer (GET /orders/{orderId}); the ids read."""
    headers = stack.signed_in(identity)
    for order_id in order_ids:
        view = http("GET", f"{stack.api_url}/orders/{order_id}", headers=headers)
        if view.status != 200:
            raise RuntimeError(f"GET /orders/{order_id} answered {view.status}: {view.body!r}")
    return list(order_ids)


@dataclass(frozen=True)
class OrderWatcher:
    """Waits for an order to be final, reading the Orders table unseen (one client for all orders)."""

    dynamodb: Any
    table: str

    @classmethod
    def of(cls, stack: LocalStack) -> OrderWatcher:
        dynamodb = observer_client("dynamodb", stack.aws_url)
        tables = [
            name
            for page in dynamodb.get_paginator("list_tables").paginate()
            for name in page["TableNames"]
            if name.endswith(ORDERS_TABLE_SUFFIX)
        ]
        if len(tables) != 1:
            raise RuntimeError(f"expected one table named *{ORDERS_TABLE_SUFFIX}, found {tables}")
        return cls(dynamodb, tables[0])

    def wait(self, order_id: str, deadline: float) -> str:
        """The order's final status, once it has one."""
        while time.monotonic() < deadline:
            item = self._item(order_id)
            if item and (status := str(item["status"]["S"])) in FINAL_STATUSES:
                return status
            time.sleep(POLL_INTERVAL_SECONDS)
        raise TimeoutError(f"order {order_id} was not final within {ORDER_PATIENCE_SECONDS} s")

    def history(self, order_id: str) -> dict[str, datetime.datetime]:
        """When the order reached each status, as its history says now."""
        item = self._item(order_id) or {}
        entries = item.get("history", {}).get("M", {})
        return {status: _instant(at["S"]) for status, at in entries.items()}

    def _item(self, order_id: str) -> dict[str, Any] | None:
        item: dict[str, Any] | None = self.dynamodb.get_item(
            TableName=self.table, Key={"orderId": {"S": order_id}}, ConsistentRead=True
        ).get("Item")
        return item


class HistoryReader(Protocol):
    def history(self, order_id: str) -> dict[str, datetime.datetime]: ...


def settled_histories(
    watcher: HistoryReader, samples: Sequence[OrderSample], patience: float = 30.0
) -> list[OrderSample]:
    """The samples with each order's history as it stands once every status has landed in it.

    A client may see the final status before the ones on the way to it are in the history:
    COMPLETED is projected where the saga's end is announced, the steps before it from a queue read
    in batches. Read unseen (``OrderWatcher``: the observer's calls are not counted), after the level.
    """
    deadline = time.monotonic() + patience
    settled: list[OrderSample] = []
    for sample in samples:
        wanted = STATUSES if sample.status == "COMPLETED" else ("RECEIVED", sample.status)
        history = watcher.history(sample.order_id)
        while not all(status in history for status in wanted) and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL_SECONDS)
            history = watcher.history(sample.order_id)
        settled.append(dataclasses.replace(sample, reached=history))
    return settled


def _order_body(identity: Identity, skus: Sequence[str], rng: random.Random) -> dict[str, Any]:
    lines = rng.sample(list(skus), k=rng.randint(1, 2))
    return {
        "customer": {"id": identity.username, "email": identity.email},
        "items": [{"sku": sku, "quantity": rng.randint(1, 3)} for sku in lines],
        "payment": {"token": "tok_visa"},
        "shippingAddress": SHIPPING_ADDRESS,
    }


def _instant(text: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
