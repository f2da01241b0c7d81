from __future__ import annotations

import pytest

from orderflow_devtools.testing import PublishedEvents
from orderflow_shared.contracts import StockReleased, StockReserved
from orderflow_shared.contracts.inventory import StockMovementData
from orderflow_shared.contracts.values import OrderItem, PricedLine, PricedOrder
from orderflow_shared.publisher import EventPublisher

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
