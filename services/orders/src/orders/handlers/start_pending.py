"""The pending-start sweep: starts the saga of every order stored without a confirmed start.

A scheduled rule (every minute) -> StartPendingSagasQueue -> this function. An order is stored
before its saga starts; if the start failed or the API's process died in between, this is what
starts it. Starting an execution that exists already changes nothing (it is named after the order):
an order the API started keeps its mark until its first status change, and one whose first step is
slow only has its mark removed here.
"""

from __future__ import annotations

import os
from datetime import timedelta
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow_shared.entry_points import lambda_handler
from orders.handlers.wiring import TELEMETRY, pending_starts

logger, metrics = TELEMETRY.logger, TELEMETRY.metrics


def start_pending_sagas(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    # Every tick asks for the whole sweep, so a batch of ticks gets one. A failed sweep fails the
    # batch: its ticks come back (and, should it keep failing, wait in the DLQ for an operator).
    started = pending_starts().start_pending_sagas(
        grace=timedelta(seconds=float(os.environ["PENDING_START_GRACE_SECONDS"]))
    )
    if started:
        logger.warning("started sagas the API could not start", extra={"started": started})
        metrics.add_metric(name="SagasStartedBySweep", unit=MetricUnit.Count, value=started)
    return {"batchItemFailures": []}


handler = lambda_handler(TELEMETRY, start_pending_sagas)
