"""End-to-end tests: they start the real local stack once and drive it through its HTTP API only.

The stack records every AWS call its functions make (ORDERFLOW_ACCESS_LOG), and refuses those its
function's role does not allow as AWS would; once the session is over, each call is checked against
its function's role as deployed, and the run fails on any call the role does not allow
(docs/security.md, "Least privilege, proven by running"). With ORDERFLOW_FAIL_UNUSED_GRANTS=1 (`make
e2e`), a grant no call used and the template does not justify fails the run too, but only when the
session ran the whole suite: a partial run leaves unused the grants that other files exercise.
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
from tests.support.local_stack import LocalStack, start_local_stack
from tests.support.scenario import Scenario

# Set to 1 (the Makefile's e2e target does) to fail a whole-suite run on unjustified unused grants.
FAIL_UNUSED_VARIABLE = "ORDERFLOW_FAIL_UNUSED_GRANTS"
E2E_DIR = Path(__file__).parent

# Scales the workflow's Retry/Timeout policy (payment retries 5 s, 10 s, 20 s) and queue
# visibility timeouts, so the real policies run in a fraction of their wall-clock time.
TIME_SCALE = 0.02


def _is_e2e(item: pytest.Item) -> bool:
    return Path(str(item.fspath)).is_relative_to(E2E_DIR)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _is_e2e(item):
            item.add_marker(pytest.mark.enable_socket)
            item.add_marker(pytest.mark.e2e)


_LEAST_PRIVILEGE = pytest.StashKey[str]()
# What tells a run of the whole suite from a partial one: why it is partial, what ran, what passed.
_PARTIAL = pytest.StashKey[list[str]]()
_E2E_ITEMS = pytest.StashKey[set[str]]()
_passed: set[str] = set()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_PARTIAL] = []
    config.stash[_E2E_ITEMS] = set()


def pytest_deselected(items: list[pytest.Item]) -> None:
    deselected = [item for item in items if _is_e2e(item)]
    if deselected:
        deselected[0].config.stash[_PARTIAL].append(f"{len(deselected)} end-to-end tests deselected")


def pytest_collection_finish(session: pytest.Session) -> None:
    items = [item for item in session.items if _is_e2e(item)]
    session.config.stash[_E2E_ITEMS] = {item.nodeid for item in items}
    collected = {Path(str(item.fspath)).name for item in items}
    missing = sorted({path.name for path in E2E_DIR.glob("test_*.py")} - collected)
    if missing:
        session.config.stash[_PARTIAL].append(f"not run: {', '.join(missing)}")
    if any("::" in argument for argument in session.config.args):
        session.config.stash[_PARTIAL].append("tests chosen by node id")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed:
        _passed.add(report.nodeid)


def _partial(config: pytest.Config) -> list[str]:
    """Why this session is not a passing run of every end-to-end test (nothing: it is)."""
    reasons = list(config.stash[_PARTIAL])
    not_passed = config.stash[_E2E_ITEMS] - _passed
    if not_passed:
        reasons.append(f"{len(not_passed)} end-to-end tests did not pass")
    return reasons


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
    _check_least_privilege(pytestconfig, access_log, running.repo_root)


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


def _check_least_privilege(config: pytest.Config, access_log: Path, repo_root: Path) -> None:
    report = least_privilege.run(access_log, repo_root)
    fail_unused = os.environ.get(FAIL_UNUSED_VARIABLE) == "1"
    partial = _partial(config) if fail_unused else []
    if partial:
        fail_unused = False
    note = f"\nunused grants do not fail this run: it is partial ({'; '.join(partial)})" if partial else ""
    access_log.mkdir(exist_ok=True)
    (access_log / "report.txt").write_text(report.text(fail_unused) + note + "\n")
    config.stash[_LEAST_PRIVILEGE] = (
        f"{report.text(fail_unused, compact=True)}{note}\nfull report: {access_log / 'report.txt'}"
    )
    if report.failed(fail_unused):
        pytest.fail(f"the least-privilege check failed\n{report.text(fail_unused)}", pytrace=False)


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
