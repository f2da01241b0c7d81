"""End-to-end tests: they start the real local stack once and drive it through its HTTP API only.

The stack records every AWS call its functions make (ORDERFLOW_ACCESS_LOG); once the session is
over, each call is checked against its function's role as deployed, and the run fails on any
call the role does not allow (docs/security.md, "Least privilege, proven by running").
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from orderflow_local import faults
from orderflow_local.access import check as least_privilege
from orderflow_local.access.recording import ACCESS_LOG_VARIABLE
from tests.support.local_stack import REPO_ROOT, LocalStack, start_local_stack
from tests.support.scenario import Scenario

# Scales the workflow's Retry/Timeout policy (payment retries 5 s, 10 s, 20 s) and queue
# visibility timeouts, so the real policies run in a fraction of their wall-clock time.
TIME_SCALE = 0.02


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.enable_socket)
            item.add_marker(pytest.mark.e2e)


_LEAST_PRIVILEGE = pytest.StashKey[str]()


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Iterator[LocalStack]:
    log_path = tmp_path_factory.mktemp("local-stack") / "orderflow.log"
    access_log = log_path.with_name("access")
    with _recording_calls(access_log):
        running = start_local_stack(log_path, time_scale=TIME_SCALE)
    yield running
    try:
        # Nothing the tests did may have been lost to a dead-letter queue.
        assert running.dead_letters() == {}, running.log_tail()
    finally:
        running.stop()
    # Stopped first: every function process has written its last call.
    _check_least_privilege(pytestconfig, access_log)


@contextmanager
def _recording_calls(directory: Path) -> Iterator[None]:
    """ORDERFLOW_ACCESS_LOG for the stack started inside (and only that one: other tests start
    stacks of their own, from copies with changed templates)."""
    before = os.environ.get(ACCESS_LOG_VARIABLE)
    os.environ[ACCESS_LOG_VARIABLE] = str(directory)
    try:
        yield
    finally:
        if before is None:
            del os.environ[ACCESS_LOG_VARIABLE]
        else:
            os.environ[ACCESS_LOG_VARIABLE] = before


def _check_least_privilege(config: pytest.Config, access_log: Path) -> None:
    report = least_privilege.run(access_log, REPO_ROOT)
    access_log.mkdir(exist_ok=True)
    (access_log / "report.txt").write_text(report.text() + "\n")
    config.stash[_LEAST_PRIVILEGE] = f"{report.text(compact=True)}\nfull report: {access_log / 'report.txt'}"
    if report.failed():
        pytest.fail(f"the least-privilege check failed\n{report.text()}", pytrace=False)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    summary = config.stash.get(_LEAST_PRIVILEGE, None)
    if summary is not None:
        terminalreporter.section("least privilege")
        terminalreporter.write_line(summary)


@pytest.fixture
def scenario(stack: LocalStack) -> Iterator[Scenario]:
    """One order's world: its own SKU (10 units) and customer; faults it arms are disarmed after."""
    yield Scenario(stack).stock(available=10)
    faults.disarm(stack.fault_plan)
