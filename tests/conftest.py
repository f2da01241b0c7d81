"""End-to-end tests: they start the real local stack once and drive it through its HTTP API only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from orderflow_local import faults
from tests.support.local_stack import LocalStack, start_local_stack
from tests.support.scenario import Scenario

# Scales the workflow's Retry/Timeout policy (payment retries 5 s, 10 s, 20 s) and queue
# visibility timeouts, so the real policies run in a fraction of their wall-clock time.
TIME_SCALE = 0.02


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.enable_socket)
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    log_path = tmp_path_factory.mktemp("local-stack") / "orderflow.log"
    running = start_local_stack(log_path, time_scale=TIME_SCALE)
    yield running
    try:
        # Nothing the tests did may have been lost to a dead-letter queue.
        assert running.dead_letters() == {}, running.log_tail()
    finally:
        running.stop()


@pytest.fixture
def scenario(stack: LocalStack) -> Iterator[Scenario]:
    """One order's world: its own SKU (10 units) and customer; faults it arms are disarmed after."""
    yield Scenario(stack).stock(available=10)
    faults.disarm(stack.fault_plan)
