"""The order saga end to end, through the HTTP API of the real local stack only."""

from __future__ import annotations

import io
import json

import pytest
from pypdf import PdfReader

from tests.support.local_stack import LocalStack, http
from tests.support.saga import (
    as_customer,
    download_invoice,
    get_order,
    inventory,
    new_sku,
    order_body,
    payment_attempts,
    place_order,
    placed_by,
    sent_emails,
    stock,
    wait_for_release,
    wait_for_terminal,
    wait_until,
)

HAPPY_HISTORY = ["RECEIVED", "INVENTORY_CONFIRMED", "PAYMENT_SUCCESS", "INVOICED", "COMPLETED"]


def statuses(order: dict) -> list[str]:
    return [entry["status"] for entry in order["history"]]


def test_an_order_for_stocked_items_completes(stack: LocalStack) -> None:
    sku = new_sku()
    stock(stack, sku, available=10, unit_price=2500)
    email = f"{sku.lower()}@example.com"
    placed = place_order(stack, order_body(sku, 2, "tok_visa", email))
    assert placed["status"] == "RECEIVED"

    order = wait_for_terminal(stack, placed["orderId"])

    assert order["status"] == "COMPLETED"
    assert statuses(order) == HAPPY_HISTORY
    assert (order["totalAmount"], order["currency"]) == (5000, "USD")
    invoice = download_invoice(order, placed_by(stack, order_body(sku, 2, "tok_visa", email)))
    assert invoice.status == 200
    assert invoice.body.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(invoice.body)).pages)
    assert placed["orderId"] in text
    emails = wait_until(lambda: sent_emails(stack, email), message="the confirmation email")
    assert len(emails) == 1
    assert placed["orderId"] in str(emails[0])
    assert inventory(stack, sku) | {"sku": sku} == {
        "sku": sku,
        "available": 8,
        "reserved": 0,
        "sold": 2,
        "stocked": 10,
        "unitPrice": 2500,
        "currency": "USD",
    }
    assert payment_attempts(stack, placed["orderId"]) == 1


def test_an_order_for_more_than_the_stock_ends_out_of_stock(stack: LocalStack) -> None:
    sku = new_sku()
    stock(stack, sku, available=3)
    email = f"{sku.lower()}@example.com"
    placed = place_order(stack, order_body(sku, 5, "tok_visa", email))

    order = wait_for_terminal(stack, placed["orderId"])

    assert order["status"] == "OUT_OF_STOCK"
    assert statuses(order) == ["RECEIVED", "OUT_OF_STOCK"]
    assert inventory(stack, sku)["available"] == 3
    assert inventory(stack, sku)["reserved"] == 0
    assert wait_until(lambda: sent_emails(stack, email), message="the out-of-stock email")
    assert payment_attempts(stack, placed["orderId"]) == 0


def test_a_declined_card_fails_the_payment_without_retry(stack: LocalStack) -> None:
    sku = new_sku()
    stock(stack, sku, available=5)
    placed = place_order(stack, order_body(sku, 2, "tok_declined", f"{sku.lower()}@example.com"))

    order = wait_for_terminal(stack, placed["orderId"])

    assert order["status"] == "PAYMENT_FAILED"
    assert payment_attempts(stack, placed["orderId"]) == 1
    released = wait_for_release(stack, sku)
    assert released["available"] == 5
    assert released["reserved"] == 0


def test_an_unavailable_provider_is_retried_three_times_then_the_reservation_is_released(
    stack: LocalStack,
) -> None:
    sku = new_sku()
    stock(stack, sku, available=7)
    email = f"{sku.lower()}@example.com"
    placed = place_order(stack, order_body(sku, 3, "tok_unavailable", email))

    order = wait_for_terminal(stack, placed["orderId"])

    assert order["status"] == "PAYMENT_FAILED"
    assert statuses(order) == ["RECEIVED", "INVENTORY_CONFIRMED", "PAYMENT_FAILED"]
    assert payment_attempts(stack, placed["orderId"]) == 4  # the first attempt and 3 retries
    released = wait_for_release(stack, sku)
    assert released["available"] == 7
    assert wait_until(lambda: sent_emails(stack, email), message="the payment-failed email")


def test_a_flaky_provider_succeeds_after_one_retry(stack: LocalStack) -> None:
    sku = new_sku()
    stock(stack, sku, available=4)
    placed = place_order(stack, order_body(sku, 1, "tok_flaky", f"{sku.lower()}@example.com"))

    order = wait_for_terminal(stack, placed["orderId"])

    assert order["status"] == "COMPLETED"
    assert statuses(order) == HAPPY_HISTORY
    assert payment_attempts(stack, placed["orderId"]) == 2


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        {"customer": {"id": "c-1", "email": "ana@example.com"}, "items": []},
        {**order_body("KB-001", 0, "tok_visa")},
        {**order_body("KB-001", 1, "tok_visa"), "totalAmount": 1},
        # The body must be one JSON object: an array holding a valid order is not one.
        json.dumps([order_body("KB-001", 1, "tok_visa")]).encode(),
        b'"x"',
        b"1",
        b"null",
        b"true",
    ],
    ids=[
        "malformed-json",
        "no-items",
        "zero-quantity",
        "client-price",
        "array",
        "string",
        "number",
        "null",
        "true",
    ],
)
def test_an_invalid_order_is_refused_and_creates_nothing(stack: LocalStack, body: object) -> None:
    orders_table = _orders_table(stack)
    dynamodb = stack.client("dynamodb")
    before = dynamodb.scan(TableName=orders_table, Select="COUNT")["Count"]
    executions_before = _execution_count(stack)

    response = http("POST", f"{stack.api_url}/orders", body, as_customer(stack))

    assert response.status in (400, 422)
    assert response.json()  # says what is wrong
    assert dynamodb.scan(TableName=orders_table, Select="COUNT")["Count"] == before
    assert _execution_count(stack) == executions_before


def test_a_retried_post_with_an_idempotency_key_returns_the_same_order(stack: LocalStack) -> None:
    sku = new_sku()
    stock(stack, sku, available=2)
    body = order_body(sku, 1, "tok_visa", f"{sku.lower()}@example.com")
    first = place_order(stack, body, {"Idempotency-Key": sku})
    again = place_order(stack, body, {"Idempotency-Key": sku})
    assert again["orderId"] == first["orderId"]
    assert wait_for_terminal(stack, first["orderId"])["status"] == "COMPLETED"
    assert inventory(stack, sku)["available"] == 1


def test_an_unknown_order_is_404(stack: LocalStack) -> None:
    assert get_order(stack, "does-not-exist").status == 404


def _orders_table(stack: LocalStack) -> str:
    names = stack.client("dynamodb").list_tables()["TableNames"]
    (name,) = [n for n in names if n.startswith("orderflow-orders-OrdersTable")]
    return name


def _execution_count(stack: LocalStack) -> int:
    sfn = stack.client("stepfunctions")
    (machine,) = sfn.list_state_machines()["stateMachines"]
    pages = sfn.get_paginator("list_executions").paginate(stateMachineArn=machine["stateMachineArn"])
    return sum(len(page["executions"]) for page in pages)
