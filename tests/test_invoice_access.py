"""Invoice downloads end to end: the link everyone sees is the orders API's, which redirects the order's
owner or an operator to a freshly presigned download and answers anyone else like an unknown order."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from pypdf import PdfReader

from tests.support.local_stack import LocalStack, http
from tests.support.saga import (
    as_customer,
    as_operator,
    download_invoice,
    get_unfollowed,
    new_sku,
    order_body,
    place_order,
    placed_by,
    sent_emails,
    stock,
    wait_for_terminal,
    wait_until,
)

EMAIL = "invoice-owner@example.com"


@pytest.fixture(scope="module")
def completed(stack: LocalStack) -> tuple[dict[str, Any], dict[str, str]]:
    """A completed order, and the Authorization header of the customer who placed it."""
    sku = new_sku()
    stock(stack, sku, available=5, unit_price=1999)
    body = order_body(sku, 2, "tok_visa", EMAIL, "c-invoice-owner")
    order = wait_for_terminal(stack, place_order(stack, body)["orderId"])
    assert order["status"] == "COMPLETED", order
    return order, placed_by(stack, body)


def test_the_invoice_link_is_the_orders_apis_route(
    stack: LocalStack, completed: tuple[dict[str, Any], dict[str, str]]
) -> None:
    order, _ = completed

    assert order["invoiceUrl"] == f"{stack.api_url}/orders/{order['orderId']}/invoice"
    email = wait_until(lambda: sent_emails(stack, EMAIL), message="the confirmation email")
    assert order["invoiceUrl"] in str(email)


def test_the_owner_follows_the_redirect_and_downloads_the_pdf(
    completed: tuple[dict[str, Any], dict[str, str]],
) -> None:
    order, owner = completed

    redirect = get_unfollowed(order["invoiceUrl"], owner)
    pdf = download_invoice(order, owner)

    assert redirect.status == 302, redirect.body
    assert redirect.headers["Cache-Control"] == "no-store"
    location = urlsplit(redirect.headers["Location"])
    assert location.path.endswith(f"/invoices/{order['orderId']}/invoice.pdf")
    assert parse_qs(location.query)["X-Amz-Expires"] == ["300"]
    assert pdf.status == 200
    assert pdf.body.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf.body)).pages)
    assert order["orderId"] in text
    assert order["invoiceNumber"] in text


def test_an_operator_downloads_it_too(
    stack: LocalStack, completed: tuple[dict[str, Any], dict[str, str]]
) -> None:
    order, _ = completed

    assert download_invoice(order, as_operator(stack)).body.startswith(b"%PDF")


def test_another_customer_gets_404_as_for_an_unknown_order(
    stack: LocalStack, completed: tuple[dict[str, Any], dict[str, str]]
) -> None:
    order, _ = completed
    other = as_customer(stack, "c-invoice-other", "invoice-other@example.com")

    theirs = get_unfollowed(order["invoiceUrl"], other)
    unknown = get_unfollowed(f"{stack.api_url}/orders/no-such-order/invoice", other)

    assert (theirs.status, unknown.status) == (404, 404)
    assert theirs.json()["message"] == f"order {order['orderId']} not found"
    assert "Location" not in theirs.headers


def test_without_a_token_it_is_401(completed: tuple[dict[str, Any], dict[str, str]]) -> None:
    order, _ = completed

    response = get_unfollowed(order["invoiceUrl"])

    assert (response.status, response.json()) == (401, {"message": "Unauthorized"})


def test_an_order_that_was_never_invoiced_has_no_invoice(stack: LocalStack) -> None:
    sku = new_sku()
    stock(stack, sku, available=5)
    body = order_body(sku, 1, "tok_declined", "declined-invoice@example.com", "c-declined-invoice")
    order = wait_for_terminal(stack, place_order(stack, body)["orderId"])
    assert order["status"] == "PAYMENT_FAILED"
    assert "invoiceUrl" not in order

    response = http(
        "GET", f"{stack.api_url}/orders/{order['orderId']}/invoice", headers=placed_by(stack, body)
    )

    assert response.status == 404
    assert response.json()["message"] == f"order {order['orderId']} has no invoice yet"
