"""The core of `make chaos` in every test run: a few scenarios, one seed, fewer orders, on this stack.

The full run (every scenario, the 200-on-10 load) is `make chaos`; its last results are in
docs/reliability.md.
"""

from __future__ import annotations

import dataclasses

import pytest

from orderflow_local.chaos import report
from orderflow_local.chaos.runner import run_scenario
from orderflow_local.chaos.scenarios import CORE, scenario_named
from tests.conftest import TIME_SCALE
from tests.support.local_stack import LocalStack

SEED = 1
ORDERS = 6


@pytest.mark.parametrize("name", CORE)
def test_a_core_chaos_scenario_keeps_every_guarantee(stack: LocalStack, name: str) -> None:
    scenario = scenario_named(name)
    shape = dataclasses.replace(scenario.shape, orders=ORDERS)

    result = run_scenario(stack, scenario, SEED, TIME_SCALE, shape)

    assert result.faults_fired > 0, f"{name}: no fault fired, so nothing was tested"
    assert result.passed, f"\n{report.table([result])}\n{report.details([result])}\n{stack.log_tail(60)}"
