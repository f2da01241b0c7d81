"""PUT /inventory/{sku} and POST .../adjustments take one JSON object; any other body changes nothing."""

from __future__ import annotations

import json

import pytest

from inventory.stock import StockLevel
from inventory.stock_keeping import StockKeeping
from inventory.store import InventoryStore
from orderflow_devtools.testing import FakeLambdaContext

from .books_check import logged_deltas
from .test_api import ADJUSTMENTS, call

pytestmark = pytest.mark.usefixtures("aws")

NOT_OBJECTS = ['"x"', "1", "null", "true", "[]"]


@pytest.fixture
def keyboard(stock_keeping: StockKeeping) -> StockLevel:
    return stock_keeping.set_stock("KB-001", available=10, unit_price=4999, currency="USD")


@pytest.mark.parametrize(
    "text", [json.dumps([{"available": 5, "unitPrice": 100, "currency": "USD"}]), *NOT_OBJECTS], ids=str
)
def test_a_stock_update_that_is_not_one_json_object_creates_nothing(
    text: str, store: InventoryStore, context: FakeLambdaContext
) -> None:
    answer = call("PUT", "KB-001", context, text)

    assert answer.status == 422
    assert answer.body["detail"][0]["loc"] == ["body"]
    assert store.stock_level("KB-001") is None


@pytest.mark.parametrize("text", [json.dumps([{"delta": 3, "reason": "delivery"}]), *NOT_OBJECTS], ids=str)
def test_an_adjustment_that_is_not_one_json_object_changes_nothing(
    text: str, keyboard: StockLevel, context: FakeLambdaContext
) -> None:
    answer = call("POST", "KB-001", context, text, {"Idempotency-Key": "k-1"}, resource=ADJUSTMENTS)

    assert answer.status == 422
    assert answer.body["detail"][0]["loc"] == ["body"]
    assert logged_deltas("KB-001") == [10]


def test_a_delta_written_with_a_zero_fraction_is_a_whole_delta(
    keyboard: StockLevel, context: FakeLambdaContext
) -> None:
    answer = call("POST", "KB-001", context, '{"delta": 2.0, "reason": "found"}', resource=ADJUSTMENTS)

    assert answer.status == 200
    assert answer.body["available"] == 12
