"""inventory's event contracts, as consumer (of orders and payments) and as producer (of stock facts).

Its real handlers run in moto on the producers' committed samples; what they read must be in the
producers' schemas and what they publish must validate against inventory's own schemas.
"""

from __future__ import annotations

import pytest

from inventory.stock_keeping import StockKeeping
from orderflow_devtools.registry.contract_pytest import consumer_tests
from orderflow_devtools.registry.contract_runs import PutEventsCapture, with_order_id
from orderflow_devtools.registry.contract_suite import ServiceContract
from orderflow_devtools.registry.event_types import EventType
from orderflow_shared.aws import client
from orderflow_shared.contracts import OrderOutOfStock, PaymentSucceeded, ReserveStock

pytestmark = pytest.mark.contract

CONTRACT = ServiceContract("inventory")
SAMPLES = CONTRACT.catalogue.samples
RESERVE, PAID, OUT_OF_STOCK = map(EventType.of, (ReserveStock, PaymentSucceeded, OrderOutOfStock))

test_rules_match, test_rules_deliver_what_is_routed, test_generated_events_parse = consumer_tests(CONTRACT)


@pytest.mark.usefixtures("workflow", "published")  # published: the bus, with a rule delivering from it
def test_handlers_read_only_sent_fields_and_publish_what_their_schemas_accept(
    stock_keeping: StockKeeping,
) -> None:
    published = PutEventsCapture().attach(client("events"))
    stock_keeping.set_stock("KB-001", available=100, unit_price=4999, currency="USD")
    # One order is reserved then paid; a second is reserved then released by a compensation.
    released = "order-released"
    lifecycle = [
        SAMPLES[RESERVE],
        SAMPLES[PAID],
        with_order_id(SAMPLES[RESERVE], released),
        with_order_id(SAMPLES[OUT_OF_STOCK], released),
        *(SAMPLES[event_type] for event_type in CONTRACT.consumed),
    ]

    assert CONTRACT.consume(*lifecycle) == []
    assert CONTRACT.unread() == []
    assert CONTRACT.read_problems() == []
    assert CONTRACT.provider_problems(published) == []
