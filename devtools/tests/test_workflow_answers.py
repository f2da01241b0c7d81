"""WorkflowAnswers answers a real Step Functions client the way AWS does, through TaskReply."""

from __future__ import annotations

import pytest
from botocore.exceptions import ParamValidationError

from orderflow_devtools.testing import WorkflowAnswers
from orderflow_shared.aws import client
from orderflow_shared.contracts import ReserveStock
from orderflow_shared.contracts.orders import ReserveStockData
from orderflow_shared.contracts.values import OrderItem, PricedLine, PricedOrder
from orderflow_shared.task_token import TaskFailure, TaskReply

PRICED = PricedOrder(
    lines=[PricedLine(sku="KB-001", quantity=1, unit_price=4999, line_total=4999)],
    total_amount=4999,
    currency="USD",
)


class OutOfStock(TaskFailure):
    error = "OutOfStock"


def command(task_token: str) -> ReserveStock:
    return ReserveStock.create(
        "o-1", ReserveStockData(items=[OrderItem(sku="KB-001", quantity=1)]), task_token=task_token
    )


@pytest.fixture
def workflow(aws: None) -> WorkflowAnswers:
    return WorkflowAnswers().attach(client("stepfunctions"))


def test_answers_are_recorded_per_token_and_in_order(workflow: WorkflowAnswers) -> None:
    reply = TaskReply()

    assert reply.heartbeat(command("tok-1"))
    assert reply.success(command("tok-1"), PRICED)
    assert reply.success(command("tok-1"), PRICED)
    assert reply.failure(command("tok-2"), OutOfStock("KB-001: requested 1, available 0"))

    assert workflow.heartbeats == ["tok-1"]
    assert workflow.successes == {"tok-1": PRICED.to_wire()}
    assert workflow.success_outputs == [PRICED.to_wire(), PRICED.to_wire()]
    assert workflow.failures == {"tok-2": ("OutOfStock", "KB-001: requested 1, available 0")}
    assert [operation for operation, _ in workflow.calls] == [
        "SendTaskHeartbeat",
        "SendTaskSuccess",
        "SendTaskSuccess",
        "SendTaskFailure",
    ]


def test_a_closed_token_is_refused_as_aws_refuses_it(workflow: WorkflowAnswers) -> None:
    workflow.closed_tokens.add("tok-late")
    reply = TaskReply()

    assert reply.heartbeat(command("tok-late")) is False
    assert reply.success(command("tok-late"), PRICED) is False

    assert (workflow.heartbeats, workflow.successes, workflow.success_outputs) == ([], {}, [])
    assert len(workflow.calls) == 2


def test_requests_are_still_validated_against_the_api(workflow: WorkflowAnswers) -> None:
    with pytest.raises(ParamValidationError):
        client("stepfunctions").send_task_success(taskToken="tok-1")  # no output

    assert workflow.calls == []


def test_other_calls_go_on_to_the_mock(workflow: WorkflowAnswers) -> None:
    assert client("stepfunctions").list_state_machines()["stateMachines"] == []
    assert workflow.calls == []
