"""Starting the order saga."""

from __future__ import annotations

import json
from typing import Any

from botocore.exceptions import ClientError


class OrderWorkflow:
    def __init__(self, sfn_client: Any, state_machine_arn: str) -> None:
        self._sfn = sfn_client
        self._arn = state_machine_arn

    def start(self, order_id: str, execution_input: dict[str, Any]) -> str:
        """Starts the saga named after the order, so a retried start cannot run it twice.

        StartExecution with the same name and input is idempotent on AWS; with a different input
        it raises ExecutionAlreadyExists, which for us still means "this order is running".
        """
        try:
            response = self._sfn.start_execution(
                stateMachineArn=self._arn, name=order_id, input=json.dumps(execution_input)
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
            return f"{self._arn.replace(':stateMachine:', ':execution:')}:{order_id}"
        arn: str = response["executionArn"]
        return arn
