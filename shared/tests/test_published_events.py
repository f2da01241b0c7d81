from __future__ import annotations

import pytest

from orderflow_devtools.testing import PublishedEvents
from orderflow_shared.contracts import StockReleased, StockReserved
from orderflow_shared.contracts.inventory import StockMovementData
from orderflow_shared.contracts.values import OrderItem, PricedLine, PricedOrder
from orderflow_shared.publisher import EventPublisher, PublishFailedError

pytestmark = pytest.mark.usefixtures("aws")

RESERVED = StockReserved.create(
    "o-1",
    PricedOrder(
        lines=[PricedLine(sku="KB-001", quantity=1, unit_price=4999, line_total=4999)],
        total_amount=4999,
        currency="USD",
    ),
)
RELEASED = StockReleased.create("o-2", StockMovementData(items=[OrderItem(sku="KB-001", quantity=1)]))


def test_every_published_event_comes_back_as_its_contract_once() -> None:
    published = PublishedEvents.subscribe()

    EventPublisher().publish(RESERVED, RELEASED)

    assert published.of_type(StockReserved) == [RESERVED]
    assert published.of_type(StockReleased) == [RELEASED]
    assert published.drain() == [RESERVED, RELEASED]


class _RejectingFirst:
    """An EventBridge client that rejects the entries of the first ``rejections`` calls, then accepts."""

    def __init__(self, rejections: int) -> None:
        self.rejections = rejections
        self.calls: list[list[str]] = []

    def put_events(self, Entries: list[dict[str, str]]) -> dict[str, object]:
        self.calls.append([entry["DetailType"] for entry in Entries])
        if len(self.calls) <= self.rejections:
            results: list[dict[str, str]] = [
                {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"} for _ in Entries
            ]
            return {"FailedEntryCount": len(Entries), "Entries": results}
        return {"FailedEntryCount": 0, "Entries": [{"EventId": str(n)} for n, _ in enumerate(Entries)]}


def test_a_rejected_entry_raises_at_once_by_default() -> None:
    events = _RejectingFirst(rejections=1)

    with pytest.raises(PublishFailedError, match="StockReserved: ThrottlingException"):
        EventPublisher("bus", events_client=events).publish(RESERVED)
    assert events.calls == [["StockReserved"]]


def test_with_attempts_the_rejected_entries_are_put_again_until_accepted() -> None:
    events = _RejectingFirst(rejections=2)

    EventPublisher("bus", events_client=events, attempts=3).publish(RESERVED)

    assert events.calls == [["StockReserved"]] * 3


def test_with_attempts_exhausted_the_publisher_raises() -> None:
    events = _RejectingFirst(rejections=3)

    with pytest.raises(PublishFailedError):
        EventPublisher("bus", events_client=events, attempts=3).publish(RESERVED)
    assert len(events.calls) == 3


def test_a_stable_event_id_is_the_same_for_the_same_fact_and_differs_by_type_and_identity() -> None:
    assert StockReserved.stable_event_id("o-1") == StockReserved.stable_event_id("o-1")
    assert StockReserved.stable_event_id("o-1") != StockReserved.stable_event_id("o-2")
    assert StockReserved.stable_event_id("o-1") != StockReleased.stable_event_id("o-1")
