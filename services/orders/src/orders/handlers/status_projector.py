"""Projects the lifecycle events of every service onto the order's status and history."""

from __future__ import annotations

import os
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow_shared.aws import dynamodb_table
from orderflow_shared.consumer import EventRouter
from orderflow_shared.contracts import Event
from orderflow_shared.observability import telemetry
from orders.domain.projection import PROJECTED_EVENTS, status_change
from orders.repository import OrdersRepository

tel = telemetry()
repository = OrdersRepository(dynamodb_table(os.environ["ORDERS_TABLE"]))


def project(event: Event) -> None:
    change = status_change(event)
    moved = repository.apply(change)
    tel.logger.info(
        "status projected" if moved else "late or duplicate event recorded without moving the status",
        extra={"status": change.status.value},
    )


router = EventRouter(dict.fromkeys(PROJECTED_EVENTS, project), tel.logger)


@tel.logger.inject_lambda_context
@tel.tracer.capture_lambda_handler
@tel.metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return router.handle(event, context)
