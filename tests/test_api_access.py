"""Who may do what through the public API, on the real local stack and its user pool.

Every route but /health and /openapi.json needs an ID token of the user pool (401 otherwise);
customers place and read their own orders; operators manage inventory and read every order.
"""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from tests.support.local_stack import LocalStack, http
from tests.support.saga import (
    as_customer,
    get_order,
    inventory,
    new_sku,
    order_body,
    place_order,
    stock,
)


@pytest.fixture(scope="module")
def sku(stack: LocalStack) -> str:
    sku = new_sku()
    stock(stack, sku, available=50)
    return sku


def orders_of(stack: LocalStack, customer_id: str) -> int:
    table = next(t for t in stack.client("dynamodb").list_tables()["TableNames"] if "OrdersTable" in t)
    items = stack.client("dynamodb").scan(TableName=table)["Items"]
    return sum(1 for item in items if item["customerId"]["S"] == customer_id)


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/orders", order_body("KB-001", 1, "tok_visa")),
        ("GET", "/orders/any-order", None),
        ("GET", "/inventory/KB-001", None),
        ("PUT", "/inventory/KB-001", {"available": 0, "unitPrice": 1, "currency": "USD"}),
        ("POST", "/inventory/KB-001/adjustments", {"delta": -5, "reason": "no token"}),
    ],
)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer ", "Bearer not.a.token"], ids=["no-header", "empty", "garbage"]
)
def test_every_route_refuses_a_request_without_a_valid_token(
    stack: LocalStack, method: str, path: str, body: object, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = http(method, f"{stack.api_url}{path}", body, headers)
    assert (response.status, response.json()) == (401, {"message": "Unauthorized"})


def test_health_and_the_document_stay_open(stack: LocalStack) -> None:
    assert http("GET", f"{stack.api_url}/health").status == 200
    assert http("GET", f"{stack.api_url}/openapi.json").status == 200


def test_a_customer_may_not_set_stock_or_prices_or_adjust_stock(stack: LocalStack, sku: str) -> None:
    before = inventory(stack, sku)
    url = f"{stack.api_url}/inventory/{sku}"
    customer = as_customer(stack, "c-mallory", "mallory@example.com")

    taken_off_sale = http("PUT", url, {"available": 0, "unitPrice": 1, "currency": "USD"}, customer)
    adjusted = http("POST", f"{url}/adjustments", {"delta": -50, "reason": "mine now"}, customer)

    assert (taken_off_sale.status, adjusted.status) == (403, 403)
    assert "operators" in taken_off_sale.json()["message"]
    assert inventory(stack, sku) == before
    assert http("GET", url, headers=customer).status == 200  # reading stock and prices is fine


def test_a_customer_block_naming_someone_else_is_refused_and_stores_nothing(
    stack: LocalStack, sku: str
) -> None:
    impostor = as_customer(stack, "c-eve", "eve@example.com")
    before = orders_of(stack, "c-victim")

    for named in (
        {"id": "c-victim", "email": "eve@example.com"},
        {"id": "c-eve", "email": "victim@example.com"},
    ):
        body = {**order_body(sku, 1, "tok_visa"), "customer": named}
        response = http("POST", f"{stack.api_url}/orders", body, impostor)
        assert response.status == 403, response.body

    assert orders_of(stack, "c-victim") == before


def test_the_customer_comes_from_the_token_when_the_body_names_nobody(stack: LocalStack, sku: str) -> None:
    body = order_body(sku, 1, "tok_visa")
    del body["customer"]

    response = http(
        "POST", f"{stack.api_url}/orders", body, as_customer(stack, "c-token", "token@example.com")
    )

    assert response.status == 201, response.body
    assert response.json()["customerId"] == "c-token"


def test_a_customer_reads_only_their_own_orders_and_an_operator_reads_every_one(
    stack: LocalStack, sku: str
) -> None:
    order_id = place_order(stack, order_body(sku, 1, "tok_visa", "owner@example.com", "c-owner"))["orderId"]
    url = f"{stack.api_url}/orders/{order_id}"

    owner = http("GET", url, headers=as_customer(stack, "c-owner", "owner@example.com"))
    other = http("GET", url, headers=as_customer(stack, "c-other", "other@example.com"))
    unknown = http(
        "GET",
        f"{stack.api_url}/orders/no-such-order",
        headers=as_customer(stack, "c-other", "other@example.com"),
    )

    assert owner.status == 200
    assert get_order(stack, order_id).status == 200  # an operator
    assert other.status == 404
    assert other.json()["message"] == f"order {order_id} not found"  # exactly as if it did not exist
    assert unknown.status == 404


def test_the_token_command_prints_a_token_the_api_accepts(stack: LocalStack, sku: str) -> None:
    port = str(urlsplit(stack.aws_url).port)
    printed = subprocess.run(
        [
            sys.executable,
            "-m",
            "orderflow_local.tokens",
            "--role",
            "customer",
            "--customer",
            "c-cli",
            "--email",
            "cli@example.com",
        ],
        env={**os.environ, "ORDERFLOW_AWS_PORT": port},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert "\n" not in printed  # one token, nothing else on stdout

    as_cli_user = {"Authorization": f"Bearer {printed}"}
    placed = http(
        "POST",
        f"{stack.api_url}/orders",
        {**order_body(sku, 1, "tok_visa", "cli@example.com", "c-cli")},
        as_cli_user,
    )
    assert placed.status == 201, placed.body
    put = http(
        "PUT",
        f"{stack.api_url}/inventory/{sku}",
        {"available": 1, "unitPrice": 1, "currency": "USD"},
        as_cli_user,
    )
    assert put.status == 403
