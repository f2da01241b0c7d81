"""The timing budget of docs/reliability.md, enforced on the templates and the ASL as deployed.

Every timeout, heartbeat, retry policy, visibility timeout and the execution timeout is chosen
from one table; these tests read the real files and fail when one of them drifts so that the
relations between them no longer hold.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from orderflow_devtools.testing.template import FUNCTION, QUEUE, RULE, SamTemplate, logical_id

REPO = Path(__file__).resolve().parents[1]
ASL = json.loads((REPO / "services" / "orders" / "statemachine" / "order_saga.asl.json").read_text())
SERVICES = ("orders", "inventory", "payments", "invoicing", "notifications")

# A putEvents call is answered in milliseconds; its attempts are budgeted at this many seconds each.
PUT_EVENTS_ATTEMPT_SECONDS = 10
PUBLISH_ERRORS = {
    "EventBridge.FailedEntry",
    "EventBridge.ThrottlingException",
    "EventBridge.InternalException",
}
STEP_FAULTS = {"States.Timeout", "States.HeartbeatTimeout", "ServiceFault"}
# The adapter's connect timeout and the default of the payments stack's read-timeout parameter.
PROVIDER_CONNECT_SECONDS = 5
MAX_RECEIVE_COUNT = 5
DLQ_RETENTION_SECONDS = 14 * 24 * 3600


@cache
def template(service: str) -> SamTemplate:
    return SamTemplate.load(REPO / "services" / service / "template.yaml")


@dataclass(frozen=True)
class Consumer:
    service: str
    function: str
    queue: str
    timeout: int


def consumers() -> Iterator[Consumer]:
    for service in SERVICES:
        sam = template(service)
        for function in sam.properties(FUNCTION):
            for event in sam.sqs_events(function):
                yield Consumer(
                    service,
                    function,
                    logical_id(event["Queue"]),
                    int(sam.function_setting(function, "Timeout")),
                )


def consumer_of(detail_type: str) -> Consumer:
    """The function whose queue the rule for this workflow command feeds."""
    for consumer in consumers():
        sam = template(consumer.service)
        for rule in sam.properties(RULE).values():
            pattern = rule.get("EventPattern", {})
            targets = [logical_id(target["Arn"]) for target in rule.get("Targets", [])]
            if detail_type in pattern.get("detail-type", []) and consumer.queue in targets:
                return consumer
    raise AssertionError(f"no service consumes {detail_type}")


def callback_tasks() -> dict[str, dict[str, Any]]:
    return {
        name: state
        for name, state in ASL["States"].items()
        if state.get("Resource", "").endswith(".waitForTaskToken")
    }


def publishing_tasks() -> dict[str, dict[str, Any]]:
    return {
        name: state
        for name, state in ASL["States"].items()
        if ":::events:putEvents" in state.get("Resource", "")
    }


def command_of(state: dict[str, Any]) -> str:
    detail_type: str = state["Parameters"]["Entries"][0]["DetailType"]
    return detail_type


def retry_waits(retrier: dict[str, Any]) -> float:
    interval, rate = retrier.get("IntervalSeconds", 1), retrier.get("BackoffRate", 2.0)
    cap = retrier.get("MaxDelaySeconds", float("inf"))
    return sum(min(interval * rate**attempt, cap) for attempt in range(retrier.get("MaxAttempts", 3)))


def worst_case_seconds(state: dict[str, Any]) -> float:
    """How long a Task may take before it succeeds or gives up for good, every retry included."""
    if state["Type"] != "Task":
        return 0.0
    retriers = state.get("Retry", [])
    per_attempt = state.get("TimeoutSeconds", PUT_EVENTS_ATTEMPT_SECONDS)
    retried = 0.0
    for retrier in retriers:
        # A publish that failed cost one putEvents call, not a whole wait for the task's answer.
        failed_publish = set(retrier["ErrorEquals"]) <= PUBLISH_ERRORS
        cost = PUT_EVENTS_ATTEMPT_SECONDS if failed_publish else per_attempt
        retried += retrier.get("MaxAttempts", 3) * cost + retry_waits(retrier)
    return per_attempt + retried


def longest_path_seconds(name: str) -> float:
    state = ASL["States"][name]
    nexts = ([state["Next"]] if "Next" in state else []) + [catch["Next"] for catch in state.get("Catch", [])]
    return worst_case_seconds(state) + max((longest_path_seconds(n) for n in nexts), default=0.0)


@pytest.mark.parametrize("consumer", list(consumers()), ids=lambda c: f"{c.service}.{c.function}")
def test_each_queue_outlasts_six_runs_of_its_function_and_dead_letters_after_five_receives(
    consumer: Consumer,
) -> None:
    queues = template(consumer.service).properties(QUEUE)
    queue = queues[consumer.queue]
    assert queue["VisibilityTimeout"] >= 6 * consumer.timeout
    assert queue["RedrivePolicy"]["maxReceiveCount"] == MAX_RECEIVE_COUNT
    dead_letters = queues[logical_id(queue["RedrivePolicy"]["deadLetterTargetArn"])]
    assert dead_letters["MessageRetentionPeriod"] == DLQ_RETENTION_SECONDS


@pytest.mark.parametrize("name", sorted(callback_tasks()))
def test_a_live_handler_always_answers_or_beats_within_one_heartbeat(name: str) -> None:
    state = callback_tasks()[name]
    consumer = consumer_of(command_of(state))
    needed = consumer.timeout
    if consumer.service == "payments":
        # A provider call that hangs to its timeouts, then a lookup that does the same.
        read = int(
            template("payments").document["Parameters"]["PaymentProviderReadTimeoutSeconds"]["Default"]
        )
        needed = consumer.timeout + PROVIDER_CONNECT_SECONDS + read
    assert state["HeartbeatSeconds"] > needed
    assert state["TimeoutSeconds"] >= state["HeartbeatSeconds"]


def test_the_payment_function_outlasts_a_charge_and_a_lookup_that_both_time_out() -> None:
    read = int(template("payments").document["Parameters"]["PaymentProviderReadTimeoutSeconds"]["Default"])
    assert consumer_of("ProcessPayment").timeout > 2 * (PROVIDER_CONNECT_SECONDS + read)


@pytest.mark.parametrize("name", sorted(publishing_tasks()))
def test_every_publish_retries_the_transient_eventbridge_errors(name: str) -> None:
    retried = {
        error for retrier in publishing_tasks()[name].get("Retry", []) for error in retrier["ErrorEquals"]
    }
    assert retried >= PUBLISH_ERRORS


@pytest.mark.parametrize("name", sorted(callback_tasks()))
def test_every_step_retries_faults_and_missed_heartbeats_with_a_fresh_token(name: str) -> None:
    retried = {error for retrier in callback_tasks()[name]["Retry"] for error in retrier["ErrorEquals"]}
    assert retried >= STEP_FAULTS


def test_after_payment_a_step_gets_a_longer_budget_than_any_step_before_it() -> None:
    before = max(worst_case_seconds(ASL["States"][name]) for name in ("ReserveStock", "ProcessPayment"))
    for name in ("GenerateInvoice", "SendConfirmation"):
        assert worst_case_seconds(ASL["States"][name]) > before


def test_the_execution_timeout_outlasts_the_longest_path_through_the_saga() -> None:
    assert ASL["TimeoutSeconds"] > longest_path_seconds(ASL["StartAt"])


def test_a_reservation_is_overdue_only_after_its_saga_has_certainly_ended() -> None:
    overdue = template("inventory").document["Parameters"]["ReservationOverdueSeconds"]["Default"]
    assert int(overdue) >= ASL["TimeoutSeconds"]
