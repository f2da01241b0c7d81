"""InventoryApiFunction through real API Gateway proxy events."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest

from inventory.handlers import api
from inventory.service import Inventory
from inventory.stock import StockLevel
from inventory.stock_keeping import StockKeeping
from inventory.store import InventoryStore
from orderflow_devtools.testing import FakeLambdaContext, api_event, customer_claims, operator_claims
from orderflow_shared.contracts.values import OrderItem

from .books_check import balance_problems, logged_deltas

pytestmark = pytest.mark.usefixtures("aws")

STOCK = "/inventory/{sku}"
ADJUSTMENTS = "/inventory/{sku}/adjustments"

# The claims of the callers' ID tokens: an operator manages stock, a customer may only read it.
OPERATOR = operator_claims()
CUSTOMER = customer_claims("c-1", "ana@example.com")


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def etag(self) -> str | None:
        return self.headers.get("ETag")


def call(
    method: str,
    sku: str,
    context: FakeLambdaContext,
    body: Any = None,
    headers: dict[str, str] | None = None,
    resource: str = STOCK,
    caller: dict[str, str] | None = OPERATOR,
) -> Answer:
    """A request as ``caller`` (the claims of their ID token; None: no authorizer vouched)."""
    path = resource.replace("{sku}", sku)
    event = api_event(
        method, path, resource, body=body, headers=headers, path_parameters={"sku": sku}, claims=caller
    )
    response = api.handler(event, context)
    # API Gateway REST (payload 1.0) answers every header in multiValueHeaders.
    headers = {name: values[-1] for name, values in response.get("multiValueHeaders", {}).items()}
    return Answer(response["statusCode"], json.loads(response["body"]), headers)


def adjust(
    sku: str,
    delta: Any,
    reason: Any,
    context: FakeLambdaContext,
    key: str | None = None,
    caller: dict[str, str] | None = OPERATOR,
) -> Answer:
    headers = {"Idempotency-Key": key} if key else None
    body = {"delta": delta, "reason": reason}
    return call("POST", sku, context, body, headers, resource=ADJUSTMENTS, caller=caller)


def put(
    sku: str,
    available: int,
    context: FakeLambdaContext,
    if_match: str | None = None,
    caller: dict[str, str] | None = OPERATOR,
) -> Answer:
    headers = {"If-Match": if_match} if if_match is not None else None
    body = {"available": available, "unitPrice": 4999, "currency": "USD"}
    return call("PUT", sku, context, body, headers, caller=caller)


@pytest.fixture
def keyboard(stock_keeping: StockKeeping) -> StockLevel:
    return stock_keeping.set_stock("KB-001", available=10, unit_price=4999, currency="USD")


# --- GET -------------------------------------------------------------------------------------------


def test_get_returns_the_skus_books_price_and_version(
    keyboard: StockLevel, store: InventoryStore, context: FakeLambdaContext
) -> None:
    Inventory(store).reserve("o-1", [OrderItem(sku="KB-001", quantity=3)])

    answer = call("GET", "KB-001", context)

    assert answer.status == 200
    assert answer.body == {
        "sku": "KB-001",
        "available": 7,
        "reserved": 3,
        "sold": 0,
        "stocked": 10,
        "unitPrice": 4999,
        "currency": "USD",
    }
    assert answer.etag == '"2"'  # created, then changed by the reservation


def test_get_of_an_unknown_sku_is_404_with_a_json_error(context: FakeLambdaContext) -> None:
    answer = call("GET", "NO-SUCH", context)

    assert answer.status == 404
    assert "NO-SUCH" in answer.body["message"]
    assert answer.etag is None


# --- PUT -------------------------------------------------------------------------------------------


def test_put_creates_a_sku_with_nothing_reserved_and_logs_its_initial_stock(
    context: FakeLambdaContext,
) -> None:
    answer = call("PUT", "MS-002", context, {"available": 5, "unitPrice": 1250, "currency": "EUR"})

    assert answer.status == 200
    assert answer.body == {
        "sku": "MS-002",
        "available": 5,
        "reserved": 0,
        "sold": 0,
        "stocked": 5,
        "unitPrice": 1250,
        "currency": "EUR",
    }
    assert answer.etag == '"1"'
    assert call("GET", "MS-002", context) == answer
    assert logged_deltas("MS-002") == [5]


def test_put_sets_stock_and_price_but_leaves_reserved_units_alone(
    keyboard: StockLevel, store: InventoryStore, context: FakeLambdaContext
) -> None:
    Inventory(store).reserve("o-1", [OrderItem(sku="KB-001", quantity=3)])

    answer = call("PUT", "KB-001", context, {"available": 50, "unitPrice": 3999, "currency": "USD"})

    assert answer.status == 200
    assert (answer.body["available"], answer.body["reserved"], answer.body["unitPrice"]) == (50, 3, 3999)
    assert answer.body["stocked"] == 53
    assert sorted(logged_deltas("KB-001")) == [10, 43]  # 7 available became 50
    assert balance_problems("KB-001") == []


def test_put_with_the_current_etag_succeeds_and_answers_the_next_one(
    keyboard: StockLevel, context: FakeLambdaContext
) -> None:
    etag = call("GET", "KB-001", context).etag
    assert etag is not None

    answer = put("KB-001", 12, context, if_match=etag)

    assert answer.status == 200
    assert answer.body["available"] == 12
    assert answer.etag == '"2"'
    assert call("GET", "KB-001", context).etag == answer.etag


def test_put_with_a_stale_etag_is_412_and_changes_nothing(
    keyboard: StockLevel, store: InventoryStore, context: FakeLambdaContext
) -> None:
    etag = call("GET", "KB-001", context).etag
    assert etag is not None
    Inventory(store).reserve("o-1", [OrderItem(sku="KB-001", quantity=3)])  # lands after the read

    answer = put("KB-001", 10, context, if_match=etag)

    assert answer.status == 412
    assert "If-Match" in answer.body["message"]
    assert answer.etag == '"2"'  # the current version, to read again
    level = store.stock_level("KB-001")
    assert level is not None
    assert (level.available, level.reserved) == (7, 3)


@pytest.mark.parametrize("if_match", ['W/"1"', '"7"', '"abc"'])
def test_put_with_a_tag_that_is_not_the_current_strong_version_is_412(
    if_match: str, keyboard: StockLevel, context: FakeLambdaContext
) -> None:
    assert put("KB-001", 12, context, if_match=if_match).status == 412


def test_put_with_if_match_star_or_a_list_naming_the_version_succeeds(
    keyboard: StockLevel, context: FakeLambdaContext
) -> None:
    assert put("KB-001", 12, context, if_match="*").status == 200
    assert put("KB-001", 13, context, if_match='"1", "2"').status == 200


def test_put_with_if_match_on_an_unknown_sku_is_412_and_creates_nothing(
    store: InventoryStore, context: FakeLambdaContext
) -> None:
    answer = put("NEW-001", 5, context, if_match="*")

    assert answer.status == 412
    assert answer.etag is None
    assert store.stock_level("NEW-001") is None


def test_put_with_a_malformed_if_match_is_400(keyboard: StockLevel, context: FakeLambdaContext) -> None:
    answer = put("KB-001", 12, context, if_match="7")

    assert answer.status == 400
    assert "If-Match" in answer.body["message"]


def test_put_without_if_match_racing_a_reservation_keeps_the_reservation_and_the_books(
    keyboard: StockLevel,
    stock_keeping: StockKeeping,
    store: InventoryStore,
    context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    books = stock_keeping._books
    read_level = books.level
    reads: list[StockLevel | None] = []

    def level_then_a_reservation(sku: str) -> StockLevel | None:
        level = read_level(sku)
        if not reads:  # between the PUT's read and its write
            Inventory(store).reserve("o-1", [OrderItem(sku=sku, quantity=3)])
        reads.append(level)
        return level

    monkeypatch.setattr(books, "level", level_then_a_reservation)

    answer = put("KB-001", 20, context)

    assert answer.status == 200
    assert len(reads) == 2  # the version moved, so the change was computed again
    assert (answer.body["available"], answer.body["reserved"], answer.body["stocked"]) == (20, 3, 23)
    assert sorted(logged_deltas("KB-001")) == [10, 13]  # 7 available (after the reservation) became 20
    assert balance_problems("KB-001") == []
    reservation = store.reservation("o-1")
    assert reservation is not None
    assert reservation.order is not None


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
    answer = call("PUT", "KB-001", context, body)

    assert answer.status == 422
    assert {"loc": ["body", field], "type": problem} in answer.body["detail"]
    assert store.stock_level("KB-001") is None


def test_put_with_a_body_that_is_not_json_is_422(context: FakeLambdaContext) -> None:
    answer = call("PUT", "KB-001", context, "{available: 1")

    assert answer.status == 422
    assert answer.body["detail"][0]["type"] == "json_invalid"


@pytest.mark.parametrize("sku", ["kb-001", "K", "KB_001"])
def test_a_sku_outside_the_contracts_pattern_is_422(sku: str, context: FakeLambdaContext) -> None:
    answer = call("GET", sku, context)

    assert answer.status == 422
    assert answer.body["detail"] == [{"loc": ["path", "sku"], "type": "string_pattern_mismatch"}]


# --- POST adjustments ------------------------------------------------------------------------------


def test_an_adjustment_changes_available_and_stocked_and_is_logged(
    keyboard: StockLevel, context: FakeLambdaContext
) -> None:
    received = adjust("KB-001", 5, "delivery from the supplier", context)
    damaged = adjust("KB-001", -2, "damaged in the warehouse", context)

    assert (received.status, damaged.status) == (200, 200)
    assert (received.body["available"], received.body["stocked"]) == (15, 15)
    assert (damaged.body["available"], damaged.body["stocked"]) == (13, 13)
    assert (received.etag, damaged.etag) == ('"2"', '"3"')
    assert call("GET", "KB-001", context).etag == damaged.etag
    assert sorted(logged_deltas("KB-001")) == [-2, 5, 10]
    assert balance_problems("KB-001") == []


def test_an_adjustment_below_zero_available_is_409_and_changes_nothing(
    keyboard: StockLevel, store: InventoryStore, context: FakeLambdaContext
) -> None:
    Inventory(store).reserve("o-1", [OrderItem(sku="KB-001", quantity=3)])  # 7 left available

    answer = adjust("KB-001", -8, "stocktake", context)

    assert answer.status == 409
    assert "available" in answer.body["message"]
    assert answer.etag == '"2"'
    level = store.stock_level("KB-001")
    assert level is not None
    assert (level.available, level.reserved, level.version) == (7, 3, 2)
    assert logged_deltas("KB-001") == [10]


def test_an_adjustment_of_an_unknown_sku_is_404(context: FakeLambdaContext) -> None:
    answer = adjust("NO-SUCH", 1, "found one", context)

    assert answer.status == 404
    assert "NO-SUCH" in answer.body["message"]


def test_a_retried_adjustment_with_the_same_idempotency_key_applies_once_and_answers_the_same(
    keyboard: StockLevel, store: InventoryStore, context: FakeLambdaContext
) -> None:
    first = adjust("KB-001", 5, "delivery 42", context, key="delivery-42")
    Inventory(store).reserve("o-1", [OrderItem(sku="KB-001", quantity=1)])  # the books move on

    retry = adjust("KB-001", 5, "delivery 42", context, key="delivery-42")

    assert retry == first
    assert sorted(logged_deltas("KB-001")) == [5, 10]
    level = store.stock_level("KB-001")
    assert level is not None
    assert (level.available, level.stocked) == (14, 15)
    assert adjust("KB-001", 5, "delivery 43", context, key="delivery-43").body["stocked"] == 20


def test_an_idempotency_key_reused_for_a_different_adjustment_is_422(
    keyboard: StockLevel, context: FakeLambdaContext
) -> None:
    adjust("KB-001", 5, "delivery 42", context, key="delivery-42")

    answer = adjust("KB-001", 6, "delivery 42", context, key="delivery-42")

    assert answer.status == 422
    assert "Idempotency-Key" in answer.body["message"]
    assert sorted(logged_deltas("KB-001")) == [5, 10]


def test_concurrent_duplicates_of_one_adjustment_apply_it_once(
    keyboard: StockLevel,
    stock_keeping: StockKeeping,
    context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    books = stock_keeping._books
    read_level = books.level
    duplicates: list[Answer] = []

    def level_then_the_duplicate_lands(sku: str) -> StockLevel | None:
        level = read_level(sku)
        monkeypatch.setattr(books, "level", read_level)
        # The other delivery passed its check too, and writes first.
        duplicates.append(adjust("KB-001", 5, "delivery 42", context, key="delivery-42"))
        return level

    monkeypatch.setattr(books, "level", level_then_the_duplicate_lands)

    answer = adjust("KB-001", 5, "delivery 42", context, key="delivery-42")

    assert answer.status == 200
    assert answer == duplicates[0]
    assert sorted(logged_deltas("KB-001")) == [5, 10]


@pytest.mark.parametrize(
    ("body", "field", "problem"),
    [
        ({"delta": 0, "reason": "nothing"}, "delta", "value_error"),
        ({"delta": 1.5, "reason": "half"}, "delta", "int_type"),
        ({"delta": True, "reason": "true"}, "delta", "int_type"),
        ({"reason": "no delta"}, "delta", "missing"),
        ({"delta": 1, "reason": ""}, "reason", "string_too_short"),
        ({"delta": 1, "reason": "   "}, "reason", "string_too_short"),
        ({"delta": 1, "reason": "x" * 201}, "reason", "string_too_long"),
        ({"delta": 1, "reason": "ok", "available": 3}, "available", "extra_forbidden"),
    ],
)
def test_an_invalid_adjustment_is_422_naming_the_field(
    body: dict[str, Any], field: str, problem: str, keyboard: StockLevel, context: FakeLambdaContext
) -> None:
    answer = call("POST", "KB-001", context, body, resource=ADJUSTMENTS)

    assert answer.status == 422
    assert {"loc": ["body", field], "type": problem} in answer.body["detail"]
    assert logged_deltas("KB-001") == [10]
