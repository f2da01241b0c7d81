"""`make deploy SERVICE=<service> ENV=local`: one service redeployed into the running stack while orders flow.

The changed service is a copy of notifications whose confirmation email's subject carries a marker,
redeployed into a stack of the test's own while three clients place orders: every order placed
completes, the marker shows in the confirmation of every order placed once the redeploy has answered,
and no process of another service was restarted. Then each of the five services redeploys into the
shared stack from its own folder (the checkout's code, so the other tests see the stack unchanged):
only its processes change, and an order placed after it completes.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from orderflow_iac.deploy import main as deploy
from orderflow_iac.sam import SERVICES

from tests.support.local_stack import REPO_ROOT, LocalStack, http, start_local_stack
from tests.support.saga import (
    new_sku,
    order_body,
    place_order,
    stock,
    wait_for_terminal,
    wait_until,
)

CLIENTS = 3
OWN_TIME_SCALE = 0.2
LOAD_BEFORE_SECONDS = 2.0  # orders placed before the redeploy, many of them in flight during it
LOAD_AFTER_SECONDS = 3.0
CONFIRMED_SUBJECT = 'subject=f"Your {SHOP_NAME} order {order_id} is confirmed"'


def _processes(stack: LocalStack) -> dict[str, int]:
    response = http("GET", f"{stack.api_url}/_orderflow/runtime")
    assert response.status == 200, response.body
    processes: dict[str, int] = response.json()["processes"]
    return processes


def _of(processes: dict[str, int], service: str) -> dict[str, int]:
    return {name: pid for name, pid in processes.items() if name.startswith(f"function:orderflow-{service}.")}


def _confirmation_subjects(stack: LocalStack) -> dict[str, str]:
    """Every confirmation email's subject SES accepted, by the order id it names."""
    document = http("GET", f"{stack.aws_url}/moto-api/data.json").json()
    subjects: dict[str, str] = {}
    for message in document.get("ses", {}).get("Message", []):
        subject = str(message.get("subject", ""))
        if subject.endswith("is confirmed"):
            subjects[subject.split(" order ")[1].split(" ")[0]] = subject
    return subjects


def _changed_notifications(folder: Path, marker: str) -> Path:
    copy = folder / "notifications"
    shutil.copytree(
        REPO_ROOT / "services" / "notifications",
        copy,
        ignore=shutil.ignore_patterns("__pycache__", ".aws-sam", "tests"),
    )
    emails = copy / "src" / "notifications" / "emails.py"
    original = emails.read_text()
    assert CONFIRMED_SUBJECT in original, "the confirmation subject this test changes has moved"
    emails.write_text(original.replace(CONFIRMED_SUBJECT, CONFIRMED_SUBJECT.replace('f"', f'f"{marker} ', 1)))
    return copy


class _Clients:
    """A few customers placing orders one after another, each recording when it placed which."""

    def __init__(self, stack: LocalStack) -> None:
        self._stack = stack
        self._stop = threading.Event()
        self.placed: list[tuple[float, str]] = []
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(n,), daemon=True) for n in range(CLIENTS)]

    def _run(self, number: int) -> None:
        try:
            customer_id = f"c-redeploy-{number}-{uuid.uuid4().hex[:6]}"
            while not self._stop.is_set():
                sku = new_sku()  # one per order: no two orders contend for a catalogue item
                stock(self._stack, sku, available=1)
                body = order_body(
                    sku, 1, "tok_visa", email=f"{customer_id}@example.com", customer_id=customer_id
                )
                order_id = place_order(self._stack, body)["orderId"]
                with self._lock:
                    self.placed.append((time.monotonic(), order_id))
        except BaseException as error:
            self.errors.append(error)

    def __enter__(self) -> _Clients:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def _redeploy(stack: LocalStack, service: str, *source: str) -> float:
    started = time.monotonic()
    assert deploy([service, "local", "--api-url", stack.api_url, *source]) == 0, stack.log_tail()
    return time.monotonic() - started


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    """A stack of this test's own, whose steps' timeouts leave room for a redeploy's new processes
    starting on a busy machine (the shared stack's time scale gives a step a 1.2 s heartbeat)."""
    running = start_local_stack(
        tmp_path_factory.mktemp("redeploy") / "orderflow.log", time_scale=OWN_TIME_SCALE, faults=False
    )
    yield running
    try:
        assert running.dead_letters() == {}, running.log_tail()
    finally:
        running.stop()


def test_one_service_redeploys_with_new_code_while_orders_flow(own_stack: LocalStack, tmp_path: Path) -> None:
    stack = own_stack
    marker = f"[build-{uuid.uuid4().hex[:6]}]"
    copy = _changed_notifications(tmp_path, marker)
    before = _processes(stack)
    with _Clients(stack) as clients:
        time.sleep(LOAD_BEFORE_SECONDS)
        # The old code has confirmed at least one order before the redeploy (however busy the machine).
        wait_until(
            lambda: _confirmation_subjects(stack), timeout=30, message="a confirmation before the redeploy"
        )
        confirmed_before = _confirmation_subjects(stack)
        redeploy_started = time.monotonic()
        _redeploy(stack, "notifications", "--source", str(copy))
        redeployed = time.monotonic()
        time.sleep(LOAD_AFTER_SECONDS)
    assert not clients.errors, clients.errors
    after = _processes(stack)

    # 0 lost or stuck orders: every order placed completes.
    orders = [wait_for_terminal(stack, order_id, timeout=60) for _, order_id in clients.placed]
    assert {order["status"] for order in orders} == {"COMPLETED"}, [
        order for order in orders if order["status"] != "COMPLETED"
    ]
    during = [order_id for placed_at, order_id in clients.placed if placed_at < redeploy_started]
    later = [order_id for placed_at, order_id in clients.placed if placed_at > redeployed]
    assert during, "no order was placed before the redeploy"
    assert later, "no order was placed after the redeploy"

    # The new code answers: every order placed after the redeploy is confirmed by it.
    subjects = wait_until(
        lambda: (found := _confirmation_subjects(stack)).keys() >= {o for _, o in clients.placed} and found,
        timeout=30,
        message="a confirmation of every order",
    )
    assert all(subjects[order_id].startswith(marker) for order_id in later), {o: subjects[o] for o in later}
    # ...and the marker is the redeploy's doing: before it, the old code confirmed orders without it.
    assert confirmed_before
    assert not any(subject.startswith(marker) for subject in confirmed_before.values())

    # Only notifications restarted: every other function kept its processes.
    for service in SERVICES:
        if service == "notifications":
            assert _of(after, service).keys() == _of(before, service).keys()
            assert not set(_of(after, service).values()) & set(_of(before, service).values())
        else:
            assert _of(after, service) == _of(before, service), service
    assert after["aws"] == before["aws"]
    assert after["runtime"] == before["runtime"]


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_redeploys_from_its_folder_and_orders_still_complete(
    stack: LocalStack, service: str
) -> None:
    before = _processes(stack)
    _redeploy(stack, service)
    after = _processes(stack)
    assert not set(_of(after, service).values()) & set(_of(before, service).values())
    others = {
        name: pid for name, pid in before.items() if not name.startswith(f"function:orderflow-{service}.")
    }
    assert {name: after[name] for name in others} == others

    sku = new_sku()
    stock(stack, sku, available=5)
    email = f"redeployed-{service}-{uuid.uuid4().hex[:6]}@example.com"
    placed = place_order(stack, order_body(sku, 1, "tok_visa", email=email, customer_id=f"c-{service}"))
    assert wait_for_terminal(stack, placed["orderId"], timeout=60)["status"] == "COMPLETED"
