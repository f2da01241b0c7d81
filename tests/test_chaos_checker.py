"""The invariant checker catches what it must: a system whose stock release was removed is caught.

A copy of the repository with inventory's compensation handler gutted (it acknowledges the
failure events and releases nothing) runs as a local stack of its own; one declined order later,
the checker must name that order and G2, with the evidence.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orderflow_local.chaos.checker import Violation, check
from tests.conftest import TIME_SCALE
from tests.support.local_stack import REPO_ROOT, LocalStack, start_local_stack
from tests.support.scenario import Scenario

RELEASE_HANDLER = Path("services/inventory/src/inventory/handlers/release_stock.py")
SKIPPED_COMPENSATION = "    return  # gutted on purpose: the failure is acknowledged, nothing is released\n"


@pytest.fixture(scope="module")
def broken_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    copy = tmp_path_factory.mktemp("broken") / "orderflow"
    shutil.copytree(
        REPO_ROOT, copy, ignore=shutil.ignore_patterns(".git", ".venv", ".tools", "__pycache__", "build")
    )
    handler = copy / RELEASE_HANDLER
    lines = handler.read_text().splitlines(keepends=True)
    (signature,) = [i for i, line in enumerate(lines) if line.startswith("def release_and_publish(")]
    lines.insert(signature + 1, SKIPPED_COMPENSATION)  # the handler's first statement
    handler.write_text("".join(lines))
    stack = start_local_stack(copy.parent / "orderflow.log", time_scale=TIME_SCALE, repo_root=copy)
    yield stack
    stack.stop()


def test_a_skipped_compensation_is_reported_naming_the_order_and_the_invariant(
    broken_stack: LocalStack,
) -> None:
    scenario = Scenario(broken_stack).stock(available=5)
    order_id = scenario.place("tok_declined", quantity=2)
    assert scenario.terminal()["status"] == "PAYMENT_FAILED"

    found = _settled_check(broken_stack, order_id, scenario.sku, expected={"G2"})

    assert Violation("G2", order_id, "PAYMENT_FAILED, yet its stock is still reserved") in found
    assert {violation.invariant for violation in found} == {"G2"}, found


def _settled_check(stack: LocalStack, order_id: str, sku: str, expected: set[str]) -> list[Violation]:
    """The checker's findings once messages still in flight (the failure email, say) are consumed.

    A backlog is a G5 finding only while it lasts; what the gutted handler broke stays broken.
    """
    deadline = time.monotonic() + 30
    found = check(stack, [order_id], [sku])
    while {violation.invariant for violation in found} != expected and time.monotonic() < deadline:
        time.sleep(0.3)
        found = check(stack, [order_id], [sku])
    return found
