"""What a stopped saga execution means for its order, and that the rules name the ASL's real states."""

from __future__ import annotations

import json
from typing import Any

import pytest

from orders.domain.saga_outcome import (
    COMPENSATED_ENDINGS,
    FAILED_REASON,
    POST_PAYMENT_STATES,
    StoppedExecution,
    Verdict,
)

from .conftest import ASL_PATH

INPUT = {"orderId": "o-1", "customer": {"id": "c-1", "email": "ana@example.com"}}


def stopped(
    status: str, state: str | None, error: str | None = None, cause: str | None = None
) -> StoppedExecution:
    return StoppedExecution("o-1", status, state, error, cause, "2026-12-01T10:00:00.000Z", INPUT)


@pytest.mark.parametrize(
    ("execution", "verdict"),
    [
        (stopped("RUNNING", "GenerateInvoice"), Verdict.IGNORE),  # redriven since the event
        (stopped("SUCCEEDED", None), Verdict.COMPLETE),
        (stopped("FAILED", "OutOfStock", "OutOfStock"), Verdict.IGNORE),
        (stopped("FAILED", "PaymentFailed", "PaymentFailed"), Verdict.IGNORE),
        (stopped("FAILED", "OrderFailed", "OrderFailed"), Verdict.IGNORE),
        (stopped("FAILED", "GenerateInvoice", "ServiceFault", "S3 down"), Verdict.STALL),
        (stopped("TIMED_OUT", "SendConfirmation"), Verdict.STALL),
        (stopped("FAILED", "AnnouncePaymentFailed", "EventBridge.FailedEntry"), Verdict.FAIL),
        (stopped("TIMED_OUT", "ReserveStock"), Verdict.FAIL),
        (stopped("ABORTED", "ProcessPayment"), Verdict.FAIL),
    ],
)
def test_an_ended_execution_is_completed_ignored_stalled_or_failed(
    execution: StoppedExecution, verdict: Verdict
) -> None:
    assert execution.verdict() is verdict


def test_a_stall_names_the_step_the_technical_reason_and_when() -> None:
    assert stopped("FAILED", "GenerateInvoice", "ServiceFault", "S3 down").stall() == {
        "step": "GenerateInvoice",
        "reason": "ServiceFault: S3 down",
        "since": "2026-12-01T10:00:00.000Z",
    }


def test_a_failure_tells_the_customer_a_plain_reason_and_keeps_the_error() -> None:
    failure = stopped("TIMED_OUT", "ReserveStock").failure()
    assert (failure.customer.id, failure.error, failure.reason) == ("c-1", "ExecutionTimedOut", FAILED_REASON)
    assert stopped("FAILED", "AnnounceOrderFailed", "EventBridge.FailedEntry").failure().error == (
        "EventBridge.FailedEntry"
    )


def _states() -> dict[str, Any]:
    states: dict[str, Any] = json.loads(ASL_PATH.read_text())["States"]
    return states


def _reachable_from(start: str) -> set[str]:
    states, seen, todo = _states(), set(), [start]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        state = states[name]
        todo += [state["Next"]] if "Next" in state else []
        todo += [catch["Next"] for catch in state.get("Catch", [])]
    return seen


def test_the_post_payment_states_are_exactly_what_follows_a_successful_payment() -> None:
    after_payment = _reachable_from(_states()["ProcessPayment"]["Next"])
    tasks_after_payment = {name for name in after_payment if _states()[name]["Type"] == "Task"}
    assert tasks_after_payment == POST_PAYMENT_STATES
    # And none of them can fail the order: nothing after payment catches into a compensation.
    assert all("Catch" not in _states()[name] for name in POST_PAYMENT_STATES)


def test_the_compensated_endings_are_the_errors_of_the_sagas_fail_states() -> None:
    fail_errors = {state["Error"] for state in _states().values() if state["Type"] == "Fail"}
    assert fail_errors == COMPENSATED_ENDINGS


def test_the_happy_path_enters_the_four_callback_steps_and_nothing_else() -> None:
    # Every state entered is billed ($25 per million): the announcements around the saga are the
    # orders service's, not states of their own.
    definition = json.loads(ASL_PATH.read_text())
    path, name = [], definition["StartAt"]
    while True:
        path.append(name)
        state = definition["States"][name]
        if state.get("End"):
            break
        name = state["Next"]
    assert path == ["ReserveStock", "ProcessPayment", "GenerateInvoice", "SendConfirmation"]
    assert {definition["States"][step]["Resource"] for step in path} == {
        "arn:aws:states:::events:putEvents.waitForTaskToken"
    }
    # The saga's output is the invoice, from which OrderCompleted is announced.
    assert definition["States"]["SendConfirmation"]["OutputPath"] == "$.invoice"


def test_a_succeeded_execution_completes_its_order_from_the_invoice_it_output() -> None:
    succeeded = StoppedExecution(
        "o-1",
        "SUCCEEDED",
        None,
        None,
        None,
        "2026-12-01T10:00:00.000Z",
        INPUT,
        output={
            "invoiceNumber": "INV-1",
            "invoiceUrl": "https://x/orders/o-1/invoice",
            "totalAmount": 5,
            "currency": "EUR",
        },
    )
    completed = succeeded.completion()
    assert (completed.order_id, completed.data.total_amount, completed.data.currency) == ("o-1", 5, "EUR")
    assert completed.metadata.occurred_at.isoformat() == "2026-12-01T10:00:00+00:00"
    assert completed == succeeded.completion()  # the same event however often it is announced
    with pytest.raises(ValueError, match="no output"):
        stopped("SUCCEEDED", None).completion()
