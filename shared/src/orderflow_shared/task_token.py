"""Answering the order workflow's callback tasks.

A service that receives a command does its work and then reports the outcome with the command's
task token: SendTaskSuccess with a result, or SendTaskFailure with a typed error name that the
workflow's Retry and Catch rules match on.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from botocore.exceptions import ClientError

from orderflow_shared.aws import client
from orderflow_shared.contracts.base import Command, Contract

logger = logging.getLogger(__name__)

# The task already ended (timed out, or answered by an earlier delivery of the same command).
# AWS says TaskTimedOut; moto says InvalidToken. Either way there is nothing left to answer, so
# the message is done: retrying it or sending it to a DLQ would only hide real failures.
_TASK_ALREADY_CLOSED = frozenset({"TaskTimedOut", "InvalidToken", "TaskDoesNotExist"})


class TaskFailure(Exception):
    """A business outcome that fails the workflow step with a typed error name.

    Subclasses set ``error``: the name the state machine's Retry/Catch ``ErrorEquals`` lists.
    """

    error: str = "TaskFailed"

    def __init__(self, cause: str) -> None:
        super().__init__(cause)
        self.cause = cause


class ServiceFault(TaskFailure):
    """The step could not be done for a reason that is not a business outcome (a bug, an outage).

    Reported to the workflow rather than left to SQS redelivery: the saga's Retry policy is the one
    place that decides how often a step is tried again, and when it stops, the workflow compensates
    (before payment) or marks the order stalled (after payment). The cause names the exception type
    and a bounded message, never a payload.
    """

    error = "ServiceFault"

    MAX_CAUSE = 512

    @classmethod
    def of(cls, error: BaseException) -> ServiceFault:
        return cls(f"{type(error).__name__}: {error}"[: cls.MAX_CAUSE])


class TaskReply:
    def __init__(self, sfn_client: Any = None) -> None:
        self._client = sfn_client

    @property
    def _sfn(self) -> Any:
        return self._client or client("stepfunctions")

    def success(self, command: Command, result: Contract) -> bool:
        return self._send("send_task_success", command, output=json.dumps(result.to_wire()))

    def failure(self, command: Command, failure: TaskFailure) -> bool:
        return self._send("send_task_failure", command, error=failure.error, cause=failure.cause[:32768])

    def heartbeat(self, command: Command) -> bool:
        return self._send("send_task_heartbeat", command)

    def _send(self, operation: str, command: Command, **kwargs: Any) -> bool:
        """Returns False when the task had already closed; raises on any other error."""
        try:
            getattr(self._sfn, operation)(taskToken=command.task_token, **kwargs)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code", "")
            if code in _TASK_ALREADY_CLOSED:
                logger.warning(
                    "workflow task already closed; %s not needed",
                    operation,
                    extra={"detail_type": command.DETAIL_TYPE, "error_code": code},
                )
                return False
            raise
        return True
