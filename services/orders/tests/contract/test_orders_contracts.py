"""orders' event contracts as consumer: the status projector against every lifecycle fact.

orders' own events are built by the workflow (statemachine/order_saga.asl.json), not by Python
handlers: its producer side is checked by running that workflow, in test_orders_workflow_contracts.py.
"""

from __future__ import annotations

from typing import Any

import pytest

from orderflow_devtools.registry.contract_pytest import consumer_tests
from orderflow_devtools.registry.contract_suite import ServiceContract
from orders.domain.order import PlaceOrderRequest, new_order_record, now_iso

pytestmark = pytest.mark.contract

CONTRACT = ServiceContract("orders")
# The order the samples tell the story of, as the API received it (an API body, not an event).
REQUEST = PlaceOrderRequest.model_validate(
    {
        "customer": {"id": "c-1", "email": "ana@example.com"},
        "items": [{"sku": "KB-001", "quantity": 2}],
        "payment": {"token": "tok_visa"},
        "shippingAddress": {"name": "A", "line1": "1 St", "city": "X", "postalCode": "1", "country": "ES"},
    }
)

test_rules_match, test_rules_deliver_what_is_routed, test_generated_events_parse = consumer_tests(CONTRACT)


def test_status_projector_reads_only_fields_its_producers_send(orders_table: Any) -> None:
    samples = [CONTRACT.catalogue.samples[event_type] for event_type in CONTRACT.consumed]
    order_id = samples[0]["detail"]["metadata"]["orderId"]
    orders_table.put_item(Item=new_order_record(order_id, REQUEST, now_iso(), "{}"))

    assert CONTRACT.consume(*samples) == []
    assert CONTRACT.unread() == []
    assert CONTRACT.read_problems() == []
