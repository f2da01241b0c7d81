"""EventRouter.parse: a record read as the router reads it before routing, for consumers that handle a
batch's events together."""

from __future__ import annotations

import json

import pytest
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from orderflow_devtools.testing import aws_event, eventbridge_event, sqs_record
from orderflow_shared.consumer import EventRouter, InvalidEventError, UnroutableEventError
from orderflow_shared.contracts import StockCommitted
from orderflow_shared.contracts.inventory import StockMovementData
from orderflow_shared.contracts.values import OrderItem

COMMITTED = StockCommitted.create("o-1", StockMovementData(items=[OrderItem(sku="KB-001", quantity=1)]))


@pytest.fixture
def router() -> EventRouter:
    def never_routed(event: object) -> None:
        raise AssertionError(f"parse routed {event!r}")

    return EventRouter({StockCommitted: never_routed}, Logger(service="test"))


def test_a_record_is_parsed_into_its_routes_model_without_being_routed(router: EventRouter) -> None:
    record = SQSRecord(sqs_record(json.dumps(eventbridge_event(COMMITTED))))

    assert router.parse(record) == COMMITTED


def test_a_record_its_contract_refuses_raises(router: EventRouter) -> None:
    envelope = eventbridge_event(COMMITTED)
    envelope["detail"]["data"]["items"] = "none"

    with pytest.raises(InvalidEventError, match="StockCommitted refused: data.items"):
        router.parse(SQSRecord(sqs_record(json.dumps(envelope))))
    with pytest.raises(InvalidEventError, match="EventBridge envelope refused"):
        router.parse(SQSRecord(sqs_record("not json")))


def test_an_event_no_route_covers_raises(router: EventRouter) -> None:
    forged = aws_event("orderflow.payments", "StockCommitted", COMMITTED.to_wire())

    with pytest.raises(UnroutableEventError, match="source='orderflow.payments'"):
        router.parse(SQSRecord(sqs_record(json.dumps(forged))))
