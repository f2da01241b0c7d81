"""Who may do what to the books: any signed-in caller reads a SKU, only operators change it."""

from __future__ import annotations

import pytest

from inventory.stock import StockLevel
from inventory.stock_keeping import StockKeeping
from inventory.store import InventoryStore
from orderflow_devtools.testing import FakeLambdaContext, operator_claims

from .books_check import logged_deltas
from .test_api import ADJUSTMENTS, CUSTOMER, adjust, call, put

pytestmark = pytest.mark.usefixtures("aws")


@pytest.fixture
def keyboard(stock_keeping: StockKeeping) -> StockLevel:
    return stock_keeping.set_stock("KB-001", available=10, unit_price=4999, currency="USD")


def test_a_customer_reads_a_skus_books(keyboard: StockLevel, context: FakeLambdaContext) -> None:
    answer = call("GET", "KB-001", context, caller=CUSTOMER)

    assert answer.status == 200
    assert (answer.body["available"], answer.body["unitPrice"]) == (10, 4999)
    assert answer.etag == '"1"'


def test_a_customers_put_is_403_and_changes_nothing(
    keyboard: StockLevel, store: InventoryStore, context: FakeLambdaContext
) -> None:
    answer = put("KB-001", 50, context, caller=CUSTOMER)

    assert answer.status == 403
    assert "operators" in answer.body["message"]
    assert store.stock_level("KB-001") == keyboard
    assert logged_deltas("KB-001") == [10]


def test_a_customers_put_of_a_new_sku_creates_nothing(
    store: InventoryStore, context: FakeLambdaContext
) -> None:
    assert put("NEW-001", 5, context, caller=CUSTOMER).status == 403
    assert store.stock_level("NEW-001") is None


def test_a_customers_adjustment_is_403_and_changes_nothing(
    keyboard: StockLevel, store: InventoryStore, context: FakeLambdaContext
) -> None:
    answer = adjust("KB-001", 5, "found some", context, key="k-1", caller=CUSTOMER)

    assert answer.status == 403
    assert "operators" in answer.body["message"]
    assert store.stock_level("KB-001") == keyboard
    assert logged_deltas("KB-001") == [10]
    # The key was not spent: the operator's adjustment with it applies.
    assert adjust("KB-001", 5, "found some", context, key="k-1").body["available"] == 15


def test_a_member_of_another_group_is_no_operator(keyboard: StockLevel, context: FakeLambdaContext) -> None:
    tester = operator_claims("tess", "tess@example.com", "testers")

    assert put("KB-001", 50, context, caller=tester).status == 403
    assert adjust("KB-001", 5, "found some", context, caller=tester).status == 403
    assert logged_deltas("KB-001") == [10]


def test_the_operators_group_is_the_one_the_template_names(
    keyboard: StockLevel, context: FakeLambdaContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPERATORS_GROUP", "stock-keepers")

    assert put("KB-001", 50, context, caller=operator_claims(group="operators")).status == 403
    assert put("KB-001", 50, context, caller=operator_claims(group="stock-keepers")).status == 200


@pytest.mark.parametrize(
    ("method", "resource", "request_body"),
    [
        ("GET", "/inventory/{sku}", None),
        ("PUT", "/inventory/{sku}", {"available": 50, "unitPrice": 4999, "currency": "USD"}),
        ("POST", ADJUSTMENTS, {"delta": 5, "reason": "found some"}),
    ],
    ids=["get", "put", "adjust"],
)
def test_a_request_without_a_caller_is_401_and_changes_nothing(
    method: str,
    resource: str,
    request_body: object,
    keyboard: StockLevel,
    store: InventoryStore,
    context: FakeLambdaContext,
) -> None:
    answer = call(method, "KB-001", context, request_body, resource=resource, caller=None)

    assert answer.status == 401
    assert answer.body["message"] == "Unauthorized"
    assert answer.etag is None
    assert store.stock_level("KB-001") == keyboard
    assert logged_deltas("KB-001") == [10]
