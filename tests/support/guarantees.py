"""The guarantees of docs/reliability.md for the orders of one test, on the real state of the local stack.

The checks are the chaos tool's invariant checker (orderflow_local.chaos.checker). Compensations run
after the status turns terminal (a refund, a release, an email), so ``wait_for_guarantees`` retries
until everything holds or the time is up, and then reports what still does not.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from orderflow_local.chaos.checker import check, table_item
from orderflow_local.launcher import LocalStack


@dataclass(frozen=True)
class OrderUnderTest:
    order_id: str
    skus: tuple[str, ...]


def wait_for_guarantees(stack: LocalStack, orders: Iterable[OrderUnderTest], timeout: float = 60) -> None:
    """Waits until every guarantee holds for every order; fails naming what still does not."""
    orders = list(orders)
    order_ids = [order.order_id for order in orders]
    skus = sorted({sku for order in orders for sku in order.skus})
    deadline = time.monotonic() + timeout
    while broken := check(stack, order_ids, skus):
        if time.monotonic() > deadline:
            lines = "\n".join(str(violation) for violation in broken)
            raise AssertionError(f"guarantees broken:\n{lines}\n{stack.log_tail(80)}")
        time.sleep(0.3)


def catalogue_item(stack: LocalStack, sku: str) -> dict[str, Any]:
    item = table_item(stack, "CatalogueTable", {"sku": sku})
    assert item is not None, f"{sku} is not in the catalogue"
    return item


def reservation(stack: LocalStack, order_id: str) -> dict[str, Any] | None:
    return table_item(stack, "ReservationsTable", {"orderId": order_id})


def invoice_objects(stack: LocalStack, order_id: str) -> list[str]:
    s3 = stack.client("s3")
    (bucket,) = [b["Name"] for b in s3.list_buckets()["Buckets"] if "invoices" in b["Name"]]
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"invoices/{order_id}/").get("Contents", [])
    return sorted(entry["Key"] for entry in listed)
