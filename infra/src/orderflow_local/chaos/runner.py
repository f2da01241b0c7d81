"""Running one scenario on a running local system: stock, arm, place, wait for quiescence, check.

Quiescence: every accepted order is terminal or stalled, its saga is no longer running, and no
orderflow queue holds a message (visible or in flight), for two readings in a row. Only then is
the state read and checked; the faults are disarmed before the check and their firings counted.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field

from orderflow_local import faults
from orderflow_local.chaos import checker
from orderflow_local.chaos.checker import TERMINAL, Violation
from orderflow_local.chaos.scenarios import SCENARIOS, Scenario
from orderflow_local.chaos.workload import Placed, WorkloadShape, place_orders, plan_workload, stock_skus
from orderflow_local.launcher import LocalStack

POLL_SECONDS = 0.5
# After quiescence, compensations that a schedule finishes (a payment searched again) get this
# long before a violation counts.
SETTLE_SECONDS = 30.0
# The saga's reason when a reservation or a payment never answered (its ...TimedOut Pass states).
TIMED_OUT_REASON = "could not be confirmed in time"


@dataclass
class ScenarioResult:
    scenario: Scenario
    seed: int
    placed: list[Placed]
    fired: dict[str, int]
    statuses: Counter[str]
    timed_out: int  # failed orders whose step never answered in time (its reason says so)
    violations: list[Violation]
    unmet: list[str] = field(default_factory=list)  # the scenario's own expectations, and stuck runs
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.violations and not self.unmet

    @property
    def faults_fired(self) -> int:
        return sum(self.fired.values())


def run_scenario(
    stack: LocalStack, scenario: Scenario, seed: int, time_scale: float, shape: WorkloadShape | None = None
) -> ScenarioResult:
    started = time.monotonic()
    rng = random.Random(f"{seed}:{scenario.name}")  # noqa: S311 - reproducible chaos, not secrets
    index = [s.name for s in SCENARIOS].index(scenario.name)
    workload = plan_workload(rng, f"CH{seed}-{index:02d}", shape or scenario.shape)
    stock_skus(stack, workload.skus)
    armed = scenario.faults(workload, rng, time_scale)
    faults.arm(stack.fault_plan, *armed)
    try:
        placed = place_orders(stack, workload)
        order_ids = [p.order_id for p in placed if p.order_id]
        quiet = wait_for_quiescence(stack, order_ids, scenario.quiet_within)
    finally:
        fired = {fault["id"]: faults.fired(stack.fault_plan, fault["id"]) for fault in armed}
        faults.disarm(stack.fault_plan)
    skus = [item.sku for item in workload.skus]
    found = _settled_violations(stack, order_ids, skus) if quiet else checker.check(stack, order_ids, skus)
    statuses = Counter(_statuses(stack, order_ids).values())
    timed_out = sum(1 for reason in _failure_reasons(stack, order_ids) if TIMED_OUT_REASON in reason)
    unmet = [
        f"{p.order.customer_id}: never accepted (last answer {p.last_status})"
        for p in placed
        if not p.order_id
    ]
    if not quiet:
        unmet.append(f"not quiet within {scenario.quiet_within:.0f} s")
    if scenario.expect is not None:
        unmet += scenario.expect(workload, statuses)
    return ScenarioResult(
        scenario, seed, placed, fired, statuses, timed_out, found, unmet, time.monotonic() - started
    )


def wait_for_quiescence(stack: LocalStack, order_ids: list[str], within: float) -> bool:
    deadline = time.monotonic() + within
    quiet_readings = 0
    while time.monotonic() < deadline:
        quiet_readings = quiet_readings + 1 if _quiet(stack, order_ids) else 0
        if quiet_readings >= 2:
            return True
        time.sleep(POLL_SECONDS)
    return False


def _quiet(stack: LocalStack, order_ids: list[str]) -> bool:
    statuses = _statuses(stack, order_ids, with_stalls=True)
    if len(statuses) < len(order_ids) or any(s not in TERMINAL and s != "STALLED" for s in statuses.values()):
        return False
    backlog, _ = stack.queue_backlog()
    if backlog:
        return False
    running = checker.running_executions(stack, set(order_ids))
    return not running


def _statuses(stack: LocalStack, order_ids: list[str], with_stalls: bool = False) -> dict[str, str]:
    wanted = set(order_ids)
    return {
        item["orderId"]: "STALLED" if with_stalls and "stalled" in item else item["status"]
        for item in checker.table_scan(stack, "OrdersTable")
        if item["orderId"] in wanted
    }


def _failure_reasons(stack: LocalStack, order_ids: list[str]) -> list[str]:
    wanted = set(order_ids)
    return [
        str(item.get("failureReason", ""))
        for item in checker.table_scan(stack, "OrdersTable")
        if item["orderId"] in wanted
    ]


def _settled_violations(stack: LocalStack, order_ids: list[str], skus: list[str]) -> list[Violation]:
    deadline = time.monotonic() + SETTLE_SECONDS
    while found := checker.check(stack, order_ids, skus):
        if time.monotonic() > deadline:
            return found
        time.sleep(1.0)
    return []
