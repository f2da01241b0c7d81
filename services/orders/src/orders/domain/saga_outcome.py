"""What an execution of the order saga that ended means for its order.

Seen from Step Functions' own status-change events:

- it SUCCEEDED: the order is **complete**; the orders service announces OrderCompleted from the
  execution's output (the saga has no state of its own for it: every state entered is billed);
- the saga ended a foreseen failure itself, through a compensation and a Fail state whose error
  names it: nothing more to do;
- anything else stopped it (a step that kept failing after payment, a compensation that could not
  be published, the execution timeout, an operator's StopExecution):
  - stopped at a step after payment (invoice, email): the order is paid and only needs that step
    done, so it is marked **stalled** until an operator redrives it;
  - stopped anywhere else: the order **fails**; the orders service publishes OrderFailed, so stock
    is released, any charge refunded and the customer told.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from orderflow_shared.contracts import OrderCompleted
from orderflow_shared.contracts.orders import OrderFailureData
from orderflow_shared.contracts.values import Customer

# The states after ProcessPayment succeeded; their names are the ASL's (a unit test checks them).
POST_PAYMENT_STATES = frozenset({"GenerateInvoice", "SendConfirmation"})

# The errors of the saga's own Fail states: the execution ended through a compensation already.
COMPENSATED_ENDINGS = frozenset({"OutOfStock", "PaymentFailed", "OrderFailed"})

STOPPED_STATUSES = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
SUCCEEDED = "SUCCEEDED"

# What the customer reads; the technical error stays in the execution's history and our logs.
FAILED_REASON = "We could not process your order because of a technical problem on our side."

_MAX_STALL_REASON = 500


class Verdict(StrEnum):
    IGNORE = "IGNORE"  # still running (e.g. redriven since), or already compensated
    COMPLETE = "COMPLETE"
    STALL = "STALL"
    FAIL = "FAIL"


@dataclass(frozen=True)
class StoppedExecution:
    """A saga execution as Step Functions reports it now (not as an event once said)."""

    order_id: str
    status: str
    failed_state: str | None  # the last state entered; only looked up for a stopped execution
    error: str | None
    cause: str | None
    stopped_at: str | None
    execution_input: dict[str, Any]
    output: dict[str, Any] | None = None  # once SUCCEEDED

    def verdict(self) -> Verdict:
        if self.status == SUCCEEDED:
            return Verdict.COMPLETE
        if self.status not in STOPPED_STATUSES:
            return Verdict.IGNORE
        if self.status == "FAILED" and self.error in COMPENSATED_ENDINGS:
            return Verdict.IGNORE
        if self.failed_state in POST_PAYMENT_STATES:
            return Verdict.STALL
        return Verdict.FAIL

    def stall(self) -> dict[str, str]:
        """The order's ``stalled`` attribute: which step, why, since when."""
        return {
            "step": self.failed_state or "unknown",
            "reason": self._technical_reason()[:_MAX_STALL_REASON],
            "since": self.stopped_at or "",
        }

    def completion(self) -> OrderCompleted:
        """OrderCompleted, from the output the saga's last step left (invoicing's answer)."""
        # Imported here: only completions need the announcement models, not every stopped saga.
        from orders.domain.announcements import order_completed

        if self.output is None or self.stopped_at is None:
            raise ValueError(f"execution of order {self.order_id} has no output to complete it from")
        return order_completed(self.order_id, self.output, datetime.fromisoformat(self.stopped_at))

    def failure(self) -> OrderFailureData:
        return OrderFailureData(
            customer=Customer.model_validate(self.execution_input["customer"]),
            error=self.error or f"Execution{self.status.title().replace('_', '')}",
            reason=FAILED_REASON,
        )

    def _technical_reason(self) -> str:
        what = self.error or f"execution {self.status}"
        return f"{what}: {self.cause}" if self.cause else what
