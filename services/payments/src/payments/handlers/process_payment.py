"""ProcessPayment: charges the order's customer and answers the order workflow's payment step.

Rule (orderflow.orders / ProcessPayment) -> ProcessPaymentQueue -> this function.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from orderflow_shared.consumer import answer_command
from orderflow_shared.contracts import ProcessPayment
from orderflow_shared.contracts.orders import PaymentResult
from orderflow_shared.entry_points import events_handler
from orderflow_shared.task_token import TaskFailure, TaskReply
from payments.errors import ChargeInProgress
from payments.handlers.wiring import TELEMETRY, ledger, payment_processor, payment_reconciler
from payments.model import PaymentStatus

logger, metrics = TELEMETRY.logger, TELEMETRY.metrics

replies = TaskReply()


def charge(command: ProcessPayment) -> PaymentResult:
    try:
        result = payment_processor().process(command)
    except TaskFailure as failure:
        metrics.add_metric(name=failure.error, unit=MetricUnit.Count, value=1)
        raise
    metrics.add_metric(name="PaymentSucceeded", unit=MetricUnit.Count, value=1)
    TELEMETRY.record_step_latency(command)
    return result


# A charge key in use by another delivery is not an answer: the command goes back to SQS, by when
# that delivery has answered (and this one then finds its task closed).
answer = answer_command(charge, replies, redeliver_on=(ChargeInProgress,))


def on_process_payment(command: ProcessPayment) -> None:
    # A closed task was answered by an earlier delivery, or timed out and the workflow moved on
    # to its compensation: charging now could take money for an order that has already failed.
    if not replies.heartbeat(command):
        logger.warning("payment task already closed; not charging")
        refund_if_cancelled(command.order_id)
        return
    answer(command)


def refund_if_cancelled(order_id: str) -> None:
    """A delivery that charged and then crashed comes back with its task closed: if the order failed
    meanwhile, the charge it made is refunded now rather than at the reconciler's next run."""
    record = ledger().get(order_id)
    if record is not None and record.status is PaymentStatus.CANCELLED:
        payment_reconciler().reconcile(record)


handler = events_handler(TELEMETRY, {ProcessPayment: on_process_payment})
