"""The chaos tool's parts that need no running system: the invariant rules, the seeded plans, the report."""

from __future__ import annotations

import dataclasses
import random
from collections import Counter
from typing import Any

import pytest

from orderflow_local.chaos import report
from orderflow_local.chaos.checker import SystemState, Violation, violations
from orderflow_local.chaos.runner import ScenarioResult
from orderflow_local.chaos.scenarios import CORE, SCENARIOS, scenario_named
from orderflow_local.chaos.workload import Placed, PlannedOrder, WorkloadShape, plan_workload

ORDER, SKU = "o-1", "SKU-1"


def healthy() -> SystemState:
    """One completed order of 2 units of SKU-1 at 1500: every guarantee holds."""
    return SystemState(
        orders={
            ORDER: {
                "orderId": ORDER,
                "status": "COMPLETED",
                "totalAmount": 3000,
                "history": {
                    s: "t"
                    for s in ("RECEIVED", "INVENTORY_CONFIRMED", "PAYMENT_SUCCESS", "INVOICED", "COMPLETED")
                },
            }
        },
        ledgers={
            ORDER: {"charges": [{"id": "ch_1", "status": "succeeded"}], "refunds": [], "netAmount": 3000}
        },
        catalogue={SKU: {"stocked": 10, "available": 8, "reserved": 0, "sold": 2}},
        adjustments={SKU: 10},
        reservations={ORDER: {"orderId": ORDER, "state": "COMMITTED"}},
        held={SKU: Counter({"COMMITTED": 2})},
        invoices=Counter({ORDER: 1}),
        emails={ORDER: [f"Your orderflow order {ORDER} is confirmed"]},
        executions={ORDER: ["SUCCEEDED"]},
        payments={ORDER: {"orderId": ORDER, "status": "SUCCEEDED", "paymentId": "ch_1"}},
    )


def found(state: SystemState) -> set[tuple[str, str]]:
    return {(v.invariant, v.subject) for v in violations(state, [ORDER], [SKU])}


def test_a_healthy_order_breaks_nothing() -> None:
    assert violations(healthy(), [ORDER], [SKU]) == []


def _with(state: SystemState, **changes: Any) -> SystemState:
    return dataclasses.replace(state, **changes)


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        (lambda s: s.ledgers[ORDER]["charges"].append({"id": "ch_2", "status": "succeeded"}), ("G1", ORDER)),
        (
            lambda s: s.orders[ORDER].update(
                status="PAYMENT_FAILED", history={"RECEIVED": "t", "PAYMENT_FAILED": "t"}
            ),
            ("G1", ORDER),
        ),
        (lambda s: s.payments[ORDER].update(status="PENDING"), ("G1", ORDER)),
        (
            lambda s: s.ledgers[ORDER]["refunds"].append({"charge": "ch_1", "status": "succeeded"}),
            ("G1", ORDER),
        ),
        (lambda s: s.catalogue[SKU].update(available=9), ("G2", SKU)),
        (lambda s: s.catalogue[SKU].update(reserved=1, available=7), ("G2", SKU)),
        (lambda s: s.adjustments.update({SKU: 12}), ("G2", SKU)),
        (lambda s: s.reservations[ORDER].update(state="RESERVED"), ("G2", ORDER)),
        (lambda s: s.orders[ORDER].update(status="INVOICED"), ("G3", ORDER)),
        (lambda s: s.executions.update({ORDER: ["SUCCEEDED", "SUCCEEDED"]}), ("G3", ORDER)),
        (lambda s: s.executions.update({ORDER: ["RUNNING"]}), ("G3", ORDER)),
        (lambda s: s.invoices.update({ORDER: 1}), ("G4", ORDER)),
        (lambda s: s.emails[ORDER].append(s.emails[ORDER][0]), ("G4", ORDER)),
        (
            lambda s: s.queue_backlog.update({"orderflow-payments-ProcessPaymentQueue": 1}),
            ("G5", "orderflow-payments-ProcessPaymentQueue"),
        ),
        (lambda s: s.dead_letters.update({"orderflow-orders-DLQ": 2}), ("G5", "orderflow-orders-DLQ")),
        (lambda s: s.orders[ORDER].update(status="PAYMENT_SUCCESS"), ("G6", ORDER)),
    ],
    ids=[
        "two-charges",
        "failed-but-charged",
        "payments-disagree",
        "refund-not-recorded",
        "unbooked-unit",
        "reserved-without-reservation",
        "stocked-not-logged",
        "terminal-still-reserved",
        "neither-terminal-nor-stalled",
        "two-executions",
        "saga-running",
        "two-invoices",
        "two-emails",
        "unprocessed-message",
        "dead-letter",
        "status-moved-back",
    ],
)
def test_each_broken_guarantee_is_named_with_its_subject(broken: Any, expected: tuple[str, str]) -> None:
    state = healthy()
    broken(state)
    assert expected in found(state)


def test_a_stalled_paid_order_is_not_a_violation_of_progress() -> None:
    state = healthy()
    state.orders[ORDER].update(status="PAYMENT_SUCCESS", stalled={"step": "GenerateInvoice"})
    state.orders[ORDER]["history"] = {"RECEIVED": "t", "INVENTORY_CONFIRMED": "t", "PAYMENT_SUCCESS": "t"}
    state.invoices.clear()
    state.emails[ORDER] = []
    assert {v for v in violations(state, [ORDER], [SKU]) if v.invariant in ("G3", "G4", "G6")} == set()


def test_an_order_missing_from_the_table_is_reported() -> None:
    assert found(_with(healthy(), orders={})) >= {("G3", ORDER)}


def test_the_same_seed_plans_the_same_orders_and_another_seed_others() -> None:
    shape = WorkloadShape()
    first = plan_workload(random.Random("1:baseline"), "CH1-00", shape)
    again = plan_workload(random.Random("1:baseline"), "CH1-00", shape)
    other = plan_workload(random.Random("2:baseline"), "CH1-00", shape)
    assert first == again
    assert first != other
    assert {order.token for order in first.orders} <= set(shape.tokens)


def test_every_scenario_arms_valid_faults_and_the_core_ones_exist() -> None:
    from orderflow_local.faults import parse_plan

    for scenario in SCENARIOS:
        workload = plan_workload(random.Random(0), "CH0-00", scenario.shape)
        parse_plan({"faults": scenario.faults(workload, random.Random(0), 0.05)})
    assert all(scenario_named(name) for name in CORE)
    assert len(SCENARIOS) >= 12


def test_the_report_counts_violations_per_invariant_and_closes_with_the_tally() -> None:
    ok = ScenarioResult(scenario_named("baseline"), 1, [], {}, Counter({"COMPLETED": 3}), 0, [])
    bad = ScenarioResult(
        scenario_named("duplicates"),
        1,
        [Placed(PlannedOrder("c", (("A", 1),), "tok_visa"), "o-9", 1, 201)],
        {"dup": 4},
        Counter({"COMPLETED": 1}),
        0,
        [Violation("G1", "o-9", "2 charges"), Violation("G1", "o-8", "2 charges")],
    )
    table = report.table([ok, bad])
    assert "duplicates" in table
    assert "FAILED" in table
    assert report.summary([ok, bad]) == "1 passed, 1 failed"
    assert "G1 o-9: 2 charges" in report.details([ok, bad])
