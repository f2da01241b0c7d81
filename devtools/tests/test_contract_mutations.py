"""Each way of breaking a contract, done to a copy of it, fails with a message naming the producer,
the consumer, the event and the field (issue 3's done-when (a) to (d))."""

from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import pytest

from orderflow_devtools import compatibility
from orderflow_devtools.registry.contract_checks import Rule, read_problems, rule_problems
from orderflow_devtools.registry.contract_runs import Catalogue
from orderflow_devtools.registry.event_types import EventType
from orderflow_devtools.registry.schemas import JsonObject
from orderflow_shared.contracts import SendConfirmation, StockReserved

pytestmark = pytest.mark.contract

CATALOGUE = Catalogue.load()
CONFIRMATION = EventType.of(SendConfirmation)
# What notifications' confirmation handler reads of SendConfirmation (as its contract run records).
READS = {
    "notifications": {CONFIRMATION: {"metadata.orderId", "data.customer.email", "data.order.totalAmount"}}
}


def _schema_without(event_type: EventType, definition: str, field: str) -> dict[EventType, JsonObject]:
    """A copy of the committed schemas in which one definition of one event lacks ``field``."""
    schemas = copy.deepcopy(CATALOGUE.schemas)
    removed = schemas[event_type]["definitions"][definition]
    del removed["properties"][field]
    removed["required"] = [name for name in removed.get("required", []) if name != field]
    return schemas


def test_the_committed_contracts_pass_the_same_checks() -> None:
    assert read_problems(READS, CATALOGUE.schemas, CATALOGUE.services) == []


def test_a_producer_that_stops_sending_a_field_a_consumer_reads_fails() -> None:
    schemas = _schema_without(CONFIRMATION, "PricedOrder", "totalAmount")

    assert read_problems(READS, schemas, CATALOGUE.services) == [
        "notifications reads detail.data.order.totalAmount of orderflow.orders SendConfirmation v1, "
        "which its producer orders does not send"
    ]


def test_a_consumer_that_starts_reading_a_field_no_producer_sends_fails() -> None:
    reads = copy.deepcopy(READS)
    reads["notifications"][CONFIRMATION].add("data.invoiceUrls")

    assert read_problems(reads, CATALOGUE.schemas, CATALOGUE.services) == [
        "notifications reads detail.data.invoiceUrls of orderflow.orders SendConfirmation v1, "
        "which its producer orders does not send"
    ]


def test_a_rule_that_no_longer_matches_its_producers_events_fails() -> None:
    [projector] = CATALOGUE.consumers("orders")
    pattern = copy.deepcopy(projector.rule.pattern)
    pattern["detail-type"] = [
        name.replace("StockReserved", "StockReservd") for name in pattern["detail-type"]
    ]
    mutated = Rule(projector.rule.service, projector.rule.name, pattern, projector.rule.delivers)
    samples = {event_type: [sample] for event_type, sample in CATALOGUE.samples.items()}

    [problem] = rule_problems([mutated], CATALOGUE.services, samples)

    assert problem.startswith(
        "rule OrderStatusRule of orders no longer matches orderflow.inventory StockReserved v1 "
        "published by inventory (pattern "
    )
    assert '"StockReservd"' in problem  # the field at fault: the pattern's detail-type


def test_an_incompatible_schema_change_without_a_major_bump_fails(tmp_path: Path) -> None:
    # (d) at length, change by change, is test_compatibility.py; this is the same check on a copy of
    # the committed schemas, one of which loses a field without a new major.
    released, current = tmp_path / "released", tmp_path / "schemas"
    shutil.copytree(CATALOGUE.root / "shared/contracts/schemas", released)
    shutil.copytree(released, current)
    stock_reserved = EventType.of(StockReserved)
    schema = _schema_without(stock_reserved, "PricedOrder", "totalAmount")[stock_reserved]
    (current / f"{stock_reserved.schema_name}.json").write_text(json.dumps(schema))

    assert compatibility.check_release(released, current) == [
        "orderflow.inventory/StockReserved v1: detail.data.totalAmount: removed "
        "(consumers reading it break). "
        "Fix: bump VERSION of orderflow_shared.contracts.inventory.StockReserved to 2 "
        "(publish the new major alongside) or make the change additive."
    ]
