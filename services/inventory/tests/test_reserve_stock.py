"""ReserveStockFunction end to end in moto: SQS batch in, stock moved, event published, task answered."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest

from inventory.handlers import reserve_stock
from inventory.reservation import ReservationState
from inventory.stock_keeping import StockKeeping
from inventory.store import InventoryStore, StockMovedError
from orderflow_devtools.testing import (
    FakeLambdaContext,
    PublishedEvents,
    WorkflowAnswers,
    emitted_metric,
    sqs_event,
)
from orderflow_shared.aws import client
from orderflow_shared.contracts import ReserveStock, StockReserved
from orderflow_shared.contracts.orders import ReserveStockData
from orderflow_shared.contracts.values import OrderItem, PricedOrder, ReservedOrder
from orderflow_shared.priced_reservations import PricedReservationOpener, PricedTotal

pytestmark = pytest.mark.usefixtures("aws")


def command(order_id: str, *lines: tuple[str, int], token: str = "tok-1") -> ReserveStock:
    items = [OrderItem(sku=sku, quantity=quantity) for sku, quantity in lines]
    return ReserveStock.create(order_id, ReserveStockData(items=items), task_token=token)


def stock(store: InventoryStore, sku: str) -> tuple[int, int]:
    level = store.stock_level(sku)
    assert level is not None
    return level.available, level.reserved


@pytest.fixture(autouse=True)
def catalogue(stock_keeping: StockKeeping) -> None:
    stock_keeping.set_stock("KB-001", available=10, unit_price=4999, currency="USD")
    stock_keeping.set_stock("MS-002", available=3, unit_price=1250, currency="USD")


def test_reserving_moves_units_to_reserved_and_answers_with_the_catalogue_prices(
    store: InventoryStore, workflow: WorkflowAnswers, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    response = reserve_stock.handler(sqs_event(command("o-1", ("KB-001", 2), ("MS-002", 3))), context)

    assert response == {"batchItemFailures": []}
    assert stock(store, "KB-001") == (8, 2)
    assert stock(store, "MS-002") == (0, 3)
    answer = PricedOrder.model_validate(workflow.successes["tok-1"])
    assert [(line.sku, line.unit_price, line.line_total) for line in answer.lines] == [
        ("KB-001", 4999, 9998),
        ("MS-002", 1250, 3750),
    ]
    assert (answer.total_amount, answer.currency) == (13748, "USD")
    # The same total sealed for payments, which charges nothing else for this order.
    opener = PricedReservationOpener(client("kms"), os.environ["PRICED_RESERVATION_KEY_ARN"])
    sealed = ReservedOrder.model_validate(workflow.successes["tok-1"]).priced_reservation
    assert opener.total("o-1", sealed) == PricedTotal(13748, "USD")
    [reserved] = published.of_type(StockReserved)
    assert reserved.order_id == "o-1"
    assert reserved.data == answer
    stored = store.reservation("o-1")
    assert stored is not None
    assert (stored.state, stored.order) == (ReservationState.RESERVED, answer)


def test_lines_of_the_same_sku_are_reserved_together_and_priced_as_ordered(
    store: InventoryStore, workflow: WorkflowAnswers, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    reserve_stock.handler(sqs_event(command("o-1", ("KB-001", 2), ("KB-001", 5))), context)

    assert stock(store, "KB-001") == (3, 7)
    answer = PricedOrder.model_validate(workflow.successes["tok-1"])
    assert [(line.sku, line.quantity) for line in answer.lines] == [("KB-001", 2), ("KB-001", 5)]
    assert answer.total_amount == 7 * 4999


def test_one_short_line_reserves_nothing_and_fails_with_out_of_stock_naming_the_sku(
    store: InventoryStore, workflow: WorkflowAnswers, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    response = reserve_stock.handler(sqs_event(command("o-1", ("KB-001", 2), ("MS-002", 5))), context)

    assert response == {"batchItemFailures": []}  # a business answer, not a delivery fault
    assert stock(store, "KB-001") == (10, 0)
    assert stock(store, "MS-002") == (3, 0)
    error, cause = workflow.failures["tok-1"]
    assert error == "OutOfStock"
    assert "MS-002: requested 5, available 3" in cause
    assert "KB-001" not in cause
    assert workflow.successes == {}
    assert published.of_type(StockReserved) == []


def test_an_unknown_sku_is_out_of_stock(
    store: InventoryStore, workflow: WorkflowAnswers, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    reserve_stock.handler(sqs_event(command("o-1", ("KB-001", 1), ("NO-SUCH", 1))), context)

    assert workflow.failures["tok-1"] == (
        "OutOfStock",
        "not enough stock: NO-SUCH: requested 1, not in the catalogue",
    )
    assert stock(store, "KB-001") == (10, 0)


def test_skus_in_different_currencies_are_refused_as_out_of_stock(
    store: InventoryStore,
    stock_keeping: StockKeeping,
    workflow: WorkflowAnswers,
    published: PublishedEvents,
    context: FakeLambdaContext,
) -> None:
    stock_keeping.set_stock("EU-003", available=5, unit_price=900, currency="EUR")

    reserve_stock.handler(sqs_event(command("o-1", ("KB-001", 1), ("EU-003", 1))), context)

    error, cause = workflow.failures["tok-1"]
    assert error == "OutOfStock"
    assert "mixes currencies" in cause
    assert stock(store, "KB-001") == (10, 0)
    assert stock(store, "EU-003") == (5, 0)


def test_a_redelivered_command_answers_the_same_without_reserving_twice(
    store: InventoryStore,
    stock_keeping: StockKeeping,
    workflow: WorkflowAnswers,
    published: PublishedEvents,
    context: FakeLambdaContext,
) -> None:
    first = command("o-1", ("KB-001", 2), token="tok-1")
    # The workflow's timeout retry sends the same order again with a new token.
    retry = command("o-1", ("KB-001", 2), token="tok-2")

    reserve_stock.handler(sqs_event(first), context)
    stock_keeping.set_stock("KB-001", available=8, unit_price=9999, currency="USD")  # price changed since
    reserve_stock.handler(sqs_event(first, retry), context)

    assert stock(store, "KB-001") == (8, 2)
    answers = [ReservedOrder.model_validate(workflow.successes[token]) for token in ("tok-1", "tok-2")]
    priced = [PricedOrder.model_validate(answer.to_wire()) for answer in answers]
    assert priced[1] == priced[0]  # the stored prices, not the catalogue's new one
    assert priced[0].total_amount == 2 * 4999
    # Each answer seals the same stored total (each seal under its own nonce).
    opener = PricedReservationOpener(client("kms"), os.environ["PRICED_RESERVATION_KEY_ARN"])
    assert {opener.total("o-1", answer.priced_reservation) for answer in answers} == {
        PricedTotal(9998, "USD")
    }
    # Published again on each delivery: an earlier delivery may have failed right after reserving.
    assert len(published.of_type(StockReserved)) == 3


def test_a_redelivered_rejection_stays_rejected_after_a_restock(
    store: InventoryStore,
    stock_keeping: StockKeeping,
    workflow: WorkflowAnswers,
    published: PublishedEvents,
    context: FakeLambdaContext,
) -> None:
    reserve_stock.handler(sqs_event(command("o-1", ("MS-002", 5), token="tok-1")), context)
    stock_keeping.set_stock("MS-002", available=50, unit_price=1250, currency="USD")

    reserve_stock.handler(sqs_event(command("o-1", ("MS-002", 5), token="tok-2")), context)

    assert workflow.failures["tok-2"] == workflow.failures["tok-1"]
    assert stock(store, "MS-002") == (50, 0)


def test_stock_taken_between_reading_and_reserving_is_detected_by_the_transaction(
    store: InventoryStore,
    stock_keeping: StockKeeping,
    workflow: WorkflowAnswers,
    published: PublishedEvents,
    context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read_levels = store.stock_levels
    reads = []

    def levels_then_a_competing_sale(skus):  # type: ignore[no-untyped-def]
        levels = read_levels(skus)
        if not reads:
            stock_keeping.set_stock("MS-002", available=1, unit_price=1250, currency="USD")
        reads.append(levels)
        return levels

    monkeypatch.setattr(store, "stock_levels", levels_then_a_competing_sale)

    reserve_stock.handler(sqs_event(command("o-1", ("KB-001", 1), ("MS-002", 2))), context)

    assert len(reads) == 2  # the cancelled transaction led to a fresh read
    assert workflow.failures["tok-1"] == ("OutOfStock", "not enough stock: MS-002: requested 2, available 1")
    assert stock(store, "KB-001") == (10, 0)
    assert stock(store, "MS-002") == (1, 0)


def test_a_price_change_between_reading_and_reserving_reserves_at_the_new_price(
    store: InventoryStore,
    stock_keeping: StockKeeping,
    workflow: WorkflowAnswers,
    published: PublishedEvents,
    context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    read_levels = store.stock_levels
    reads = []

    def levels_then_a_repricing(skus):  # type: ignore[no-untyped-def]
        levels = read_levels(skus)
        if not reads:
            stock_keeping.set_stock("KB-001", available=10, unit_price=3999, currency="USD")
        reads.append(levels)
        return levels

    monkeypatch.setattr(store, "stock_levels", levels_then_a_repricing)

    reserve_stock.handler(sqs_event(command("o-1", ("KB-001", 1))), context)

    assert workflow.successes["tok-1"]["totalAmount"] == 3999
    assert stock(store, "KB-001") == (9, 1)


def test_a_malformed_record_is_reported_while_the_rest_of_the_batch_is_served(
    store: InventoryStore, workflow: WorkflowAnswers, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    event = sqs_event("{not json", command("o-1", ("KB-001", 1)))

    response = reserve_stock.handler(event, context)

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert "tok-1" in workflow.successes
    assert stock(store, "KB-001") == (9, 1)


def test_a_catalogue_that_keeps_changing_is_reported_to_the_workflow_as_a_service_fault(
    store: InventoryStore,
    workflow: WorkflowAnswers,
    published: PublishedEvents,
    context: FakeLambdaContext,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def always_moved(*args: object) -> None:
        raise StockMovedError(["KB-001"])

    monkeypatch.setattr(store, "hold", always_moved)

    response = reserve_stock.handler(sqs_event(command("o-1", ("KB-001", 1))), context)

    assert response == {"batchItemFailures": []}  # the workflow's Retry decides, not SQS redelivery
    error, cause = workflow.failures["tok-1"]
    assert error == "ServiceFault"
    assert cause.startswith("StockContentionError: order o-1")
    assert stock(store, "KB-001") == (10, 0)
    assert published.of_type(StockReserved) == []


@pytest.mark.usefixtures("published")
def test_the_steps_latency_from_the_command_to_the_answer_is_a_metric(
    workflow: WorkflowAnswers, context: FakeLambdaContext, capsys: pytest.CaptureFixture[str]
) -> None:
    # The workflow entered the step 30 s ago: the answer comes at least that long after.
    sent = command("o-9", ("KB-001", 1))
    entered = datetime.now(UTC) - timedelta(seconds=30)
    sent = sent.model_copy(update={"metadata": sent.metadata.model_copy(update={"occurred_at": entered})})

    reserve_stock.handler(sqs_event(sent), context)

    assert workflow.successes
    [seconds] = emitted_metric(capsys.readouterr().out, "ReserveStockStepSeconds")
    assert 30 <= seconds < 30 + (datetime.now(UTC) - entered).total_seconds()
