"""Scheduled reconciliation of failed orders' payments (an EventBridge schedule -> SQS -> this function).

Searches the provider again for every cancelled payment whose charge outcome was not certain when
its order failed (the sparse ``ReconcileDue`` index), refunds what it finds, and stops looking once
the outcome is certain. Also picks up fences whose refunds did not complete.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow_shared.consumer import UnroutableEventError
from orderflow_shared.entry_points import records_handler
from payments.handlers.wiring import TELEMETRY, payment_reconciler

logger, metrics = TELEMETRY.logger, TELEMETRY.metrics

# What EventBridge sends for a ScheduleExpression rule: not an orderflow contract, so it is
# checked here instead of being routed by EventRouter.
SCHEDULE_SOURCE = "aws.events"
SCHEDULE_DETAIL_TYPE = "Scheduled Event"
# Per run: each order may take a search and a refund; the rest waits for the next run.
MAX_ORDERS_PER_RUN = 50
# Stop starting orders when less than this is left of the invocation: one order's provider calls
# (two requests of at most connect + read timeout each) must still fit.
RESERVED_MILLIS = 60_000
MAX_LOGGED_ORDER_IDS = 50


class ReconcileIncompleteError(RuntimeError):
    """Some payments could not be reconciled; the tick fails so that it is retried and, if it keeps
    failing, seen in the DLQ. The payments stay due either way."""


def reconcile(record: SQSRecord, lambda_context: LambdaContext) -> None:
    tick = EventBridgeModel.model_validate_json(record.body)
    if (tick.source, tick.detail_type) != (SCHEDULE_SOURCE, SCHEDULE_DETAIL_TYPE):
        raise UnroutableEventError(f"not a schedule: source={tick.source!r} detail-type={tick.detail_type!r}")
    run = payment_reconciler().reconcile_due(
        MAX_ORDERS_PER_RUN,
        out_of_time=lambda: lambda_context.get_remaining_time_in_millis() < RESERVED_MILLIS,
    )
    metrics.add_metric(name="PaymentRefunded", unit=MetricUnit.Count, value=run.refunds_announced)
    # Published every tick, zero included, so an alarm on it always has data.
    metrics.add_metric(name="PaymentsReconcileDue", unit=MetricUnit.Count, value=len(run.still_due))
    if run.still_due:
        logger.info(
            "cancelled payments whose charge outcome is still unknown",
            extra={"count": len(run.still_due), "order_ids": run.still_due[:MAX_LOGGED_ORDER_IDS]},
        )
    if run.failed:
        metrics.add_metric(name="PaymentReconcileFailures", unit=MetricUnit.Count, value=len(run.failed))
        raise ReconcileIncompleteError(f"{len(run.failed)} payment(s) could not be reconciled: {run.failed}")


handler = records_handler(TELEMETRY, reconcile)
