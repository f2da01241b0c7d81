"""The order saga as Step Functions runs it: starting an order's execution, reading how it stopped."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import ClientError

from orders.domain.saga_outcome import STOPPED_STATUSES, StoppedExecution

_STATE_ENTERED = "StateEntered"


@dataclass(frozen=True)
class StartedExecution:
    """The order's execution as a start answered it: the one it began, or the one that existed."""

    arn: str
    began_at: datetime | None  # None: an execution of that name had already ended

    def began_before(self, moment: datetime) -> bool:
        return self.began_at is None or self.began_at < moment


class OrderWorkflow:
    def __init__(self, sfn_client: Any, state_machine_arn: str) -> None:
        self._sfn = sfn_client
        self._arn = state_machine_arn

    @property
    def state_machine_arn(self) -> str:
        return self._arn

    def execution_arn(self, order_id: str) -> str:
        return f"{self._arn.replace(':stateMachine:', ':execution:')}:{order_id}"

    def start(self, order_id: str, execution_input: str) -> StartedExecution:
        """Starts the saga named after the order, so a retried start cannot run it twice.

        StartExecution with the same name and input is idempotent on AWS while the execution runs
        (it answers the running one, with its own start date); afterwards, or with another input, it
        raises ExecutionAlreadyExists, which for us still means "this order has its execution".
        Names are unique per state machine for 90 days.
        """
        try:
            response = self._sfn.start_execution(
                stateMachineArn=self._arn, name=order_id, input=execution_input
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
            return StartedExecution(self.execution_arn(order_id), began_at=None)
        return StartedExecution(str(response["executionArn"]), began_at=response["startDate"])

    def stopped_execution(self, execution_arn: str) -> StoppedExecution:
        """The execution as it is now and, if it stopped without succeeding, the state it stopped in
        (the last one it entered: the history is read only then)."""
        described = self._sfn.describe_execution(executionArn=execution_arn)
        status = str(described["status"])
        output = described.get("output")
        return StoppedExecution(
            order_id=str(described["name"]),
            status=status,
            failed_state=self._last_entered_state(execution_arn) if status in STOPPED_STATUSES else None,
            error=described.get("error"),
            cause=described.get("cause"),
            stopped_at=_iso(described.get("stopDate")),
            execution_input=json.loads(described.get("input") or "{}"),
            output=json.loads(output) if output else None,
        )

    def _last_entered_state(self, execution_arn: str) -> str | None:
        last: str | None = None
        for page in self._sfn.get_paginator("get_execution_history").paginate(executionArn=execution_arn):
            for event in page["events"]:
                if event["type"].endswith(_STATE_ENTERED):
                    last = event["stateEnteredEventDetails"]["name"]
        return last


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z")
