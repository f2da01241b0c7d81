"""What an end-to-end test does through the public API: stock a SKU, place an order, follow it."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from orderflow_local.tokens import customer, operator
from tests.support.local_stack import HttpResponse, LocalStack, http

TERMINAL = {"COMPLETED", "OUT_OF_STOCK", "PAYMENT_FAILED", "FAILED"}

SHIPPING_ADDRESS = {
    "name": "Ana Silva",
    "line1": "1 Harbour Road",
    "city": "Lisbon",
    "postalCode": "1100-001",
    "country": "PT",
}


def new_sku() -> str:
    return f"E2E-{uuid.uuid4().hex[:10].upper()}"


def as_operator(stack: LocalStack) -> dict[str, str]:
    return stack.signed_in(operator())


def as_customer(
    stack: LocalStack, customer_id: str = "c-1", email: str = "ana@example.com"
) -> dict[str, str]:
    return stack.signed_in(customer(customer_id, email))


def stock(stack: LocalStack, sku: str, available: int, unit_price: int = 2500, currency: str = "USD") -> None:
    response = http(
        "PUT",
        f"{stack.api_url}/inventory/{sku}",
        {"available": available, "unitPrice": unit_price, "currency": currency},
        as_operator(stack),
    )
    assert response.status == 200, response.body


def inventory(stack: LocalStack, sku: str) -> dict[str, Any]:
    response = http("GET", f"{stack.api_url}/inventory/{sku}", headers=as_operator(stack))
    assert response.status == 200, response.body
    return dict(response.json())


def order_body(
    sku: str, quantity: int, token: str, email: str = "ana@example.com", customer_id: str = "c-1"
) -> dict[str, Any]:
    return {
        "customer": {"id": customer_id, "email": email},
        "items": [{"sku": sku, "quantity": quantity}],
        "payment": {"token": token},
        "shippingAddress": SHIPPING_ADDRESS,
    }


def place_order(
    stack: LocalStack, body: dict[str, Any], headers: dict[str, str] | None = None
) -> dict[str, Any]:
    """POST /orders signed in as the customer the body names."""
    response = http("POST", f"{stack.api_url}/orders", body, {**placed_by(stack, body), **(headers or {})})
    assert response.status == 201, response.body
    return dict(response.json())


def placed_by(stack: LocalStack, body: dict[str, Any]) -> dict[str, str]:
    """The Authorization header of the customer an order body names."""
    return as_customer(stack, body["customer"]["id"], body["customer"]["email"])


def get_order(stack: LocalStack, order_id: str) -> Any:
    """GET /orders/{orderId} as an operator (who may read every order)."""
    return http("GET", f"{stack.api_url}/orders/{order_id}", headers=as_operator(stack))


class _KeepRedirects(urllib.request.HTTPRedirectHandler):
    """Hands a redirect back as it came, for the caller to read its Location."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def get_unfollowed(url: str, headers: dict[str, str] | None = None) -> HttpResponse:
    """GET ``url`` without following a redirect: a 3xx is answered as it came."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.build_opener(_KeepRedirects).open(request, timeout=30) as response:
            return HttpResponse(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return HttpResponse(error.code, dict(error.headers), error.read())


def download_invoice(order: dict[str, Any], headers: dict[str, str]) -> HttpResponse:
    """The order's invoice as its link serves the caller ``headers`` sign in: the API's redirect,
    followed without the token (a browser drops it when the redirect leaves the API's origin)."""
    redirect = get_unfollowed(order["invoiceUrl"], headers)
    assert redirect.status == 302, (redirect.status, redirect.body)
    return http("GET", redirect.headers["Location"])


def wait_for_terminal(stack: LocalStack, order_id: str, timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        response = get_order(stack, order_id)
        assert response.status == 200, response.body
        order = dict(response.json())
        if order["status"] in TERMINAL:
            return order
        if time.monotonic() > deadline:
            raise AssertionError(f"order {order_id} stuck in {order['status']}:\n{stack.log_tail()}")
        time.sleep(0.2)


def wait_until(condition: Any, timeout: float = 30, message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(0.2)


def wait_for_release(stack: LocalStack, sku: str) -> dict[str, Any]:
    """The SKU's stock once nothing of it is reserved any more (the compensation has run)."""
    released: dict[str, Any] = wait_until(
        lambda: (item := inventory(stack, sku))["reserved"] == 0 and item, message=f"{sku}'s release"
    )
    return released


def sent_emails(stack: LocalStack, recipient: str) -> list[dict[str, Any]]:
    """Emails SES accepted for a recipient, read from moto's record of sent mail."""
    document = http("GET", f"{stack.aws_url}/moto-api/data.json").json()
    messages: list[dict[str, Any]] = document.get("ses", {}).get("Message", [])
    return [m for m in messages if recipient in m.get("destinations", {}).get("ToAddresses", [])]


def payment_attempts(stack: LocalStack, order_id: str) -> int:
    response = http("GET", f"{stack.payment_provider_url}/__admin/attempts/order-{order_id}-charge")
    assert response.status == 200, response.body
    return int(response.json()["attempts"])
