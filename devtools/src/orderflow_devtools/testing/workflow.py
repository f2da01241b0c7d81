"""A stand-in for the order workflow's side of the task-token API."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.model import OperationModel


@dataclass
class WorkflowAnswers:
    """Answers the SendTask* calls of a real Step Functions client, and records them.

    ``attach`` it to the client the service uses (``orderflow_shared.aws.client("stepfunctions")``):
    botocore still validates and serialises each call as for AWS, and this answers it in place of
    the service. A token in ``closed_tokens`` is refused as AWS refuses a task that already ended.
    """

    closed_tokens: set[str] = field(default_factory=set)
    # Every SendTask* request as sent, in order: (operation name, request parameters).
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    successes: dict[str, Any] = field(default_factory=dict)  # task token -> its latest output
    # Every accepted SendTaskSuccess output in order, repeated answers to one token included.
    success_outputs: list[Any] = field(default_factory=list)
    failures: dict[str, tuple[str, str]] = field(default_factory=dict)  # task token -> (error, cause)
    heartbeats: list[str] = field(default_factory=list)

    def attach(self, sfn_client: Any) -> WorkflowAnswers:
        sfn_client.meta.events.register("before-call.sfn", self._answer)
        return self

    def _answer(
        self, model: OperationModel, params: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        if not model.name.startswith("SendTask"):
            return None  # anything else goes on to moto
        request: dict[str, Any] = json.loads(params["body"])  # Step Functions speaks JSON
        self.calls.append((model.name, request))
        token = request["taskToken"]
        if token in self.closed_tokens:
            return _response(400), {"Error": {"Code": "TaskTimedOut", "Message": "Task Timed Out"}}
        if model.name == "SendTaskSuccess":
            self.successes[token] = json.loads(request["output"])
            self.success_outputs.append(self.successes[token])
        elif model.name == "SendTaskFailure":
            self.failures[token] = (request.get("error", ""), request.get("cause", ""))
        else:
            self.heartbeats.append(token)
        return _response(200), {}


def _response(status_code: int) -> AWSResponse:
    return AWSResponse(url="", status_code=status_code, headers={}, raw=None)
