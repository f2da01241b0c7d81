"""GET /orders/{orderId}/invoice: the owner or an operator is redirected to a freshly presigned download."""

from __future__ import annotations

from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from orderflow_devtools.testing import operator_claims
from orderflow_shared.aws import client
from orderflow_shared.contracts.invoicing import InvoiceGenerated, InvoiceGeneratedData
from orderflow_shared.invoices import invoice_link
from orders.domain.projection import status_change
from orders.handlers import wiring
from orders.repository import OrdersRepository

from .conftest import ANA, BO, INVOICE_DOWNLOAD_SECONDS, INVOICES_BUCKET, VALID, body
from .test_api import get, post

PDF = b"%PDF-1.7 the invoice"


def get_invoice(api: ModuleType, order_id: str, caller: dict[str, str] | None = ANA) -> dict[str, Any]:
    return get(api, order_id, caller, below="/invoice")


def invoiced(orders_table: Any, order_id: str) -> None:
    """What invoicing does for the order: store its PDF, and announce it (projected as INVOICED)."""
    client("s3").put_object(Bucket=INVOICES_BUCKET, Key=f"invoices/{order_id}/invoice.pdf", Body=PDF)
    announced = InvoiceGenerated.create(
        order_id,
        InvoiceGeneratedData(
            invoice_number="INV-20260514-ORDER",
            invoice_url=invoice_link("https://api.orderflow.test/Prod", order_id),
            total_amount=5000,
            currency="USD",
        ),
    )
    assert OrdersRepository(orders_table).apply(status_change(announced))


@pytest.fixture
def order_id(api: ModuleType, orders_table: Any) -> str:
    """Ana's order, invoiced."""
    client("s3").create_bucket(Bucket=INVOICES_BUCKET)
    placed: str = body(post(api, VALID, caller=ANA))["orderId"]
    invoiced(orders_table, placed)
    return placed


def headers(response: dict[str, Any]) -> dict[str, str]:
    """The answer's headers (a REST proxy answer carries them as multiValueHeaders)."""
    return {name: values[-1] for name, values in (response.get("multiValueHeaders") or {}).items()}


def location(response: dict[str, Any]) -> str:
    return headers(response)["Location"]


def signed_query(location: str) -> dict[str, str]:
    return {name: values[0] for name, values in parse_qs(urlsplit(location).query).items()}


def test_the_owner_is_redirected_to_a_presigned_download_of_the_orders_pdf(
    api: ModuleType, order_id: str
) -> None:
    response = get_invoice(api, order_id)

    assert response["statusCode"] == 302
    url = urlsplit(location(response))
    # moto presigns virtual-hosted style: the bucket is the host's first label.
    assert url.hostname is not None
    assert url.hostname.split(".")[0] == INVOICES_BUCKET
    assert url.path == f"/invoices/{order_id}/invoice.pdf"
    query = signed_query(location(response))
    assert query["X-Amz-Algorithm"] == "AWS4-HMAC-SHA256"
    assert query["X-Amz-Expires"] == str(INVOICE_DOWNLOAD_SECONDS) == "300"
    assert headers(response)["Cache-Control"] == "no-store"
    assert not response.get("body")


def test_the_redirect_downloads_the_pdf_without_the_token(api: ModuleType, order_id: str) -> None:
    download = requests.get(location(get_invoice(api, order_id)), timeout=5)

    assert download.status_code == 200
    assert download.content == PDF


def test_the_link_expires_after_the_configured_seconds(
    api: ModuleType, order_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INVOICE_DOWNLOAD_SECONDS", "45")
    wiring.invoice_downloads.cache_clear()

    response = get_invoice(api, order_id)

    assert signed_query(location(response))["X-Amz-Expires"] == "45"


def test_an_operator_is_redirected_too(api: ModuleType, order_id: str) -> None:
    response = get_invoice(api, order_id, caller=operator_claims())

    assert response["statusCode"] == 302
    assert urlsplit(location(response)).path == f"/invoices/{order_id}/invoice.pdf"


def test_another_customers_invoice_is_answered_like_an_unknown_order(api: ModuleType, order_id: str) -> None:
    theirs = get_invoice(api, order_id, caller=BO)
    unknown = get_invoice(api, "nope", caller=BO)

    assert (theirs["statusCode"], unknown["statusCode"]) == (404, 404)
    assert body(theirs) == {**body(unknown), "message": body(unknown)["message"].replace("nope", order_id)}
    assert body(theirs)["message"] == f"order {order_id} not found"
    assert "Location" not in headers(theirs)


def test_an_order_without_an_invoice_yet_is_404_saying_so(api: ModuleType) -> None:
    order_id = body(post(api, VALID, caller=ANA))["orderId"]

    response = get_invoice(api, order_id)

    assert response["statusCode"] == 404
    assert body(response)["message"] == f"order {order_id} has no invoice yet"
    assert get(api, order_id)["statusCode"] == 200  # the order itself is there


@pytest.mark.parametrize("caller", [None, {**ANA, "token_use": "access"}], ids=["no-caller", "access-token"])
def test_without_an_id_token_it_is_401_and_nothing_is_signed(
    api: ModuleType, order_id: str, caller: dict[str, str] | None
) -> None:
    response = get_invoice(api, order_id, caller=caller)

    assert response["statusCode"] == 401
    assert body(response)["message"] == "Unauthorized"
    assert "Location" not in headers(response)


def test_the_order_shows_the_apis_link_not_a_download(api: ModuleType, order_id: str) -> None:
    order = body(get(api, order_id))

    assert order["invoiceUrl"] == f"https://api.orderflow.test/Prod/orders/{order_id}/invoice"
    assert order["invoiceNumber"] == "INV-20260514-ORDER"
