"""The pending-start sweep: starts the saga of every order stored without a confirmed start.

A scheduled rule (every minute) -> StartPendingSagasQueue -> this function. An order is stored
before its saga starts; if the start failed or the API's process died in between, this is what
starts it. Starting an execution that exists already changes nothing (it is named after the order).
"""

from __future__ import annotations

import functools
import os
from datetime import timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow_shared.aws import client, dynamodb_table
from orderflow_shared.observability import telemetry
from orders.repository import OrdersRepository
from orders.service import OrdersService
from orders.workflow import OrderWorkflow

tel = telemetry()


@functools.cache
def service() -> OrdersService:
    return OrdersService(
        OrdersRepository(dynamodb_table(os.environ["ORDERS_TABLE"])),
        OrderWorkflow(client("stepfunctions"), os.environ["STATE_MACHINE_ARN"]),
    )


@tel.logger.inject_lambda_context(clear_state=True)
@tel.tracer.capture_lambda_handler
@tel.metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Every tick asks for the whole sweep, so a batch of ticks gets one. A failed sweep fails the
    # batch: its ticks come back (and, should it keep failing, wait in the DLQ for an operator).
    started = service().start_pending_sagas(
        grace=timedelta(seconds=float(os.environ["PENDING_START_GRACE_SECONDS"]))
    )
    if started:
        tel.logger.warning("started sagas the API could not start", extra={"started": started})
        tel.metrics.add_metric(name="SagasStartedBySweep", unit=MetricUnit.Count, value=started)
    return {"batchItemFailures": []}
