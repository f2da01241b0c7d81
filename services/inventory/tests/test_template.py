"""template.yaml keeps the service conventions and feeds each function exactly the contracts it routes."""

from __future__ import annotations

import pytest

from inventory.store import HELD_INDEX
from orderflow_devtools.testing.template import FUNCTION, RULE, TABLE, convention_problems, logical_id
from orderflow_shared.contracts import (
    Event,
    OrderFailed,
    OrderOutOfStock,
    OrderPaymentFailed,
    PaymentSucceeded,
    ReserveStock,
)

from .conftest import TEMPLATE


def test_the_template_keeps_the_service_conventions() -> None:
    assert convention_problems(TEMPLATE) == []


@pytest.mark.parametrize(
    ("function", "contracts"),
    [
        ("ReserveStockFunction", [ReserveStock]),
        ("CommitStockFunction", [PaymentSucceeded]),
        ("ReleaseStockFunction", [OrderPaymentFailed, OrderOutOfStock, OrderFailed]),
    ],
)
def test_each_consumer_is_fed_by_a_rule_for_exactly_its_contracts(
    function: str, contracts: list[type[Event]]
) -> None:
    assert TEMPLATE.rule_feeding(function)["EventPattern"] == {
        "source": sorted({contract.SOURCE for contract in contracts}),
        "detail-type": [contract.DETAIL_TYPE for contract in contracts],
    }


def test_the_sweeper_is_fed_by_a_schedule_on_the_default_bus_one_tick_at_a_time() -> None:
    rule = TEMPLATE.rule_feeding("SweepReservationsFunction")

    assert rule["ScheduleExpression"] == "rate(5 minutes)"
    assert "EventBusName" not in rule  # schedules only fire on the default bus
    assert "EventPattern" not in rule
    [event] = TEMPLATE.sqs_events("SweepReservationsFunction")
    assert event["BatchSize"] == 1


def test_only_the_rule_feeding_a_queue_may_send_to_it_or_to_its_dead_letter_queue() -> None:
    policies = {
        logical_id(resource): policy["Properties"]
        for policy in TEMPLATE.resources.values()
        if policy["Type"] == "AWS::SQS::QueuePolicy"
        for resource in policy["Properties"]["PolicyDocument"]["Statement"][0]["Resource"]
    }
    for rule_id, rule in TEMPLATE.properties(RULE).items():
        for target in rule["Targets"]:
            # Events EventBridge cannot deliver go to the queue's DLQ, under the same policy.
            for queue in (target["Arn"], target["DeadLetterConfig"]["Arn"]):
                [statement] = policies[logical_id(queue)]["PolicyDocument"]["Statement"]
                assert logical_id(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == rule_id


def test_the_sweepers_index_is_the_one_the_store_queries_and_the_bound_reaches_the_function() -> None:
    [index] = TEMPLATE.properties(TABLE)["ReservationsTable"]["GlobalSecondaryIndexes"]
    assert index["IndexName"] == HELD_INDEX
    assert [key["AttributeName"] for key in index["KeySchema"]] == ["heldShard", "heldSince"]
    # Keys only: recording an order's word on a held record must not rewrite its index entry.
    assert index["Projection"] == {"ProjectionType": "KEYS_ONLY"}
    [queried] = [
        statement["Resource"]
        for policy in TEMPLATE.properties(FUNCTION)["SweepReservationsFunction"]["Policies"]
        if isinstance(policy, dict)
        for statement in policy.get("Statement", [])
        if statement["Action"] == "dynamodb:Query"
    ]
    assert queried == {"Fn::Sub": f"${{ReservationsTable.Arn}}/index/{HELD_INDEX}"}
    environment = TEMPLATE.properties(FUNCTION)["SweepReservationsFunction"]["Environment"]["Variables"]
    assert environment["RESERVATION_OVERDUE_SECONDS"] == {"Ref": "ReservationOverdueSeconds"}
    assert TEMPLATE.document["Parameters"]["ReservationOverdueSeconds"]["Default"] == 7200
