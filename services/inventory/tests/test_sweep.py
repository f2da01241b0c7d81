"""SweepReservationsFunction end to end in moto, and the sweeper's rule on plain values."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from inventory.handlers import sweep_reservations
from inventory.reservation import HeldReservation, OrderOutcome, ReservationState, held_shard, held_shards
from inventory.service import Inventory
from inventory.stock_keeping import StockKeeping
from inventory.store import HELD_INDEX, InventoryStore
from inventory.sweep import SweepAction, sweep_action
from orderflow_devtools.testing import FakeLambdaContext, PublishedEvents, scheduled_event, sqs_event
from orderflow_shared.contracts import StockCommitted, StockReleased
from orderflow_shared.contracts.values import OrderItem

from .books_check import balance_problems
from .conftest import template_parameter

OVERDUE_AFTER = timedelta(seconds=int(template_parameter("ReservationOverdueSeconds")))
NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)


def held(outcome: OrderOutcome | None, held_for: timedelta) -> HeldReservation:
    return HeldReservation(order_id="o-1", held_since=NOW - held_for, order_outcome=outcome)


# --- the rule ------------------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", [OrderOutcome.PAID, OrderOutcome.FAILED])
@pytest.mark.parametrize("held_for", [timedelta(seconds=1), OVERDUE_AFTER * 2])
def test_a_reservation_whose_order_has_spoken_is_settled_however_old(
    outcome: OrderOutcome, held_for: timedelta
) -> None:
    assert sweep_action(held(outcome, held_for), NOW, OVERDUE_AFTER) is SweepAction.SETTLE


def test_a_reservation_without_a_word_is_overdue_only_past_the_bound() -> None:
    assert sweep_action(held(None, OVERDUE_AFTER), NOW, OVERDUE_AFTER) is SweepAction.WAIT
    assert (
        sweep_action(held(None, OVERDUE_AFTER + timedelta(seconds=1)), NOW, OVERDUE_AFTER)
        is SweepAction.OVERDUE
    )


# --- the function --------------------------------------------------------------------------------


def records(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The EMF metric blobs (and any other JSON) the function printed."""
    lines = capsys.readouterr().out.splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def metric(output: list[dict[str, Any]], name: str) -> list[float]:
    return [value for blob in output if "_aws" in blob and name in blob for value in blob[name]]


def state(store: InventoryStore, order_id: str) -> ReservationState | None:
    reservation = store.reservation(order_id)
    return reservation.state if reservation else None


def make_old(store: InventoryStore, order_id: str, held_for: timedelta) -> None:
    since = (datetime.now(UTC) - held_for).isoformat()
    store._reservations.update_item(
        Key={"orderId": order_id},
        UpdateExpression="SET heldSince = :since",
        ExpressionAttributeValues={":since": since},
    )


@pytest.fixture
def orders(store: InventoryStore, stock_keeping: StockKeeping) -> Inventory:
    """Five orders of 1 KB-001 each, all reserved; o-done was then paid and committed as usual."""
    stock_keeping.set_stock("KB-001", available=10, unit_price=4999, currency="USD")
    inventory = Inventory(store)
    for order_id in ("o-paid", "o-failed", "o-overdue", "o-young", "o-done"):
        inventory.reserve(order_id, [OrderItem(sku="KB-001", quantity=1)])
    inventory.commit("o-done")
    return inventory


def test_the_sweep_finishes_half_done_settlements_and_only_counts_overdue_reservations(
    orders: Inventory,
    store: InventoryStore,
    published: PublishedEvents,
    context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Each delivery recorded the order's word, then died before its transaction.
    store.record_outcome("o-paid", OrderOutcome.PAID)
    store.record_outcome("o-failed", OrderOutcome.FAILED)
    make_old(store, "o-paid", OVERDUE_AFTER * 2)  # a word known settles it, however old
    make_old(store, "o-overdue", OVERDUE_AFTER + timedelta(minutes=1))
    make_old(store, "o-young", OVERDUE_AFTER - timedelta(minutes=1))
    capsys.readouterr()
    warnings: list[dict[str, Any]] = []
    monkeypatch.setattr(
        sweep_reservations.logger, "warning", lambda message, **kwargs: warnings.append(kwargs)
    )

    response = sweep_reservations.handler(sqs_event(scheduled_event("SweepReservationsRule")), context)

    assert response == {"batchItemFailures": []}
    assert state(store, "o-paid") is ReservationState.COMMITTED
    assert state(store, "o-failed") is ReservationState.RELEASED
    assert state(store, "o-overdue") is ReservationState.RESERVED  # no word: maybe a late payment
    assert state(store, "o-young") is ReservationState.RESERVED
    level = store.stock_level("KB-001")
    assert level is not None
    assert (level.available, level.reserved, level.sold) == (6, 2, 2)
    assert balance_problems("KB-001") == []
    assert [event.order_id for event in published.of_type(StockCommitted)] == ["o-paid"]
    assert [event.order_id for event in published.of_type(StockReleased)] == ["o-failed"]
    output = records(capsys)
    assert {held.order_id for held in store.held_reservations()} == {"o-overdue", "o-young"}
    assert metric(output, "ReservationsOverdue") == [1.0]
    assert metric(output, "ReservationsSettledBySweep") == [2.0]
    [warning] = warnings
    assert warning["extra"]["order_ids"] == ["o-overdue"]


def test_a_second_sweep_finds_nothing_more_to_settle(
    orders: Inventory,
    store: InventoryStore,
    published: PublishedEvents,
    context: FakeLambdaContext,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store.record_outcome("o-paid", OrderOutcome.PAID)
    sweep_reservations.handler(sqs_event(scheduled_event("SweepReservationsRule")), context)
    published.drain()
    published.received.clear()
    capsys.readouterr()

    response = sweep_reservations.handler(sqs_event(scheduled_event("SweepReservationsRule")), context)

    assert response == {"batchItemFailures": []}
    assert published.drain() == []
    output = records(capsys)
    assert metric(output, "ReservationsSettledBySweep") == [0.0]
    assert metric(output, "ReservationsOverdue") == [0.0]  # published every tick, for the alarm


def test_one_reservation_that_cannot_settle_fails_the_tick_after_the_others_are_settled(
    orders: Inventory,
    store: InventoryStore,
    stock_keeping: StockKeeping,
    published: PublishedEvents,
    context: FakeLambdaContext,
) -> None:
    stock_keeping.set_stock("MS-002", available=5, unit_price=1250, currency="USD")
    orders.reserve("o-broken", [OrderItem(sku="MS-002", quantity=2)])
    for order_id in ("o-broken", "o-paid"):
        store.record_outcome(order_id, OrderOutcome.PAID)
    # Corrupted books: the catalogue lost track of the units o-broken holds.
    store._catalogue.update_item(
        Key={"sku": "MS-002"}, UpdateExpression="SET reserved = :r", ExpressionAttributeValues={":r": 0}
    )
    event = sqs_event(scheduled_event("SweepReservationsRule"))

    response = sweep_reservations.handler(event, context)

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert state(store, "o-broken") is ReservationState.RESERVED
    assert state(store, "o-paid") is ReservationState.COMMITTED
    assert [event.order_id for event in published.of_type(StockCommitted)] == ["o-paid"]


def test_a_message_that_is_not_a_schedule_fails_its_record(
    orders: Inventory, store: InventoryStore, published: PublishedEvents, context: FakeLambdaContext
) -> None:
    store.record_outcome("o-paid", OrderOutcome.PAID)
    not_a_tick = json.loads(scheduled_event("SweepReservationsRule")) | {
        "source": "orderflow.orders",
        "detail-type": "OrderFailed",
    }
    event = sqs_event(json.dumps(not_a_tick))

    response = sweep_reservations.handler(event, context)

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert state(store, "o-paid") is ReservationState.RESERVED


# --- the index -----------------------------------------------------------------------------------


def index_entries(store: InventoryStore) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    for shard in held_shards():
        entries += store._reservations.query(
            IndexName=HELD_INDEX,
            KeyConditionExpression="heldShard = :shard",
            ExpressionAttributeValues={":shard": shard},
        )["Items"]
    return entries


def test_recording_an_orders_word_leaves_its_held_index_entry_as_it_was(
    orders: Inventory, store: InventoryStore
) -> None:
    before = index_entries(store)

    store.record_outcome("o-paid", OrderOutcome.PAID)
    store.record_outcome("o-failed", OrderOutcome.FAILED)

    # An entry the word changed would be written again, a write unit per order.
    assert index_entries(store) == before


def test_held_reservations_carry_the_word_their_records_hold_read_in_batches(
    store: InventoryStore,
    stock_keeping: StockKeeping,
    dynamodb_calls: list[tuple[str, dict[str, Any]]],
) -> None:
    stock_keeping.set_stock("KB-001", available=200, unit_price=4999, currency="USD")
    inventory = Inventory(store)
    order_ids = [f"o-{n}" for n in range(150)]
    for order_id in order_ids:
        inventory.reserve(order_id, [OrderItem(sku="KB-001", quantity=1)])
    store.record_outcome("o-7", OrderOutcome.PAID)
    store.record_outcome("o-42", OrderOutcome.FAILED)
    inventory.commit("o-99")
    dynamodb_calls.clear()

    words = {held.order_id: held.order_outcome for held in store.held_reservations()}

    assert words == {order_id: None for order_id in order_ids if order_id != "o-99"} | {
        "o-7": OrderOutcome.PAID,
        "o-42": OrderOutcome.FAILED,
    }
    batches = [params for operation, params in dynamodb_calls if operation == "BatchGetItem"]
    assert [len(batch["RequestItems"]["ReservationsTable"]["Keys"]) for batch in batches] == [100, 49]
    assert all(batch["RequestItems"]["ReservationsTable"]["ConsistentRead"] for batch in batches)


def test_a_reservation_the_index_still_lists_after_it_settled_is_not_held(
    orders: Inventory, store: InventoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The index lags the table: o-done's entry may outlive its commit for a moment.
    query = store._reservations.query
    stale = {"orderId": "o-done", "heldShard": held_shard("o-done"), "heldSince": NOW.isoformat()}

    def lagging_query(**kwargs: Any) -> dict[str, Any]:
        page: dict[str, Any] = query(**kwargs)
        if kwargs["ExpressionAttributeValues"][":shard"] == stale["heldShard"]:
            page["Items"] = [stale, *page["Items"]]
        return page

    monkeypatch.setattr(store._reservations, "query", lagging_query)

    assert {held.order_id for held in store.held_reservations()} == {
        "o-paid",
        "o-failed",
        "o-overdue",
        "o-young",
    }
