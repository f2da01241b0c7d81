"""POST /orders takes one JSON object: any other body is refused and nothing is stored or started."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

from orderflow_devtools.testing import FakeLambdaContext, api_event

from .conftest import ANA, VALID, body, executions


@pytest.mark.parametrize(
    "text",
    [json.dumps([VALID]), json.dumps([VALID, VALID]), '"x"', "1", "null", "true", "[]"],
    ids=["array-of-a-valid-order", "array-of-two", "string", "number", "null", "true", "empty-array"],
)
def test_a_body_that_is_not_one_json_object_is_refused(
    api: ModuleType, orders_table: Any, state_machine_arn: str, text: str
) -> None:
    response = api.handler(api_event("POST", "/orders", "/orders", text, claims=ANA), FakeLambdaContext())

    assert response["statusCode"] == 422
    assert body(response)["detail"][0]["loc"] == ["body"]
    assert orders_table.scan()["Items"] == []
    assert executions(state_machine_arn) == []


@pytest.mark.parametrize(
    ("order", "field"),
    [
        ({**VALID, "items": [{"sku": "KB-001", "quantity": "2"}]}, "quantity"),
        ({**VALID, "items": [{"sku": "KB-001", "quantity": True}]}, "quantity"),
        (
            {
                **{k: v for k, v in VALID.items() if k != "shippingAddress"},
                "shipping_address": VALID["shippingAddress"],
            },
            "shippingAddress",
        ),
    ],
    ids=["quantity-as-text", "quantity-true", "python-field-name"],
)
def test_a_body_the_document_does_not_describe_is_refused(
    api: ModuleType, orders_table: Any, order: dict[str, Any], field: str
) -> None:
    response = api.handler(api_event("POST", "/orders", "/orders", order, claims=ANA), FakeLambdaContext())

    assert response["statusCode"] == 422
    assert field in response["body"]
    assert orders_table.scan()["Items"] == []


def test_a_quantity_written_with_a_zero_fraction_is_a_quantity(api: ModuleType) -> None:
    order = {**VALID, "items": [{"sku": "KB-001", "quantity": 2.0}]}

    response = api.handler(api_event("POST", "/orders", "/orders", order, claims=ANA), FakeLambdaContext())

    assert response["statusCode"] == 201
    assert body(response)["items"] == [{"sku": "KB-001", "quantity": 2}]
