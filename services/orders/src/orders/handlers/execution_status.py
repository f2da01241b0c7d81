"""Step Functions' own status-change events of the order saga: orders it finished, and orders it
could not finish.

Rule on the default bus (aws.states, SUCCEEDED / FAILED / TIMED_OUT / ABORTED executions of the
order saga) -> ExecutionStatusQueue -> this function. The event only says that something happened;
what the order needs is decided from the execution as it is now (DescribeExecution and, for a
stopped one, its history), so a duplicated, late or reordered event (e.g. one from before a
redrive) changes nothing. The saga's execution data is encrypted with the service's key, so the
event itself carries no output: DescribeExecution is where it is read.
"""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import BaseModel, ConfigDict, Field

from orderflow_shared.contracts import OrderFailed
from orderflow_shared.entry_points import records_handler
from orderflow_shared.observability import continue_trace
from orders.domain.projection import status_change
from orders.domain.saga_outcome import StoppedExecution, Verdict
from orders.handlers.wiring import TELEMETRY, publisher, repository, workflow

logger, metrics = TELEMETRY.logger, TELEMETRY.metrics
STATUS_CHANGE = ("aws.states", "Step Functions Execution Status Change")


class ExecutionStatusChange(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    execution_arn: str = Field(alias="executionArn")
    state_machine_arn: str = Field(alias="stateMachineArn")
    status: str


def settle_stopped_execution(change: ExecutionStatusChange) -> Verdict:
    if change.state_machine_arn != workflow().state_machine_arn:
        # The rule filters on our state machine; anything else is a misrouted event, not ours to act on.
        raise ValueError(f"status change of another state machine: {change.state_machine_arn}")
    stopped = workflow().stopped_execution(change.execution_arn)
    logger.set_correlation_id(stopped.order_id)
    logger.append_keys(order_id=stopped.order_id)
    continue_trace(
        stopped.execution_input.get("traceHeader"),
        logger,
        order_id=stopped.order_id,
        handled=f"execution {stopped.status}",
    )
    verdict = stopped.verdict()
    if verdict is Verdict.COMPLETE:
        complete(stopped)
    elif verdict is Verdict.STALL:
        stalled = stopped.stall()
        if repository().mark_stalled(stopped.order_id, stalled):
            logger.error("order stalled after payment; redrive it", extra={"stalled": stalled})
            metrics.add_metric(name="OrdersStalled", unit=MetricUnit.Count, value=1)
    elif verdict is Verdict.FAIL:
        logger.error(
            "order saga stopped before it could finish; compensating",
            extra={"status": stopped.status, "error": stopped.error, "state": stopped.failed_state},
        )
        publisher().publish(OrderFailed.create(stopped.order_id, stopped.failure()))
        metrics.add_metric(name="OrdersFailedUnexpectedly", unit=MetricUnit.Count, value=1)
    else:
        logger.info(
            "execution needs nothing from us", extra={"status": stopped.status, "error": stopped.error}
        )
    return verdict


def complete(succeeded: StoppedExecution) -> None:
    """Announces OrderCompleted, then projects it (the status queue does not carry it back to us:
    one hop less per order). Announced first, so an order that reads COMPLETED has been announced;
    a retry after a failed projection announces the same event again, which consumers drop."""
    completed = succeeded.completion()
    publisher().publish(completed)
    repository().apply(status_change(completed))
    metrics.add_metric(name="OrdersCompleted", unit=MetricUnit.Count, value=1)


def _record_handler(record: SQSRecord) -> None:
    envelope = EventBridgeModel.model_validate_json(record.body)
    if (envelope.source, envelope.detail_type) != STATUS_CHANGE:
        raise ValueError(f"not a Step Functions status change: {envelope.source} {envelope.detail_type}")
    settle_stopped_execution(ExecutionStatusChange.model_validate(envelope.detail))


handler = records_handler(TELEMETRY, _record_handler)
