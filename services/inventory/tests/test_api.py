"""InventoryApiFunction through real API Gateway proxy events."""

from __future__ import annotations

import json
from typing import Any

import pytest

from inventory.handlers import api
from inventory.service import Inventory
from inventory.store import InventoryStore
from orderflow_shared.contracts.values import OrderItem
from orderflow_shared.testing import FakeLambdaContext, api_event

pytestmark = pytest.mark.usefixtures("aws")

RESOURCE = "/inventory/{sku}"


def call(method: str, sku: str, context: FakeLambdaContext, body: Any = None) -> tuple[int, Any]:
    event = api_event(method, f"/inventory/{sku}", RESOURCE, body=body, path_parameters={"sku": sku})
    response = api.handler(event, context)
    return response["statusCode"], json.loads(response["body"])


def test_get_returns_the_skus_stock_and_price(store: InventoryStore, context: FakeLambdaContext) -> None:
    store.set_stock("KB-001", available=10, unit_price=4999, currency="USD")
    Inventory(store).reserve("o-1", [OrderItem(sku="KB-001", quantity=3)])

    status, body = call("GET", "KB-001", context)

    assert status == 200
    assert body == {"sku": "KB-001", "available": 7, "reserved": 3, "unitPrice": 4999, "currency": "USD"}


def test_get_of_an_unknown_sku_is_404_with_a_json_error(context: FakeLambdaContext) -> None:
    status, body = call("GET", "NO-SUCH", context)

    assert status == 404
    assert "NO-SUCH" in body["message"]


def test_put_creates_a_sku_with_nothing_reserved(store: InventoryStore, context: FakeLambdaContext) -> None:
    status, body = call("PUT", "MS-002", context, {"available": 5, "unitPrice": 1250, "currency": "EUR"})

    assert status == 200
    assert body == {"sku": "MS-002", "available": 5, "reserved": 0, "unitPrice": 1250, "currency": "EUR"}
    assert call("GET", "MS-002", context) == (200, body)


def test_put_sets_stock_and_price_but_leaves_reserved_units_alone(
    store: InventoryStore, context: FakeLambdaContext
) -> None:
    store.set_stock("KB-001", available=10, unit_price=4999, currency="USD")
    Inventory(store).reserve("o-1", [OrderItem(sku="KB-001", quantity=3)])

    status, body = call("PUT", "KB-001", context, {"available": 50, "unitPrice": 3999, "currency": "USD"})

    assert status == 200
    assert body == {"sku": "KB-001", "available": 50, "reserved": 3, "unitPrice": 3999, "currency": "USD"}


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({"unitPrice": 100, "currency": "USD"}, "available", "missing"),
        ({"available": -1, "unitPrice": 100, "currency": "USD"}, "available", "greater_than_equal"),
        ({"available": 1, "unitPrice": 1.5, "currency": "USD"}, "unitPrice", "int_from_float"),
        ({"available": 1, "unitPrice": 100, "currency": "usd"}, "currency", "string_pattern_mismatch"),
        ({"available": 1, "unitPrice": 100, "currency": "USD", "reserved": 0}, "reserved", "extra_forbidden"),
    ],
)
def test_put_with_an_invalid_body_is_422_naming_the_field(
    body: dict[str, Any], field: str, problem: str, store: InventoryStore, context: FakeLambdaContext
) -> None:
    status, answer = call("PUT", "KB-001", context, body)

    assert status == 422
    assert {"loc": ["body", field], "type": problem} in answer["detail"]
    assert store.stock_level("KB-001") is None


def test_put_with_a_body_that_is_not_json_is_422(context: FakeLambdaContext) -> None:
    status, answer = call("PUT", "KB-001", context, "{available: 1")

    assert status == 422
    assert answer["detail"][0]["type"] == "json_invalid"


@pytest.mark.parametrize("sku", ["kb-001", "K", "KB_001"])
def test_a_sku_outside_the_contracts_pattern_is_422(sku: str, context: FakeLambdaContext) -> None:
    status, answer = call("GET", sku, context)

    assert status == 422
    assert answer["detail"] == [{"loc": ["path", "sku"], "type": "string_pattern_mismatch"}]
