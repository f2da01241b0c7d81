"""One order, one trace: every handler that serves an order sends its segment into the order's trace,
joined across the task-token hops, `make trace` prints it as one tree, and the handlers' log lines
about the order carry its trace id."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any
from urllib.parse import urlsplit

from orderflow_local.xray_collector import TRACES_PATH, build_forest, render_tree
from tests.support.local_stack import REPO_ROOT, LocalStack, http
from tests.support.saga import new_sku, order_body, place_order, stock, wait_for_terminal, wait_until

# Every function that serves a completed order, by the function name's last part.
SERVING_HANDLERS = {
    "OrdersApiFunction",  # POST /orders: the trace's root
    "ReserveStockFunction",
    "ProcessPaymentFunction",
    "GenerateInvoiceFunction",
    "SendConfirmationFunction",
    "OrderStatusProjectorFunction",
    "ExecutionStatusFunction",  # the SUCCEEDED status event: OrderCompleted
    "CommitStockFunction",  # PaymentSucceeded
    "EmailSentFunction",  # SES's Email Sent event
}
COMMANDS = {"ReserveStock", "ProcessPayment", "GenerateInvoice", "SendConfirmation"}


def order_trace(stack: LocalStack, order_id: str) -> list[dict[str, Any]]:
    response = http("GET", f"{stack.api_url}{TRACES_PATH}?order={order_id}")
    assert response.status == 200, response.body
    return list(response.json()["segments"])


def handler_of(segment: dict[str, Any]) -> str:
    return str(segment["name"]).rsplit("-", 1)[-1]


def complete_trace(stack: LocalStack, order_id: str) -> list[dict[str, Any]]:
    """The order's trace once every handler that serves an order has sent its segment."""

    def served() -> list[dict[str, Any]] | None:
        segments = order_trace(stack, order_id)
        return segments if {handler_of(segment) for segment in segments} >= SERVING_HANDLERS else None

    return list(wait_until(served, message="a segment of every handler that served the order"))


def test_a_completed_order_is_one_connected_trace_across_every_handler(stack: LocalStack) -> None:
    sku = new_sku()
    stock(stack, sku, available=5)
    order_id = place_order(stack, order_body(sku, 1, "tok_visa", f"{sku.lower()}@example.com"))["orderId"]
    assert wait_for_terminal(stack, order_id)["status"] == "COMPLETED"

    segments = complete_trace(stack, order_id)

    assert len({segment["trace_id"] for segment in segments}) == 1
    (root,) = build_forest(segments)  # connected: one root, no orphan
    assert handler_of(root.segment) == "OrdersApiFunction"
    assert root.segment["annotations"] == {"handled": "POST /orders", "order_id": order_id}
    services = {str(segment["name"]).split("-")[1] for segment in segments}
    assert services == {"orders", "inventory", "payments", "invoicing", "notifications"}
    # The task-token hops: each command's handler continues the saga's trace, which the API began.
    commands = {
        segment["annotations"]["handled"]: segment
        for segment in segments
        if segment.get("annotations", {}).get("handled") in COMMANDS
    }
    assert set(commands) == COMMANDS
    assert {command["parent_id"] for command in commands.values()} == {root.segment["id"]}
    # What a handler publishes continues from its own segment: StockReserved is projected under
    # ReserveStock, PaymentSucceeded committed under ProcessPayment.
    by_id = {segment["id"]: segment for segment in segments}
    commit = next(segment for segment in segments if handler_of(segment) == "CommitStockFunction")
    assert by_id[commit["parent_id"]]["annotations"]["handled"] == "ProcessPayment"
    assert not any(segment.get("fault") for segment in segments)

    printed = subprocess.run(
        [sys.executable, "-m", "orderflow_local.xray_collector", order_id],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
        env={**os.environ, "ORDERFLOW_API_PORT": str(urlsplit(stack.api_url).port)},
    )
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.strip() == render_tree(order_trace(stack, order_id))
    tree = printed.stdout.splitlines()
    assert tree[0] == f"trace {root.segment['trace_id']}"
    assert tree[1].startswith("orderflow-orders-OrdersApiFunction [POST /orders]")
    assert "not connected" not in printed.stdout
    for handler in SERVING_HANDLERS:
        assert any(handler in line and " ms " in line for line in tree), handler


def test_every_log_line_about_the_order_carries_its_trace_id(stack: LocalStack) -> None:
    sku = new_sku()
    stock(stack, sku, available=5)
    order_id = place_order(stack, order_body(sku, 1, "tok_visa", f"{sku.lower()}@example.com"))["orderId"]
    assert wait_for_terminal(stack, order_id)["status"] == "COMPLETED"
    (trace_id,) = {segment["trace_id"] for segment in complete_trace(stack, order_id)}

    lines = [
        json.loads(text[text.index("{") :])
        for text in stack.log_path.read_text(errors="replace").splitlines()
        if order_id in text and '"service"' in text and "{" in text
    ]
    about_the_order = [line for line in lines if line.get("order_id") == order_id]
    assert all(line.get("trace_id") for line in about_the_order)
    # The services that log on an order's happy path (inventory logs nothing there) logged in its
    # trace; only the API's reads of the order (the test polling it) are traces of their own.
    logged_in_trace = {line["service"] for line in about_the_order if line["trace_id"] == trace_id}
    assert logged_in_trace >= {"orders", "payments", "invoicing", "notifications"}
    assert {
        line["trace_id"]
        for line in about_the_order
        if line["function_name"] != "orderflow-orders-OrdersApiFunction"
    } == {trace_id}
