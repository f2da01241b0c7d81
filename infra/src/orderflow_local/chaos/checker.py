"""The invariant checker: G1-G6 of docs/reliability.md, read off the real state of a running system.

It reads what the system holds, never what a scenario expected: the Orders table, the catalogue,
the adjustments log and the reservations, the payment provider's ledger, the invoices in S3, the
emails SES accepted, the saga's executions and every queue and DLQ. Each violation names the
invariant, the order (or SKU, or queue) and the evidence.

Called after quiescence: every check assumes nothing is in flight any more.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from orderflow_local.launcher import LocalStack, http

TERMINAL = frozenset({"COMPLETED", "OUT_OF_STOCK", "PAYMENT_FAILED", "FAILED"})
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
INVARIANTS = ("G1", "G2", "G3", "G4", "G5", "G6")
SAGA_PREFIX = "orderflow-orders-"


@dataclass(frozen=True)
class Violation:
    invariant: str
    subject: str  # an order id, a SKU, or a queue
    evidence: str

    def __str__(self) -> str:
        return f"{self.invariant} {self.subject}: {self.evidence}"


@dataclass
class SystemState:
    """One reading of everything the guarantees speak of, for a set of orders and SKUs."""

    orders: dict[str, dict[str, Any]]
    ledgers: dict[str, dict[str, Any]]  # the provider's, per order
    catalogue: dict[str, dict[str, Any]]
    adjustments: dict[str, int]  # SKU -> sum of its logged deltas
    reservations: dict[str, dict[str, Any]]  # order id -> record
    held: dict[str, Counter[str]] = field(default_factory=dict)  # SKU -> {state: units}
    invoices: Counter[str] = field(default_factory=Counter)  # order id -> invoice PDFs
    emails: dict[str, list[str]] = field(default_factory=dict)  # order id -> subjects
    executions: dict[str, list[str]] = field(default_factory=dict)  # order id -> statuses
    queue_backlog: dict[str, int] = field(default_factory=dict)  # source queue -> messages left
    dead_letters: dict[str, int] = field(default_factory=dict)
    payments: dict[str, dict[str, Any]] = field(default_factory=dict)  # our Payments table, per order


def read_state(stack: LocalStack, order_ids: Iterable[str], skus: Iterable[str]) -> SystemState:
    order_ids, skus = list(order_ids), list(skus)
    backlog, dead_letters = stack.queue_backlog()
    orders = {
        order_id: item
        for order_id in order_ids
        if (item := table_item(stack, "OrdersTable", {"orderId": order_id}))
    }
    reservations = {
        item["orderId"]: item
        for item in table_scan(stack, "ReservationsTable")
        if item["orderId"] in set(order_ids)
    }
    held: dict[str, Counter[str]] = defaultdict(Counter)
    for item in table_scan(stack, "ReservationsTable"):
        for line in item.get("lines", []):
            held[line["sku"]][item["state"]] += int(line["quantity"])
    adjustments: Counter[str] = Counter()
    for entry in table_scan(stack, "AdjustmentsTable"):
        adjustments[entry["sku"]] += int(entry["delta"])
    return SystemState(
        orders=orders,
        ledgers={order_id: _ledger(stack, order_id) for order_id in order_ids},
        catalogue={
            sku: item
            for sku in skus
            if (item := table_item(stack, "CatalogueTable", {"sku": sku})) is not None
        },
        adjustments=dict(adjustments),
        reservations=reservations,
        held=dict(held),
        invoices=_invoices(stack, set(order_ids)),
        emails=_emails(stack, order_ids),
        executions=_executions(stack, set(order_ids)),
        queue_backlog=backlog,
        dead_letters=dead_letters,
        payments={
            order_id: item
            for order_id in order_ids
            if (item := table_item(stack, "PaymentsTable", {"orderId": order_id})) is not None
        },
    )


def violations(state: SystemState, order_ids: Iterable[str], skus: Iterable[str]) -> list[Violation]:
    found: list[Violation] = []
    for order_id in order_ids:
        order = state.orders.get(order_id)
        if order is None:
            found.append(Violation("G3", order_id, "the order was accepted but is not in the Orders table"))
            continue
        found += _money(order_id, order, state)
        found += _reservation(order_id, order, state)
        found += _progress(order_id, order, state)
        found += _documents(order_id, order, state)
        found += _history(order_id, order)
    for sku in skus:
        found += _books(sku, state)
    found += [
        Violation("G5", queue, f"{count} message(s) never processed")
        for queue, count in state.queue_backlog.items()
    ]
    found += [
        Violation("G5", queue, f"{count} message(s) in the dead-letter queue")
        for queue, count in state.dead_letters.items()
    ]
    return found


def check(stack: LocalStack, order_ids: Iterable[str], skus: Iterable[str]) -> list[Violation]:
    order_ids, skus = list(order_ids), list(skus)
    return violations(read_state(stack, order_ids, skus), order_ids, skus)


# --- the invariants ----------------------------------------------------------------------------


def _money(order_id: str, order: dict[str, Any], state: SystemState) -> list[Violation]:
    ledger = state.ledgers[order_id]
    charges = [c["id"] for c in ledger["charges"] if c.get("status") == "succeeded"]
    status, net = order["status"], ledger["netAmount"]
    found = []
    if len(charges) > 1:
        found.append(Violation("G1", order_id, f"{len(charges)} charges: {', '.join(charges)}"))
    if status in FAILURES and net != 0:
        found.append(
            Violation("G1", order_id, f"{status}, yet the customer is out {net} (charges {charges})")
        )
    if status == "COMPLETED" and net != int(order.get("totalAmount", -1)):
        found.append(Violation("G1", order_id, f"COMPLETED for {order.get('totalAmount')}, net charge {net}"))
    return found + _books_agree(order_id, status, charges, ledger, state.payments.get(order_id))


def _books_agree(
    order_id: str, status: str, charges: list[str], ledger: dict[str, Any], payment: dict[str, Any] | None
) -> list[Violation]:
    """Our Payments table tells the same story as the provider's ledger."""
    ours = payment or {}
    if status == "COMPLETED" and (ours.get("status") != "SUCCEEDED" or ours.get("paymentId") not in charges):
        return [
            Violation(
                "G1",
                order_id,
                f"COMPLETED, but payments recorded {ours.get('status')} {ours.get('paymentId')}",
            )
        ]
    refunded = {refund["charge"] for refund in ledger["refunds"] if refund.get("status") == "succeeded"}
    recorded = set(ours.get("refunds", {}))
    if refunded != recorded:
        return [
            Violation(
                "G1",
                order_id,
                f"the provider refunded {sorted(refunded)}, payments recorded {sorted(recorded)}",
            )
        ]
    return []


def _reservation(order_id: str, order: dict[str, Any], state: SystemState) -> list[Violation]:
    record = state.reservations.get(order_id)
    held_state = record.get("state") if record else None
    status = order["status"]
    if status in TERMINAL and held_state == "RESERVED":
        return [Violation("G2", order_id, f"{status}, yet its stock is still reserved")]
    if status == "COMPLETED" and held_state != "COMMITTED":
        return [Violation("G2", order_id, f"COMPLETED, yet its reservation is {held_state}")]
    if status in FAILURES and held_state == "COMMITTED":
        return [Violation("G2", order_id, f"{status}, yet its units are booked as sold")]
    return []


def _books(sku: str, state: SystemState) -> list[Violation]:
    item = state.catalogue.get(sku)
    if item is None:
        return [Violation("G2", sku, "the SKU is not in the catalogue")]
    counts = {name: int(item.get(name, 0)) for name in ("stocked", "available", "reserved", "sold")}
    held = state.held.get(sku, Counter())
    found = []
    if counts["stocked"] != counts["available"] + counts["reserved"] + counts["sold"]:
        found.append(Violation("G2", sku, f"stocked != available + reserved + sold: {counts}"))
    if any(value < 0 for value in counts.values()):
        found.append(Violation("G2", sku, f"a negative count: {counts}"))
    if sku in state.adjustments and state.adjustments[sku] != counts["stocked"]:
        found.append(
            Violation(
                "G2", sku, f"stocked {counts['stocked']}, adjustments add up to {state.adjustments[sku]}"
            )
        )
    if counts["reserved"] != held["RESERVED"]:
        found.append(
            Violation("G2", sku, f"reserved {counts['reserved']}, reservations hold {held['RESERVED']}")
        )
    if counts["sold"] != held["COMMITTED"]:
        found.append(
            Violation("G2", sku, f"sold {counts['sold']}, committed reservations {held['COMMITTED']}")
        )
    return found


def _progress(order_id: str, order: dict[str, Any], state: SystemState) -> list[Violation]:
    found = []
    if order["status"] not in TERMINAL and "stalled" not in order:
        found.append(Violation("G3", order_id, f"{order['status']}, neither terminal nor stalled"))
    executions = state.executions.get(order_id, [])
    if len(executions) != 1:
        found.append(Violation("G3", order_id, f"{len(executions)} executions of its saga"))
    elif executions[0] == "RUNNING":
        found.append(Violation("G3", order_id, "its saga is still running"))
    return found


def _documents(order_id: str, order: dict[str, Any], state: SystemState) -> list[Violation]:
    status, invoices, emails = order["status"], state.invoices[order_id], state.emails.get(order_id, [])
    if status == "COMPLETED" and (invoices != 1 or len(emails) != 1):
        return [
            Violation(
                "G4", order_id, f"COMPLETED with {invoices} invoice(s) and {len(emails)} email(s): {emails}"
            )
        ]
    if status in FAILURES and (invoices or len(emails) != 1):
        return [
            Violation(
                "G4", order_id, f"{status} with {invoices} invoice(s) and {len(emails)} email(s): {emails}"
            )
        ]
    return []


def _history(order_id: str, order: dict[str, Any]) -> list[Violation]:
    # The history keeps the first time each status was reached, late events included; a status
    # that only moves forward is the highest-ranked of them (a late event may be timed after it).
    reached = list(order.get("history", {}))
    if RANKS[order["status"]] != max((RANKS[status] for status in reached), default=-1):
        return [Violation("G6", order_id, f"status {order['status']}, yet it reached {reached}")]
    return []


# --- reading the state -------------------------------------------------------------------------


def table_name(stack: LocalStack, logical_id: str) -> str:
    """The physical name of the one table whose logical id is ``logical_id`` (named <stack>-<id>)."""
    names = [
        name
        for name in stack.client("dynamodb").list_tables()["TableNames"]
        if name.endswith(f"-{logical_id}")
    ]
    if len(names) != 1:
        raise LookupError(f"expected one table with the logical id {logical_id!r}, found {names}")
    return names[0]


def table_item(stack: LocalStack, table: str, key: dict[str, str]) -> dict[str, Any] | None:
    response = stack.client("dynamodb").get_item(
        TableName=table_name(stack, table),
        Key={name: {"S": value} for name, value in key.items()},
        ConsistentRead=True,
    )
    return _plain_item(response["Item"]) if "Item" in response else None


def table_scan(stack: LocalStack, table: str) -> list[dict[str, Any]]:
    pages = stack.client("dynamodb").get_paginator("scan").paginate(TableName=table_name(stack, table))
    return [_plain_item(item) for page in pages for item in page["Items"]]


def _ledger(stack: LocalStack, order_id: str) -> dict[str, Any]:
    response = http("GET", f"{stack.payment_provider_url}/__admin/ledger/{order_id}")
    if response.status != 200:
        raise RuntimeError(f"the payment provider's ledger answered {response.status}: {response.body!r}")
    ledger: dict[str, Any] = response.json()
    return ledger


def _invoices(stack: LocalStack, order_ids: set[str]) -> Counter[str]:
    s3 = stack.client("s3")
    found: Counter[str] = Counter()
    for bucket in (b["Name"] for b in s3.list_buckets()["Buckets"] if "invoices" in b["Name"]):
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="invoices/"):
            for entry in page.get("Contents", []):
                # invoices/<order id>/invoice.pdf
                parts = entry["Key"].split("/")
                if len(parts) == 3 and parts[1] in order_ids and parts[2].endswith(".pdf"):
                    order_id = parts[1]
                    found[order_id] += 1
    return found


def _emails(stack: LocalStack, order_ids: list[str]) -> dict[str, list[str]]:
    document = http("GET", f"{stack.aws_url}/moto-api/data.json").json()
    subjects = [message.get("subject", "") for message in document.get("ses", {}).get("Message", [])]
    return {order_id: [s for s in subjects if order_id in s] for order_id in order_ids}


def running_executions(stack: LocalStack, order_ids: set[str]) -> list[str]:
    return list(_executions(stack, order_ids, status="RUNNING"))


def _executions(stack: LocalStack, order_ids: set[str], status: str | None = None) -> dict[str, list[str]]:
    sfn = stack.client("stepfunctions")
    found: dict[str, list[str]] = defaultdict(list)
    for machine in sfn.list_state_machines()["stateMachines"]:
        if not machine["name"].startswith(SAGA_PREFIX):
            continue
        query = {
            "stateMachineArn": machine["stateMachineArn"],
            **({"statusFilter": status} if status else {}),
        }
        for page in sfn.get_paginator("list_executions").paginate(**query):
            for execution in page["executions"]:
                if execution["name"] in order_ids:
                    found[execution["name"]].append(execution["status"])
    return dict(found)


def _plain_item(item: dict[str, Any]) -> dict[str, Any]:
    return {name: _plain(value) for name, value in item.items()}


def _plain(value: dict[str, Any]) -> Any:
    (kind, content), *_ = value.items()
    if kind == "N":
        return int(content) if "." not in content else float(content)
    if kind == "M":
        return _plain_item(content)
    if kind == "L":
        return [_plain(inner) for inner in content]
    if kind == "NULL":
        return None
    return content
