"""The guarantees of docs/reliability.md, checked for one order on the real state of the local stack.

Each check reads what the system really holds (the order through the API, the provider's ledger,
the catalogue, the reservations, S3, SES and every DLQ), not what a test expects, and names the
guarantee it found broken with the evidence. Compensations run after the status turns terminal
(a refund, a release, an email), so ``wait_for_guarantees`` retries until everything holds or the
time is up, and then reports what still does not.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from tests.support.local_stack import LocalStack, http

TERMINAL = {"COMPLETED", "OUT_OF_STOCK", "PAYMENT_FAILED", "FAILED"}
FAILURES = TERMINAL - {"COMPLETED"}
RANKS = {
    "RECEIVED": 0,
    "INVENTORY_CONFIRMED": 1,
    "PAYMENT_SUCCESS": 2,
    "INVOICED": 3,
    "COMPLETED": 4,
    "OUT_OF_STOCK": 5,
    "PAYMENT_FAILED": 5,
    "FAILED": 5,
}


@dataclass(frozen=True)
class OrderUnderTest:
    order_id: str
    email: str  # unique per test: every email to it belongs to this order
    skus: tuple[str, ...]


def table_named(stack: LocalStack, fragment: str) -> str:
    names = stack.client("dynamodb").list_tables()["TableNames"]
    (name,) = [n for n in names if fragment in n]
    return name


def provider_ledger(stack: LocalStack, order_id: str) -> dict[str, Any]:
    response = http("GET", f"{stack.payment_provider_url}/__admin/ledger/{order_id}")
    assert response.status == 200, response.body
    return dict(response.json())


def catalogue_item(stack: LocalStack, sku: str) -> dict[str, Any]:
    item = stack.client("dynamodb").get_item(
        TableName=table_named(stack, "CatalogueTable"), Key={"sku": {"S": sku}}, ConsistentRead=True
    )["Item"]
    return {name: _plain(value) for name, value in item.items()}


def reservation(stack: LocalStack, order_id: str) -> dict[str, Any] | None:
    item = (
        stack.client("dynamodb")
        .get_item(
            TableName=table_named(stack, "ReservationsTable"),
            Key={"orderId": {"S": order_id}},
            ConsistentRead=True,
        )
        .get("Item")
    )
    return {name: _plain(value) for name, value in item.items()} if item else None


def invoice_objects(stack: LocalStack, order_id: str) -> list[str]:
    s3 = stack.client("s3")
    (bucket,) = [b["Name"] for b in s3.list_buckets()["Buckets"] if "invoices" in b["Name"]]
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    ]
    return sorted(key for key in keys if order_id in key)


def emails_to(stack: LocalStack, recipient: str) -> list[dict[str, Any]]:
    document = http("GET", f"{stack.aws_url}/moto-api/data.json").json()
    messages: list[dict[str, Any]] = document.get("ses", {}).get("Message", [])
    return [m for m in messages if recipient in m.get("destinations", {}).get("ToAddresses", [])]


def order_view(stack: LocalStack, order_id: str) -> dict[str, Any]:
    response = http("GET", f"{stack.api_url}/orders/{order_id}")
    assert response.status == 200, response.body
    return dict(response.json())


def violations(stack: LocalStack, order: OrderUnderTest) -> list[str]:
    """Every broken guarantee for this order, one line each naming it and its evidence."""
    view = order_view(stack, order.order_id)
    status = view["status"]
    found: list[str] = []

    ledger = provider_ledger(stack, order.order_id)
    charges = [c for c in ledger["charges"] if c.get("status") == "succeeded"]
    if len(charges) > 1:
        found.append(f"G1 {order.order_id}: {len(charges)} charges {[c['id'] for c in charges]}")
    if status in FAILURES and ledger["netAmount"] != 0:
        found.append(f"G1 {order.order_id}: {status} but the customer is out {ledger['netAmount']}")
    if status == "COMPLETED" and ledger["netAmount"] != view["totalAmount"]:
        found.append(
            f"G1 {order.order_id}: COMPLETED, charged {ledger['netAmount']} of {view['totalAmount']}"
        )

    for sku in order.skus:
        item = catalogue_item(stack, sku)
        counts = {name: int(item.get(name, 0)) for name in ("stocked", "available", "reserved", "sold")}
        if counts["stocked"] != counts["available"] + counts["reserved"] + counts["sold"]:
            found.append(f"G2 {sku}: stocked != available + reserved + sold: {counts}")
        if any(value < 0 for value in counts.values()):
            found.append(f"G2 {sku}: a negative count: {counts}")
    held = reservation(stack, order.order_id)
    if status in TERMINAL and held is not None and held.get("state") == "RESERVED":
        found.append(f"G2 {order.order_id}: {status} but its reservation is still RESERVED")
    if status == "COMPLETED" and (held is None or held.get("state") != "COMMITTED"):
        found.append(f"G2 {order.order_id}: COMPLETED but its reservation is {held and held.get('state')}")

    if status not in TERMINAL and "stalled" not in view:
        found.append(f"G3 {order.order_id}: {status}, neither terminal nor stalled")

    invoices = [key for key in invoice_objects(stack, order.order_id) if key.endswith(".pdf")]
    emails = emails_to(stack, order.email)
    if status == "COMPLETED" and (len(invoices) != 1 or len(emails) != 1):
        found.append(f"G4 {order.order_id}: COMPLETED with invoices {invoices} and {len(emails)} emails")
    if status in FAILURES and (invoices or len(emails) != 1):
        found.append(f"G4 {order.order_id}: {status} with invoices {invoices} and {len(emails)} emails")

    if dead := stack.dead_letters():
        found.append(f"G5: messages in dead-letter queues {dead}")

    reached = [entry["status"] for entry in view["history"]]
    ranks = [RANKS[name] for name in reached]
    if ranks != sorted(ranks) or RANKS[status] != max(ranks):
        found.append(f"G6 {order.order_id}: status {status} with history {reached}")
    return found


def wait_for_guarantees(stack: LocalStack, orders: Iterable[OrderUnderTest], timeout: float = 60) -> None:
    """Waits until every guarantee holds for every order; fails naming what still does not."""
    orders = list(orders)
    deadline = time.monotonic() + timeout
    while True:
        broken = [line for order in orders for line in violations(stack, order)]
        if not broken:
            return
        if time.monotonic() > deadline:
            raise AssertionError("guarantees broken:\n" + "\n".join(broken) + "\n" + stack.log_tail(80))
        time.sleep(0.3)


def _plain(value: dict[str, Any]) -> Any:
    (kind, content), *_ = value.items()
    if kind == "N":
        return int(content) if "." not in content else float(content)
    if kind == "M":
        return {name: _plain(inner) for name, inner in content.items()}
    if kind == "L":
        return [_plain(inner) for inner in content]
    return content
