"""Scheduled sweep of held reservations (an EventBridge schedule -> SQS -> this function).

Settles the reservations whose order's final word is recorded but whose settlement never landed
(the delivery that recorded it died, or its message went to the DLQ), publishing the stock fact
it would have; counts the reservations held past the saga's bound with no word, for the alarm.
"""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

from inventory.handlers.wiring import TELEMETRY, publisher, sweeper
from inventory.reservation import ReservationState
from inventory.service import Settlement
from inventory.stock import ordered_items
from orderflow_shared.consumer import UnroutableEventError
from orderflow_shared.contracts import Event, StockCommitted, StockReleased
from orderflow_shared.contracts.inventory import StockMovementData
from orderflow_shared.entry_points import records_handler

logger, metrics = TELEMETRY.logger, TELEMETRY.metrics

# What EventBridge sends for a ScheduleExpression rule: not an orderflow contract, so it is
# checked here instead of being routed by EventRouter.
SCHEDULE_SOURCE = "aws.events"
SCHEDULE_DETAIL_TYPE = "Scheduled Event"
MAX_LOGGED_ORDER_IDS = 50


class SweepIncompleteError(RuntimeError):
    """Some settlements raised; the tick fails so that it is retried and, if it keeps failing, seen
    in the DLQ."""


def sweep(record: SQSRecord) -> None:
    tick = EventBridgeModel.model_validate_json(record.body)
    if (tick.source, tick.detail_type) != (SCHEDULE_SOURCE, SCHEDULE_DETAIL_TYPE):
        raise UnroutableEventError(f"not a schedule: source={tick.source!r} detail-type={tick.detail_type!r}")
    report = sweeper().sweep(datetime.now(UTC))
    if report.settled:
        publisher().publish(*(_fact(settlement) for settlement in report.settled))
    metrics.add_metric(name="ReservationsSettledBySweep", unit=MetricUnit.Count, value=len(report.settled))
    # Published every tick, zero included, so the alarm on it always has data.
    metrics.add_metric(name="ReservationsOverdue", unit=MetricUnit.Count, value=len(report.overdue))
    if report.overdue:
        logger.warning(
            "reservations held past the saga's bound with no final word from their order",
            extra={
                "count": len(report.overdue),
                "order_ids": [held.order_id for held in report.overdue[:MAX_LOGGED_ORDER_IDS]],
                "oldest_held_since": min(held.held_since for held in report.overdue).isoformat(),
            },
        )
    if report.failed:
        metrics.add_metric(name="ReservationSettleFailures", unit=MetricUnit.Count, value=len(report.failed))
        raise SweepIncompleteError(f"reservations that could not be settled: {report.failed}")


def _fact(settlement: Settlement) -> Event:
    data = StockMovementData(items=ordered_items(settlement.order))
    if settlement.state is ReservationState.COMMITTED:
        return StockCommitted.create(settlement.order_id, data)
    return StockReleased.create(settlement.order_id, data)


# A failed tick is answered as a failed record (retried, then kept in the DLQ), not as an error of
# the whole invocation: with one record per batch, Powertools would otherwise raise.
handler = records_handler(TELEMETRY, sweep, raise_on_entire_batch_failure=False)
