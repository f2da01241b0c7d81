"""Projects the lifecycle events of every service onto the order's status and history.

An order's facts (stock reserved, paid, invoiced) mostly come within one batching window of the
queue, and every write is billed, moving the order or not: so a batch's events are projected order
by order, each order's in one write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow_shared.consumer import EventRouter
from orderflow_shared.contracts import Event
from orderflow_shared.entry_points import EventsEntryPoint
from orderflow_shared.observability import handler_name, traced
from orders.domain.projection import PROJECTED_EVENTS, merged, status_change
from orders.domain.status import OrderStatus
from orders.handlers.wiring import TELEMETRY, repository

logger, metrics = TELEMETRY.logger, TELEMETRY.metrics

# Outcomes counted here, once per order (when the order moves to them), because no single step
# answers them once: a payment fails after retries (PaymentDeclined and PaymentProviderUnavailable
# count each attempt in payments).
COUNTED_OUTCOMES = {OrderStatus.PAYMENT_FAILED: "OrdersPaymentFailed"}

OrderEventsHandler = Callable[[Sequence[Event]], None]


def project(events: Sequence[Event]) -> None:
    """Projects the events of one order in one write."""
    change = merged([status_change(event) for event in events])
    moved = repository().apply(change)
    if moved and change.status in COUNTED_OUTCOMES:
        metrics.add_metric(name=COUNTED_OUTCOMES[change.status], unit=MetricUnit.Count, value=1)
    logger.info(
        "status projected" if moved else "late or duplicate events recorded without moving the status",
        extra={"status": change.status.value, "events": len(events)},
    )


class PerOrderRouter(EventRouter):
    """Parses and refuses each record as every router does, then hands each order's events of the batch
    to ``handle_order`` together. A record that fails to parse fails alone; when an order's handling
    raises, each of that order's records is reported as failed, and only those."""

    def __init__(
        self, events: Iterable[type[Event]], handle_order: OrderEventsHandler, logger: Logger
    ) -> None:
        # Each event routes to handle_order, with the rest of its order's: the routes are what the
        # contract tests read to learn what is parsed.
        super().__init__(dict.fromkeys(events, handle_order), logger)
        self._handle_order = handle_order

    def handle(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        failures: dict[str, Exception] = {}  # message id -> why
        orders: dict[str, dict[str, Event]] = {}  # order id -> message id -> event, as received
        records = list(SQSEvent(event).records)
        for record in records:
            try:
                parsed = self.parse(record)
            except Exception as refused:
                self._logger.warning("record refused, left for redelivery", extra={"reason": str(refused)})
                failures[record.message_id] = refused
            else:
                orders.setdefault(parsed.order_id, {})[record.message_id] = parsed
        for order_id, received in orders.items():
            self._logger.set_correlation_id(order_id)
            self._logger.append_keys(order_id=order_id)
            events = list(received.values())
            try:
                with traced(
                    handler_name(),
                    events[0].metadata.trace_header,
                    logger=self._logger,
                    order_id=order_id,
                    handled=", ".join(event.DETAIL_TYPE for event in events),
                ):
                    self._handle_order(events)
            except Exception as failed:
                self._logger.exception("order's events failed, left for redelivery")
                failures.update(dict.fromkeys(received, failed))
        if records and len(failures) == len(records):
            # As every router does: a batch none of whose records succeeded fails the invocation.
            raise BatchProcessingError(
                f"All records failed processing. {len(failures)} individual errors logged separately below.",
                [(type(error), error, error.__traceback__) for error in failures.values()],
            )
        return {"batchItemFailures": [{"itemIdentifier": message_id} for message_id in failures]}


handler = EventsEntryPoint(TELEMETRY, PerOrderRouter(PROJECTED_EVENTS, project, TELEMETRY.logger))
