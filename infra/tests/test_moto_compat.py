"""Each moto gap shown on stock moto, and the AWS behaviour with orderflow_local.moto_compat applied.

Everything runs in-process under ``mock_aws``: moto's Step Functions interpreter calls EventBridge
through the same in-process stub, so no socket is opened, except by the tests that need moto's
server on 127.0.0.1: the gap test that shows what it answers to RedriveExecution, and the DynamoDB
tests, whose requests race in the server's threads. The gap tests use real-time waits of at most a
second or two; the fixed tests run with a time scale of 0.01.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import copy
import datetime
import functools
import itertools
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config
import moto
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.parsing.executors import UpdateExpressionExecutor
from moto.server import ThreadedMotoServer
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_events,
)

from orderflow_local import moto_compat
from orderflow_local.moto_compat.time_scale import _CLOCK

pytestmark = pytest.mark.timeout(60)

SCALE = 0.01
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
BUS = "orderflow"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/saga"
PAY = "arn:aws:states:::events:putEvents.waitForTaskToken"


@dataclass(frozen=True)
class Aws:
    events: Any
    sqs: Any
    sfn: Any
    queue_url: str


@pytest.fixture(autouse=True)
def restore_moto_compat() -> Iterator[None]:
    # Leave the patches as the test found them, whatever it applied or reverted.
    was_applied = all(fix.applied for fix in moto_compat.FIXES)
    scale = _CLOCK.scale
    yield
    moto_compat.revert()
    if was_applied:
        moto_compat.apply(time_scale=scale)


@pytest.fixture
def patched() -> None:
    moto_compat.apply(time_scale=SCALE)


@pytest.fixture
def unpatched() -> None:
    moto_compat.revert()


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Aws]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        events = boto3.client("events", region_name=REGION)
        sqs = boto3.client("sqs", region_name=REGION)
        sfn = boto3.client("stepfunctions", region_name=REGION)
        # The saga's shape: the task publishes a command on the bus, a rule routes it to a queue.
        events.create_event_bus(Name=BUS)
        queue_url = sqs.create_queue(QueueName="payments-commands")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(
            Name="payment-requested",
            EventBusName=BUS,
            EventPattern=json.dumps({"detail-type": ["PaymentRequested"]}),
        )
        events.put_targets(
            Rule="payment-requested",
            EventBusName=BUS,
            Targets=[{"Id": "payments", "Arn": queue_arn}],
        )
        yield Aws(events=events, sqs=sqs, sfn=sfn, queue_url=queue_url)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def pay_state(**fields: Any) -> dict[str, Any]:
    """A putEvents.waitForTaskToken task that publishes PaymentRequested with the task token."""
    return {
        "Type": "Task",
        "Resource": PAY,
        "Parameters": {
            "Entries": [
                {
                    "EventBusName": BUS,
                    "Source": "orderflow.orders",
                    "DetailType": "PaymentRequested",
                    "Detail": {
                        "orderId.$": "$.orderId",
                        "taskToken.$": "$$.Task.Token",
                        "attempt.$": "$$.State.RetryCount",
                    },
                }
            ]
        },
        "ResultPath": "$.payment",
        "Next": "Paid",
        **fields,
    }


def saga(pay: dict[str, Any], **fail_states: str) -> dict[str, Any]:
    states: dict[str, Any] = {"Pay": pay, "Paid": {"Type": "Succeed"}}
    for name, error in fail_states.items():
        states[name] = {"Type": "Fail", "Error": error, "Cause": f"{name} reached"}
    return {"StartAt": "Pay", "States": states}


def start(aws: Aws, definition: dict[str, Any]) -> str:
    arn = aws.sfn.create_state_machine(
        name="order-saga", definition=json.dumps(definition), roleArn=ROLE_ARN
    )["stateMachineArn"]
    execution_arn: str = aws.sfn.start_execution(
        stateMachineArn=arn, name="o-1", input=json.dumps({"orderId": "o-1"})
    )["executionArn"]
    return execution_arn


def next_message(aws: Aws, queue_url: str | None = None, timeout: float = 5.0) -> dict[str, Any] | None:
    """The body of the next message on the queue (the commands queue by default), or None after timeout."""
    queue_url = queue_url or aws.queue_url
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = aws.sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=1).get("Messages", [])
        if messages:
            aws.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=messages[0]["ReceiptHandle"])
            body: dict[str, Any] = json.loads(messages[0]["Body"])
            return body
        time.sleep(0.01)
    return None


def next_command(aws: Aws, timeout: float = 5.0) -> dict[str, Any] | None:
    """The detail of the next PaymentRequested event on the queue, or None after timeout."""
    message = next_message(aws, timeout=timeout)
    if message is None:
        return None
    detail: dict[str, Any] = message["detail"]
    return detail


def drain_commands(aws: Aws) -> list[dict[str, Any]]:
    commands = []
    while (command := next_command(aws, timeout=0.05)) is not None:
        commands.append(command)
    return commands


def status(aws: Aws, execution_arn: str) -> str:
    value: str = aws.sfn.describe_execution(executionArn=execution_arn)["status"]
    return value


def wait_for_end(aws: Aws, execution_arn: str, timeout: float = 10.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while status(aws, execution_arn) == "RUNNING":
        assert time.monotonic() < deadline, f"{execution_arn} still RUNNING after {timeout}s"
        time.sleep(0.01)
    description: dict[str, Any] = aws.sfn.describe_execution(executionArn=execution_arn)
    return description


def history(aws: Aws, execution_arn: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = aws.sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)[
        "events"
    ]
    return events


def events_of(aws: Aws, execution_arn: str, event_type: str) -> list[dict[str, Any]]:
    return [event for event in history(aws, execution_arn) if event["type"] == event_type]


def keep_alive_until_done(aws: Aws, execution_arn: str, task_token: str) -> None:
    while status(aws, execution_arn) == "RUNNING":
        # The task may end between the status check and the heartbeat.
        with contextlib.suppress(aws.sfn.exceptions.InvalidToken, aws.sfn.exceptions.TaskTimedOut):
            aws.sfn.send_task_heartbeat(taskToken=task_token)
        time.sleep(0.02)


def fail_with_provider_unavailable(aws: Aws, command: dict[str, Any]) -> None:
    aws.sfn.send_task_failure(
        taskToken=command["taskToken"], error="ProviderUnavailable", cause="card network down"
    )


RETRY_PROVIDER_UNAVAILABLE = {
    "Retry": [
        {
            "ErrorEquals": ["ProviderUnavailable"],
            "IntervalSeconds": 5,
            "MaxAttempts": 3,
            "BackoffRate": 2,
        }
    ],
    "TimeoutSeconds": 300,
    "HeartbeatSeconds": 120,
    "Catch": [{"ErrorEquals": ["ProviderUnavailable"], "ResultPath": "$.error", "Next": "PaymentFailed"}],
}


# ---------------------------------------------------------------------------------------------
# Fix 1: a fresh task token per attempt
# ---------------------------------------------------------------------------------------------


def test_retry_reuses_the_task_token_on_unpatched_moto(aws: Aws, unpatched: None) -> None:
    # One retry after one real second keeps this gap demonstration short.
    pay = pay_state(
        Retry=[{"ErrorEquals": ["ProviderUnavailable"], "IntervalSeconds": 1, "MaxAttempts": 1}],
        TimeoutSeconds=30,
        Catch=[{"ErrorEquals": ["ProviderUnavailable"], "Next": "PaymentFailed"}],
    )
    execution_arn = start(aws, saga(pay, PaymentFailed="PaymentFailed"))

    first = next_command(aws)
    assert first is not None
    fail_with_provider_unavailable(aws, first)
    # Only the first attempt is ever answered, yet the retry "fails" by itself.
    description = wait_for_end(aws, execution_arn)
    retried = drain_commands(aws)

    assert description["status"] == "FAILED"
    assert description["error"] == "PaymentFailed"
    assert [command["taskToken"] for command in retried] == [first["taskToken"]]
    assert len(events_of(aws, execution_arn, "TaskFailed")) == 2


def test_every_retry_publishes_a_fresh_token_and_waits_for_its_answer(aws: Aws, patched: None) -> None:
    execution_arn = start(aws, saga(pay_state(**RETRY_PROVIDER_UNAVAILABLE), PaymentFailed="PaymentFailed"))

    commands: list[dict[str, Any]] = []
    for _ in range(4):
        command = next_command(aws)
        assert command is not None, f"attempt {len(commands) + 1} published nothing"
        # The attempt must still be waiting for this token's own answer.
        assert status(aws, execution_arn) == "RUNNING"
        commands.append(command)
        fail_with_provider_unavailable(aws, command)
    description = wait_for_end(aws, execution_arn)

    assert len({command["taskToken"] for command in commands}) == 4
    assert [command["attempt"] for command in commands] == [0, 1, 2, 3]
    assert drain_commands(aws) == []
    assert description["status"] == "FAILED"
    assert description["error"] == "PaymentFailed"
    assert len(events_of(aws, execution_arn, "TaskFailed")) == 4
    caught = events_of(aws, execution_arn, "FailStateEntered")[0]["stateEnteredEventDetails"]
    assert caught["name"] == "PaymentFailed"
    assert json.loads(caught["input"])["error"]["Error"] == "ProviderUnavailable"


def test_a_retry_succeeds_on_the_answer_to_its_own_token(aws: Aws, patched: None) -> None:
    execution_arn = start(aws, saga(pay_state(**RETRY_PROVIDER_UNAVAILABLE), PaymentFailed="PaymentFailed"))

    first = next_command(aws)
    assert first is not None
    fail_with_provider_unavailable(aws, first)
    second = next_command(aws)
    assert second is not None
    assert second["taskToken"] != first["taskToken"]
    aws.sfn.send_task_success(taskToken=second["taskToken"], output=json.dumps({"paymentId": "p-1"}))
    description = wait_for_end(aws, execution_arn)

    assert description["status"] == "SUCCEEDED"
    assert json.loads(description["output"])["payment"] == {"paymentId": "p-1"}
    assert drain_commands(aws) == []


# ---------------------------------------------------------------------------------------------
# Fix 2: States.HeartbeatTimeout
# ---------------------------------------------------------------------------------------------

HEARTBEAT_CATCHERS = [
    {"ErrorEquals": ["States.HeartbeatTimeout"], "Next": "HeartbeatLost"},
    {"ErrorEquals": ["States.Timeout"], "Next": "TimedOut"},
]


def heartbeat_saga(heartbeat: int, timeout: int, catchers: list[dict[str, Any]]) -> dict[str, Any]:
    pay = pay_state(HeartbeatSeconds=heartbeat, TimeoutSeconds=timeout, Catch=catchers)
    return saga(pay, HeartbeatLost="HeartbeatLost", TimedOut="TimedOut")


def timed_out_error(aws: Aws, execution_arn: str) -> str:
    (timed_out,) = events_of(aws, execution_arn, "TaskTimedOut")
    error: str = timed_out["taskTimedOutEventDetails"]["error"]
    return error


def test_heartbeat_expiry_is_states_timeout_on_unpatched_moto(aws: Aws, unpatched: None) -> None:
    execution_arn = start(aws, heartbeat_saga(1, 5, HEARTBEAT_CATCHERS))

    description = wait_for_end(aws, execution_arn)

    assert timed_out_error(aws, execution_arn) == "States.Timeout"
    assert description["error"] == "TimedOut"


def test_heartbeat_expiry_is_states_heartbeat_timeout(aws: Aws, patched: None) -> None:
    execution_arn = start(aws, heartbeat_saga(10, 300, HEARTBEAT_CATCHERS))

    description = wait_for_end(aws, execution_arn)

    assert timed_out_error(aws, execution_arn) == "States.HeartbeatTimeout"
    assert description["error"] == "HeartbeatLost"


def test_a_states_timeout_catcher_still_catches_a_heartbeat_timeout(aws: Aws, patched: None) -> None:
    catch_timeout_only = [{"ErrorEquals": ["States.Timeout"], "Next": "TimedOut"}]
    execution_arn = start(aws, heartbeat_saga(10, 300, catch_timeout_only))

    description = wait_for_end(aws, execution_arn)

    assert timed_out_error(aws, execution_arn) == "States.HeartbeatTimeout"
    assert description["error"] == "TimedOut"


def test_task_timeout_is_still_states_timeout(aws: Aws, patched: None) -> None:
    execution_arn = start(aws, heartbeat_saga(10, 30, HEARTBEAT_CATCHERS))
    command = next_command(aws)
    assert command is not None
    # Heartbeats keep the task alive past HeartbeatSeconds until TimeoutSeconds ends it.
    keep_alive_until_done(aws, execution_arn, command["taskToken"])

    assert timed_out_error(aws, execution_arn) == "States.Timeout"
    assert wait_for_end(aws, execution_arn)["error"] == "TimedOut"


# ---------------------------------------------------------------------------------------------
# Fix 3: StopExecution while waiting for a token
# ---------------------------------------------------------------------------------------------


def test_stop_execution_waits_for_the_task_timeout_on_unpatched_moto(aws: Aws, unpatched: None) -> None:
    execution_arn = start(aws, saga(pay_state(TimeoutSeconds=3)))
    assert next_command(aws) is not None

    aws.sfn.stop_execution(executionArn=execution_arn, error="OrderCancelled")
    description = wait_for_end(aws, execution_arn)

    # AWS ends it ABORTED at once. Unpatched moto leaves the task waiting and then fails it
    # (usually at TimeoutSeconds with States.Timeout; on a busy machine sometimes sooner).
    assert description["status"] == "FAILED"


def test_stop_execution_aborts_a_task_waiting_for_its_token(aws: Aws, patched: None) -> None:
    execution_arn = start(
        aws,
        saga(
            pay_state(TimeoutSeconds=300, Catch=[{"ErrorEquals": ["States.ALL"], "Next": "Oops"}]),
            Oops="Oops",
        ),
    )
    assert next_command(aws) is not None

    aws.sfn.stop_execution(executionArn=execution_arn, error="OrderCancelled")
    description = wait_for_end(aws, execution_arn, timeout=5.0)

    assert description["status"] == "ABORTED"
    types = [event["type"] for event in history(aws, execution_arn)]
    assert types[-1] == "ExecutionAborted"
    assert not {"TaskTimedOut", "TaskFailed", "FailStateEntered"} & set(types)


# ---------------------------------------------------------------------------------------------
# Fix 4: SendTaskFailure keeps its cause
# ---------------------------------------------------------------------------------------------

OUT_OF_STOCK_CAUSE = "KB-001: requested 5, available 3"


def start_caught_failure(aws: Aws) -> str:
    """A callback task whose failure a Catch puts in $.failure before the saga compensates."""
    pay = pay_state(Catch=[{"ErrorEquals": ["States.ALL"], "ResultPath": "$.failure", "Next": "Compensate"}])
    definition = saga(pay)
    definition["States"]["Compensate"] = {"Type": "Pass", "End": True}
    return start(aws, definition)


def answer_out_of_stock(aws: Aws, execution_arn: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Fail the task with OutOfStock; return the execution's output and its TaskFailed details."""
    command = next_command(aws)
    assert command is not None
    aws.sfn.send_task_failure(taskToken=command["taskToken"], error="OutOfStock", cause=OUT_OF_STOCK_CAUSE)
    description = wait_for_end(aws, execution_arn)
    assert description["status"] == "SUCCEEDED"
    (failed,) = events_of(aws, execution_arn, "TaskFailed")
    output: dict[str, Any] = json.loads(description["output"])
    return output, failed["taskFailedEventDetails"]


def test_send_task_failure_drops_the_cause_on_unpatched_moto(aws: Aws, unpatched: None) -> None:
    execution_arn = start_caught_failure(aws)

    output, failed = answer_out_of_stock(aws, execution_arn)

    assert output["failure"] == {"Error": "OutOfStock", "Cause": None}
    assert failed["error"] == "OutOfStock"
    assert "cause" not in failed


def test_a_catch_sees_the_cause_given_to_send_task_failure(aws: Aws, patched: None) -> None:
    execution_arn = start_caught_failure(aws)

    output, failed = answer_out_of_stock(aws, execution_arn)

    assert output["failure"] == {"Error": "OutOfStock", "Cause": OUT_OF_STOCK_CAUSE}
    assert (failed["error"], failed["cause"]) == ("OutOfStock", OUT_OF_STOCK_CAUSE)


# ---------------------------------------------------------------------------------------------
# Fix 5: the first answer to a task token wins
# ---------------------------------------------------------------------------------------------

# Our consumers treat either code as "the task is already closed".
CLOSED_TOKEN_CODES = {"TaskTimedOut", "InvalidToken"}

# No HeartbeatSeconds: these tests answer at once, and without HeartbeatEndpointBeforePublish moto
# loses an answer that arrives before the heartbeat wait has been set up.
RETRY_WITHOUT_HEARTBEAT = {
    "Retry": [{"ErrorEquals": ["ProviderUnavailable"], "IntervalSeconds": 5, "MaxAttempts": 1}],
    "TimeoutSeconds": 300,
}


def succeed(aws: Aws, command: dict[str, Any], payment_id: str) -> None:
    aws.sfn.send_task_success(taskToken=command["taskToken"], output=json.dumps({"paymentId": payment_id}))


def assert_closed(answer: Any) -> None:
    with pytest.raises(ClientError) as rejected:
        answer()
    assert rejected.value.response["Error"]["Code"] in CLOSED_TOKEN_CODES


def without_fix(name: str) -> None:
    """Apply every fix but the named one."""
    moto_compat.apply(time_scale=SCALE)
    (fix,) = [fix for fix in moto_compat.FIXES if fix.name == name]
    fix.revert()


def test_a_second_answer_is_accepted_silently_on_unpatched_moto(aws: Aws, unpatched: None) -> None:
    execution_arn = start(aws, saga(pay_state()))
    command = next_command(aws)
    assert command is not None

    succeed(aws, command, "p-1")
    # Accepted while the execution runs (and the last answer read wins)...
    fail_with_provider_unavailable(aws, command)
    wait_for_end(aws, execution_arn)
    # ...and after it has ended.
    fail_with_provider_unavailable(aws, command)


def test_the_first_answer_wins_and_a_second_one_is_rejected(aws: Aws, patched: None) -> None:
    execution_arn = start(aws, saga(pay_state(), PaymentFailed="PaymentFailed"))
    command = next_command(aws)
    assert command is not None

    succeed(aws, command, "p-1")
    # Sent before the interpreter has (most likely) read the success.
    assert_closed(lambda: fail_with_provider_unavailable(aws, command))
    description = wait_for_end(aws, execution_arn)

    assert description["status"] == "SUCCEEDED"
    assert json.loads(description["output"])["payment"] == {"paymentId": "p-1"}
    assert events_of(aws, execution_arn, "TaskFailed") == []


@pytest.mark.parametrize("ending", ["answered", "timed_out"])
def test_an_answer_after_the_execution_ended_is_rejected(aws: Aws, patched: None, ending: str) -> None:
    # Scaled, the task times out after 0.1 s when nobody answers.
    execution_arn = start(aws, saga(pay_state(TimeoutSeconds=10)))
    command = next_command(aws)
    assert command is not None
    if ending == "answered":
        succeed(aws, command, "p-1")
    ended = wait_for_end(aws, execution_arn)["status"]

    assert_closed(lambda: fail_with_provider_unavailable(aws, command))
    assert_closed(lambda: succeed(aws, command, "p-2"))
    assert status(aws, execution_arn) == ended == ("SUCCEEDED" if ending == "answered" else "FAILED")


def answer_the_first_attempt_again_during_the_retry(aws: Aws) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """Fail the first attempt; return the execution, the first command and the retry's command."""
    execution_arn = start(aws, saga(pay_state(**RETRY_WITHOUT_HEARTBEAT)))
    first = next_command(aws)
    assert first is not None
    fail_with_provider_unavailable(aws, first)
    retry = next_command(aws)
    assert retry is not None
    assert retry["taskToken"] != first["taskToken"]
    return execution_arn, first, retry


def test_a_stale_answer_during_a_retry_is_accepted_without_first_task_answer_wins(aws: Aws) -> None:
    without_fix("FirstTaskAnswerWins")
    execution_arn, first, retry = answer_the_first_attempt_again_during_the_retry(aws)

    # The redelivered answer to the first attempt's token is accepted without an error.
    succeed(aws, first, "p-stale")
    succeed(aws, retry, "p-2")

    assert json.loads(wait_for_end(aws, execution_arn)["output"])["payment"] == {"paymentId": "p-2"}


def test_an_answer_to_an_earlier_attempts_token_is_rejected(aws: Aws, patched: None) -> None:
    execution_arn, first, retry = answer_the_first_attempt_again_during_the_retry(aws)

    assert_closed(lambda: succeed(aws, first, "p-stale"))
    assert_closed(lambda: fail_with_provider_unavailable(aws, first))
    # The retry still waits for its own token's answer.
    assert status(aws, execution_arn) == "RUNNING"
    succeed(aws, retry, "p-2")
    description = wait_for_end(aws, execution_arn)

    assert description["status"] == "SUCCEEDED"
    assert json.loads(description["output"])["payment"] == {"paymentId": "p-2"}
    assert len(events_of(aws, execution_arn, "TaskFailed")) == 1
    assert len(events_of(aws, execution_arn, "TaskSucceeded")) == 1


# ---------------------------------------------------------------------------------------------
# Fix 6: heartbeats and answers as soon as the task token is published
# ---------------------------------------------------------------------------------------------

Reaction = Callable[[dict[str, Any]], Any]


def reply(call: Callable[[], Any]) -> str:
    """What Step Functions answered to call: "accepted" or the error code."""
    try:
        call()
    except ClientError as error:
        return str(error.response["Error"]["Code"])
    return "accepted"


def on_publish(monkeypatch: pytest.MonkeyPatch, *reactions: Reaction) -> list[str]:
    """Run each reaction(command) as soon as a task's putEvents has returned, before the task goes on.

    The reactions run on the interpreter's thread, so a consumer that acts at once on the published
    command lands deterministically between the publish and the task's wait for its token. Returns
    the list that receives each reaction's reply ("accepted" or the error code), in order.
    """
    replies: list[str] = []
    publish = state_task_service_events.StateTaskServiceEvents._eval_service_task

    def _eval_service_task(
        self: Any,
        env: Any,
        resource_runtime_part: Any,
        normalised_parameters: dict[str, Any],
        state_credentials: Any,
    ) -> None:
        publish(
            self,
            env=env,
            resource_runtime_part=resource_runtime_part,
            normalised_parameters=normalised_parameters,
            state_credentials=state_credentials,
        )
        (entry,) = normalised_parameters["Entries"]
        command = json.loads(entry["Detail"])
        for reaction in reactions:
            replies.append(reply(functools.partial(reaction, command)))

    monkeypatch.setattr(
        state_task_service_events.StateTaskServiceEvents, "_eval_service_task", _eval_service_task
    )
    return replies


def settled(replies: list[str], expected: int) -> list[str]:
    """The replies once all expected reactions have returned.

    A reaction runs on the interpreter's thread while the command is already in the queue and the
    task may already be answered, so the test can get there before the reaction's reply is recorded.
    """
    deadline = time.monotonic() + 5.0
    while len(replies) < expected and time.monotonic() < deadline:
        time.sleep(0.01)
    return replies


def heartbeat(aws: Aws, command: dict[str, Any]) -> None:
    aws.sfn.send_task_heartbeat(taskToken=command["taskToken"])


def test_a_heartbeat_before_the_publish_returns_is_an_invalid_token_on_unpatched_moto(
    aws: Aws, unpatched: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    replies = on_publish(monkeypatch, lambda command: heartbeat(aws, command))
    execution_arn = start(aws, saga(pay_state(HeartbeatSeconds=5, TimeoutSeconds=30)))
    command = next_command(aws)
    assert command is not None

    # The same token takes heartbeats once the task has set up its wait...
    deadline = time.monotonic() + 5.0
    while reply(lambda: heartbeat(aws, command)) == "InvalidToken":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    succeed(aws, command, "p-1")
    description = wait_for_end(aws, execution_arn)

    # ...but the heartbeat sent while the command was being published was rejected.
    assert settled(replies, 1) == ["InvalidToken"]
    assert description["status"] == "SUCCEEDED"


def test_an_answer_before_the_publish_returns_is_lost_on_unpatched_moto(
    aws: Aws, unpatched: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    replies = on_publish(monkeypatch, lambda command: succeed(aws, command, "p-1"))
    execution_arn = start(aws, saga(pay_state(HeartbeatSeconds=1, TimeoutSeconds=30)))

    description = wait_for_end(aws, execution_arn)

    assert settled(replies, 1) == ["accepted"]
    # Ended by the 1 s heartbeat wait (stock moto names it States.Timeout), well before TimeoutSeconds.
    assert description["status"] == "FAILED"
    assert description["error"] == "States.Timeout"
    assert len(events_of(aws, execution_arn, "TaskTimedOut")) == 1
    assert events_of(aws, execution_arn, "TaskSucceeded") == []


def test_a_heartbeat_as_soon_as_the_command_is_published_is_accepted(
    aws: Aws, patched: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    replies = on_publish(monkeypatch, lambda command: heartbeat(aws, command))
    # Scaled: 3 s between heartbeats, 6 s in all.
    execution_arn = start(aws, saga(pay_state(HeartbeatSeconds=300, TimeoutSeconds=600)))
    command = next_command(aws)
    assert command is not None

    assert settled(replies, 1) == ["accepted"]
    # The heartbeat did not answer the task: it still waits for its token.
    assert status(aws, execution_arn) == "RUNNING"
    succeed(aws, command, "p-1")
    description = wait_for_end(aws, execution_arn)

    assert description["status"] == "SUCCEEDED"
    assert json.loads(description["output"])["payment"] == {"paymentId": "p-1"}


@pytest.mark.parametrize("answer", ["success", "failure"])
def test_an_answer_as_soon_as_the_command_is_published_completes_the_task(
    aws: Aws, patched: None, monkeypatch: pytest.MonkeyPatch, answer: str
) -> None:
    # The payments service's order: heartbeat on receipt, then the answer.
    replies = on_publish(
        monkeypatch,
        lambda command: heartbeat(aws, command),
        lambda command: (
            succeed(aws, command, "p-1")
            if answer == "success"
            else fail_with_provider_unavailable(aws, command)
        ),
    )
    # Scaled: a lost answer would end the task with States.HeartbeatTimeout after 3 s.
    execution_arn = start(aws, saga(pay_state(HeartbeatSeconds=300, TimeoutSeconds=600)))

    description = wait_for_end(aws, execution_arn)

    assert events_of(aws, execution_arn, "TaskTimedOut") == []
    if answer == "success":
        assert description["status"] == "SUCCEEDED"
        assert json.loads(description["output"])["payment"] == {"paymentId": "p-1"}
    else:
        assert description["status"] == "FAILED"
        assert (description["error"], description["cause"]) == ("ProviderUnavailable", "card network down")
    assert settled(replies, 2) == ["accepted", "accepted"]


def test_every_attempt_takes_the_answer_sent_as_soon_as_its_command_is_published(
    aws: Aws, patched: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    replies = on_publish(
        monkeypatch,
        lambda command: (
            fail_with_provider_unavailable(aws, command)
            if command["attempt"] == 0
            else succeed(aws, command, "p-2")
        ),
    )
    execution_arn = start(aws, saga(pay_state(**RETRY_PROVIDER_UNAVAILABLE), PaymentFailed="PaymentFailed"))

    description = wait_for_end(aws, execution_arn)

    assert events_of(aws, execution_arn, "TaskTimedOut") == []
    assert description["status"] == "SUCCEEDED"
    assert json.loads(description["output"])["payment"] == {"paymentId": "p-2"}
    assert len(events_of(aws, execution_arn, "TaskFailed")) == 1
    assert settled(replies, 2) == ["accepted", "accepted"]


# ---------------------------------------------------------------------------------------------
# Fix 7: delivered events carry the account
# ---------------------------------------------------------------------------------------------

EVENT_TIME = datetime.datetime(2024, 5, 1, 12, 0, tzinfo=datetime.UTC)


def put_payment_requested(aws: Aws) -> dict[str, Any]:
    """Put a PaymentRequested event on the bus; return the envelope a target should receive."""
    detail = {"orderId": "o-1", "amount": 42}
    entry = {
        "EventBusName": BUS,
        "Source": "orderflow.orders",
        "DetailType": "PaymentRequested",
        "Detail": json.dumps(detail),
        "Resources": [f"arn:aws:states:{REGION}:{ACCOUNT}:execution:order-saga:o-1"],
        "Time": EVENT_TIME,
    }
    response = aws.events.put_events(Entries=[entry])
    assert response["FailedEntryCount"] == 0
    return {
        "version": "0",
        "id": response["Entries"][0]["EventId"],
        "detail-type": "PaymentRequested",
        "source": "orderflow.orders",
        "account": ACCOUNT,
        "time": "2024-05-01T12:00:00Z",
        "region": REGION,
        "resources": entry["Resources"],
        "detail": detail,
    }


def test_delivered_events_lack_the_account_on_unpatched_moto(aws: Aws, unpatched: None) -> None:
    expected = put_payment_requested(aws)

    delivered = next_message(aws)

    del expected["account"]
    assert delivered == expected


def test_delivered_events_carry_the_account(aws: Aws, patched: None) -> None:
    expected = put_payment_requested(aws)

    delivered = next_message(aws)

    # The whole envelope as put, and nothing else: only "account" is added to what moto delivers.
    assert delivered == expected


def test_a_target_with_an_input_transformer_receives_only_its_template(aws: Aws, patched: None) -> None:
    queue_url = aws.sqs.create_queue(QueueName="payments-audit")["QueueUrl"]
    queue_arn = aws.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    aws.events.put_targets(
        Rule="payment-requested",
        EventBusName=BUS,
        Targets=[
            {
                "Id": "audit",
                "Arn": queue_arn,
                "InputTransformer": {
                    "InputPathsMap": {"order": "$.detail.orderId", "source": "$.source"},
                    "InputTemplate": '{"order": "<order>", "from": "<source>"}',
                },
            }
        ],
    )
    transformed = []
    for fixed in (True, False):
        if not fixed:
            without_fix("DeliveredEventsCarryAccount")
        put_payment_requested(aws)
        transformed.append(next_message(aws, queue_url))
        # The rule's other target, without a transformer, shows whether the fix was in place.
        default = next_message(aws)
        assert default is not None
        assert ("account" in default) is fixed

    # With the fix as without it: exactly the template, no "account" added.
    assert transformed == [{"order": "o-1", "from": "orderflow.orders"}] * 2


# ---------------------------------------------------------------------------------------------
# Fix 8: execution status changes reach the default bus
# ---------------------------------------------------------------------------------------------

STATUS_CHANGE = "Step Functions Execution Status Change"
MACHINE_ARN = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:order-saga"


def subscribe_to_status_changes(aws: Aws) -> str:
    """A default-bus rule on Step Functions' status events with an SQS target; returns the queue URL."""
    queue_url: str = aws.sqs.create_queue(QueueName="execution-status")["QueueUrl"]
    queue_arn = aws.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    # No EventBusName: status events go to the account's default bus.
    aws.events.put_rule(
        Name="execution-status",
        EventPattern=json.dumps({"source": ["aws.states"], "detail-type": [STATUS_CHANGE]}),
    )
    aws.events.put_targets(Rule="execution-status", Targets=[{"Id": "status", "Arn": queue_arn}])
    return queue_url


def status_changes(aws: Aws, queue_url: str, expected: int) -> list[dict[str, Any]]:
    """The next `expected` status events on the queue, then whatever else arrives within 0.2 s."""
    received = []
    for _ in range(expected):
        event = next_message(aws, queue_url)
        assert event is not None, f"only {len(received)} of {expected} status events arrived: {received}"
        received.append(event)
    while (extra := next_message(aws, queue_url, timeout=0.2)) is not None:
        received.append(extra)
    return received


def statuses(events: list[dict[str, Any]]) -> list[str]:
    return [event["detail"]["status"] for event in events]


def epoch_millis(moment: datetime.datetime) -> int:
    return int(moment.timestamp() * 1000)


def assert_envelope(event: dict[str, Any], execution_arn: str) -> None:
    assert event["source"] == "aws.states"
    assert event["detail-type"] == STATUS_CHANGE
    assert event["resources"] == [execution_arn]
    assert (event["account"], event["region"], event["version"]) == (ACCOUNT, REGION, "0")
    assert event["id"]
    assert datetime.datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ")


def test_no_status_change_events_on_unpatched_moto(aws: Aws, unpatched: None) -> None:
    queue_url = subscribe_to_status_changes(aws)
    execution_arn = start(aws, {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})

    assert wait_for_end(aws, execution_arn)["status"] == "SUCCEEDED"

    assert next_message(aws, queue_url, timeout=0.5) is None


# Each way an execution ends, and what its terminal status event says about it.
ENDINGS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "SUCCEEDED": (
        {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "Result": {"ok": True}, "End": True}}},
        {"output": '{"ok":true}', "outputDetails": {"included": True}, "error": None, "cause": None},
    ),
    "FAILED": (
        {
            "StartAt": "Boom",
            "States": {"Boom": {"Type": "Fail", "Error": "OrderFailed", "Cause": "no stock"}},
        },
        {"output": None, "outputDetails": None, "error": "OrderFailed", "cause": "no stock"},
    ),
    "TIMED_OUT": (
        # Scaled: the execution times out after 1 s.
        {
            "TimeoutSeconds": 100,
            "StartAt": "Hang",
            "States": {"Hang": {"Type": "Wait", "Seconds": 100000, "End": True}},
        },
        {"output": None, "outputDetails": None},
    ),
    "ABORTED": (saga(pay_state(TimeoutSeconds=300)), {"output": None, "outputDetails": None}),
}


@pytest.mark.parametrize("ending", list(ENDINGS))
def test_every_status_change_reaches_a_default_bus_rule(aws: Aws, patched: None, ending: str) -> None:
    queue_url = subscribe_to_status_changes(aws)
    definition, terminal_fields = ENDINGS[ending]
    execution_arn = start(aws, definition)
    if ending == "ABORTED":
        assert next_command(aws) is not None
        aws.sfn.stop_execution(executionArn=execution_arn, error="OrderCancelled")

    description = wait_for_end(aws, execution_arn)
    running, terminal = status_changes(aws, queue_url, expected=2)

    assert description["status"] == ending
    for event in (running, terminal):
        assert_envelope(event, execution_arn)
    assert running["detail"] == {
        "executionArn": execution_arn,
        "stateMachineArn": MACHINE_ARN,
        "name": "o-1",
        "status": "RUNNING",
        "startDate": epoch_millis(description["startDate"]),
        "stopDate": None,
        "input": '{"orderId": "o-1"}',
        "inputDetails": {"included": True},
        "output": None,
        "outputDetails": None,
        "error": None,
        "cause": None,
        "redriveCount": 0,
        "redriveDate": None,
        "redriveStatus": "NOT_REDRIVABLE",
        "redriveStatusReason": "Execution is RUNNING and cannot be redriven",
    }
    redrivable = ending != "SUCCEEDED"
    expected_terminal = {
        **running["detail"],
        "status": ending,
        "stopDate": terminal["detail"]["stopDate"],
        "redriveStatus": "REDRIVABLE" if redrivable else "NOT_REDRIVABLE",
        "redriveStatusReason": None if redrivable else "Execution is SUCCEEDED and cannot be redriven",
        **terminal_fields,
    }
    # What a timeout or a stop reports as error and cause is not checked here.
    unchecked = {"error", "cause"} - terminal_fields.keys()
    assert without(terminal["detail"], unchecked) == without(expected_terminal, unchecked)
    assert running["detail"]["startDate"] <= terminal["detail"]["stopDate"]
    if "stopDate" in description:  # moto's DescribeExecution leaves it out for TIMED_OUT
        assert terminal["detail"]["stopDate"] == epoch_millis(description["stopDate"])


def without(mapping: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    return {key: value for key, value in mapping.items() if key not in keys}


@pytest.mark.parametrize("ending", ["SUCCEEDED", "FAILED"])
def test_status_changes_of_a_state_machine_under_a_customer_managed_key_leave_its_data_out(
    aws: Aws, patched: None, ending: str
) -> None:
    queue_url = subscribe_to_status_changes(aws)
    key_arn = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["Arn"]
    definition, _ = ENDINGS[ending]
    machine_arn = aws.sfn.create_state_machine(
        name="order-saga",
        definition=json.dumps(definition),
        roleArn=ROLE_ARN,
        encryptionConfiguration={"type": "CUSTOMER_MANAGED_KMS_KEY", "kmsKeyId": key_arn},
    )["stateMachineArn"]
    execution_arn = aws.sfn.start_execution(
        stateMachineArn=machine_arn, name="o-1", input=json.dumps({"email": "c@example.com"})
    )["executionArn"]

    assert wait_for_end(aws, execution_arn)["status"] == ending
    running, terminal = status_changes(aws, queue_url, expected=2)

    assert statuses([running, terminal]) == ["RUNNING", ending]
    for event in (running, terminal):
        assert "c@example.com" not in json.dumps(event)
        assert (event["detail"]["input"], event["detail"]["inputDetails"]) == (None, {"included": False})
        assert (event["detail"]["error"], event["detail"]["cause"]) == (None, None)
    assert terminal["detail"]["output"] is None
    assert terminal["detail"]["outputDetails"] == ({"included": False} if ending == "SUCCEEDED" else None)


def test_status_changes_go_to_the_default_bus_only(aws: Aws, patched: None) -> None:
    # A rule on the saga's own bus that would match them receives nothing.
    queue_url = aws.sqs.create_queue(QueueName="custom-bus-status")["QueueUrl"]
    queue_arn = aws.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    aws.events.put_rule(
        Name="status-on-custom-bus", EventBusName=BUS, EventPattern='{"source": ["aws.states"]}'
    )
    aws.events.put_targets(
        Rule="status-on-custom-bus", EventBusName=BUS, Targets=[{"Id": "status", "Arn": queue_arn}]
    )
    default_bus_queue = subscribe_to_status_changes(aws)
    execution_arn = start(aws, {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})

    wait_for_end(aws, execution_arn)

    assert statuses(status_changes(aws, default_bus_queue, expected=2)) == ["RUNNING", "SUCCEEDED"]
    assert next_message(aws, queue_url, timeout=0.2) is None


# ---------------------------------------------------------------------------------------------
# Fix 9: RedriveExecution
# ---------------------------------------------------------------------------------------------


@pytest.mark.enable_socket
def test_redrive_execution_is_a_server_error_on_unpatched_moto(unpatched: None) -> None:
    # The local runtime talks to moto's server, which turns the missing action into HTTP 500
    # (in-process moto raises NotImplementedError instead).
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        sfn = boto3.client(
            "stepfunctions",
            endpoint_url=f"http://{host}:{port}",
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=botocore.config.Config(retries={"max_attempts": 0}),
        )
        with pytest.raises(ClientError) as failed:
            sfn.redrive_execution(executionArn=f"arn:aws:states:{REGION}:{ACCOUNT}:execution:order-saga:o-1")
    finally:
        server.stop()

    assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500


def reserve_state() -> dict[str, Any]:
    """A fire-and-forget putEvents task that publishes StockReservationRequested: the earlier step."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::events:putEvents",
        "Parameters": {
            "Entries": [
                {
                    "EventBusName": BUS,
                    "Source": "orderflow.orders",
                    "DetailType": "StockReservationRequested",
                    "Detail": {"orderId.$": "$.orderId", "startedAt.$": "$$.Execution.StartTime"},
                }
            ]
        },
        "ResultPath": "$.reservation",
        "Next": "Pay",
    }


def subscribe_to_reservations(aws: Aws) -> str:
    queue_url: str = aws.sqs.create_queue(QueueName="inventory-commands")["QueueUrl"]
    queue_arn = aws.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    aws.events.put_rule(
        Name="reservation-requested",
        EventBusName=BUS,
        EventPattern=json.dumps({"detail-type": ["StockReservationRequested"]}),
    )
    aws.events.put_targets(
        Rule="reservation-requested", EventBusName=BUS, Targets=[{"Id": "inventory", "Arn": queue_arn}]
    )
    return queue_url


def drain(aws: Aws, queue_url: str) -> list[dict[str, Any]]:
    messages = []
    while (message := next_message(aws, queue_url, timeout=0.2)) is not None:
        messages.append(message)
    return messages


def saga_failing_at_payment(aws: Aws) -> tuple[str, str, str, dict[str, Any]]:
    """Reserve, then a callback payment whose retry is exhausted: the execution fails at Pay.

    Returns the execution, the reservations queue, the status events queue and the last command.
    """
    reservations = subscribe_to_reservations(aws)
    status_queue = subscribe_to_status_changes(aws)
    pay = pay_state(
        Retry=[{"ErrorEquals": ["ProviderUnavailable"], "IntervalSeconds": 5, "MaxAttempts": 1}],
        TimeoutSeconds=300,
        HeartbeatSeconds=120,
    )
    definition = {"StartAt": "Reserve", "States": {"Reserve": reserve_state(), **saga(pay)["States"]}}
    execution_arn = start(aws, definition)
    for _ in range(2):
        command = next_command(aws)
        assert command is not None
        fail_with_provider_unavailable(aws, command)
    description = wait_for_end(aws, execution_arn)
    assert (description["status"], description["error"]) == ("FAILED", "ProviderUnavailable")
    return execution_arn, reservations, status_queue, command


def test_a_redrive_resumes_the_saga_at_the_failed_callback_task(aws: Aws, patched: None) -> None:
    execution_arn, reservations, status_queue, last_failed = saga_failing_at_payment(aws)
    failed_history = history(aws, execution_arn)
    failed_description = aws.sfn.describe_execution(executionArn=execution_arn)

    redrive_date = aws.sfn.redrive_execution(executionArn=execution_arn)["redriveDate"]
    running = aws.sfn.describe_execution(executionArn=execution_arn)
    command = next_command(aws)
    assert command is not None
    # The payment service heartbeats first, then answers the redriven attempt's own token.
    aws.sfn.send_task_heartbeat(taskToken=command["taskToken"])
    succeed(aws, command, "p-1")
    description = wait_for_end(aws, execution_arn)

    # Before: redrivable; during: RUNNING again, counted and dated.
    assert (failed_description["redriveCount"], failed_description["redriveStatus"]) == (0, "REDRIVABLE")
    assert "redriveDate" not in failed_description
    assert running["status"] == "RUNNING"
    assert "stopDate" not in running
    assert "error" not in running
    assert (running["redriveCount"], running["redriveDate"]) == (1, redrive_date)
    assert running["redriveStatusReason"] == "Execution is RUNNING and cannot be redriven"
    # Resumed at Pay with a new token and the same input; Reserve ran once.
    assert command["taskToken"] != last_failed["taskToken"]
    assert command["attempt"] == 0
    assert len(drain(aws, reservations)) == 1
    assert description["status"] == "SUCCEEDED"
    output = json.loads(description["output"])
    assert (sorted(output), output["payment"]) == (
        ["orderId", "payment", "reservation"],
        {"paymentId": "p-1"},
    )
    assert (description["redriveCount"], description["redriveDate"]) == (1, redrive_date)
    assert description["startDate"] == failed_description["startDate"]
    assert description["redriveStatusReason"] == "Execution is SUCCEEDED and cannot be redriven"
    # The history is kept and continued.
    events = history(aws, execution_arn)
    assert events[: len(failed_history)] == failed_history
    redriven = events[len(failed_history)]
    assert redriven["type"] == "ExecutionRedriven"
    assert redriven["executionRedrivenEventDetails"] == {"redriveCount": 1}
    assert [event["id"] for event in events] == list(range(1, len(events) + 1))
    assert redriven["previousEventId"] == failed_history[-1]["id"]
    resumed = [event["type"] for event in events[len(failed_history) + 1 :]]
    assert resumed[0] == "TaskStateEntered"
    assert resumed[-3:] == ["SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded"]
    assert "TaskFailed" not in resumed
    entered = events[len(failed_history) + 1]["stateEnteredEventDetails"]
    assert entered["name"] == "Pay"
    assert [e["stateEnteredEventDetails"]["name"] for e in events if e["type"] == "TaskStateEntered"] == [
        "Reserve",
        "Pay",
        "Pay",
    ]
    # Status events: the failure, then RUNNING again with the redrive, then the success.
    changes = status_changes(aws, status_queue, expected=4)
    assert statuses(changes) == ["RUNNING", "FAILED", "RUNNING", "SUCCEEDED"]
    assert [c["detail"]["redriveCount"] for c in changes] == [0, 0, 1, 1]
    assert changes[2]["detail"]["redriveDate"] == epoch_millis(redrive_date)
    assert changes[2]["detail"]["stopDate"] is None
    assert changes[2]["detail"]["error"] is None
    assert json.loads(changes[3]["detail"]["output"]) == output
    # The failed run's tokens stay closed.
    assert_closed(lambda: succeed(aws, last_failed, "p-stale"))


def test_a_redriven_task_sees_the_original_execution_context(aws: Aws, patched: None) -> None:
    pay = pay_state(TimeoutSeconds=300)
    pay["Parameters"]["Entries"][0]["Detail"].update(
        {
            "executionId.$": "$$.Execution.Id",
            "executionInput.$": "$$.Execution.Input",
            "startTime.$": "$$.Execution.StartTime",
            "redriveCount.$": "$$.Execution.RedriveCount",
        }
    )
    # moto's first run has no $$.Execution.RedriveCount (AWS: 0), so Pay fails there with
    # States.Runtime; the redriven Pay reads it.
    execution_arn = start(aws, saga(pay))
    assert wait_for_end(aws, execution_arn)["status"] == "FAILED"
    started = aws.sfn.describe_execution(executionArn=execution_arn)["startDate"]

    aws.sfn.redrive_execution(executionArn=execution_arn)
    command = next_command(aws)
    assert command is not None
    succeed(aws, command, "p-1")

    assert wait_for_end(aws, execution_arn)["status"] == "SUCCEEDED"
    assert command["executionId"] == execution_arn
    assert command["executionInput"] == {"orderId": "o-1"}
    assert command["redriveCount"] == 1
    assert abs(datetime.datetime.fromisoformat(command["startTime"]) - started) < datetime.timedelta(
        seconds=1
    )


def test_a_timed_out_execution_lacks_its_timeout_event_on_unpatched_moto(aws: Aws, unpatched: None) -> None:
    # Unscaled: the execution times out after 1 s while its task waits for the token.
    execution_arn = start(aws, {"TimeoutSeconds": 1, **saga(pay_state(TimeoutSeconds=300))})

    assert wait_for_end(aws, execution_arn)["status"] == "TIMED_OUT"

    assert events_of(aws, execution_arn, "ExecutionTimedOut") == []


@pytest.mark.parametrize(
    "definition",
    [
        # Scaled: both time out after 1 s, one in a task waiting for its token, one in a Wait state.
        {"TimeoutSeconds": 100, **saga(pay_state(TimeoutSeconds=300))},
        {
            "TimeoutSeconds": 100,
            "StartAt": "Hang",
            "States": {"Hang": {"Type": "Wait", "Seconds": 100000, "End": True}},
        },
    ],
    ids=["waiting-for-token", "wait-state"],
)
def test_a_timed_out_execution_s_history_ends_with_its_timeout_when_the_status_says_so(
    aws: Aws, patched: None, definition: dict[str, Any]
) -> None:
    execution_arn = start(aws, definition)

    assert wait_for_end(aws, execution_arn)["status"] == "TIMED_OUT"
    types = [event["type"] for event in history(aws, execution_arn)]

    assert types[-1] == "ExecutionTimedOut"
    # Whatever the interrupted state does once it notices adds nothing after it.
    time.sleep(0.3)
    assert [event["type"] for event in history(aws, execution_arn)] == types


@pytest.mark.parametrize("ending", ["ABORTED", "TIMED_OUT"])
def test_an_aborted_or_timed_out_execution_resumes_at_the_task_it_was_waiting_in(
    aws: Aws, patched: None, ending: str
) -> None:
    # Scaled: the execution times out after 1 s if nobody answers.
    definition = {"TimeoutSeconds": 100, **saga(pay_state(TimeoutSeconds=300))}
    execution_arn = start(aws, definition)
    first = next_command(aws)
    assert first is not None
    if ending == "ABORTED":
        aws.sfn.stop_execution(executionArn=execution_arn, error="OperatorStop")
    assert wait_for_end(aws, execution_arn)["status"] == ending

    aws.sfn.redrive_execution(executionArn=execution_arn)
    command = next_command(aws)
    assert command is not None
    succeed(aws, command, "p-1")
    description = wait_for_end(aws, execution_arn)

    assert command["taskToken"] != first["taskToken"]
    assert description["status"] == "SUCCEEDED"
    assert json.loads(description["output"])["payment"] == {"paymentId": "p-1"}
    types = [event["type"] for event in history(aws, execution_arn)]
    redriven = types.index("ExecutionRedriven")
    ended = {"ABORTED": "ExecutionAborted", "TIMED_OUT": "ExecutionTimedOut"}[ending]
    assert types[redriven - 1 : redriven + 2] == [ended, "ExecutionRedriven", "TaskStateEntered"]
    assert types.count(ended) == 1


@pytest.mark.parametrize("state", ["RUNNING", "SUCCEEDED"])
def test_only_a_failed_timed_out_or_aborted_execution_is_redrivable(
    aws: Aws, patched: None, state: str
) -> None:
    execution_arn = start(aws, saga(pay_state(TimeoutSeconds=300)))
    command = next_command(aws)
    assert command is not None
    if state == "SUCCEEDED":
        succeed(aws, command, "p-1")
        wait_for_end(aws, execution_arn)

    with pytest.raises(aws.sfn.exceptions.ExecutionNotRedrivable) as refused:
        aws.sfn.redrive_execution(executionArn=execution_arn)

    reason = f"Execution is {state} and cannot be redriven"
    assert reason in str(refused.value)
    description = aws.sfn.describe_execution(executionArn=execution_arn)
    assert description["status"] == state
    assert (description["redriveCount"], description["redriveStatus"]) == (0, "NOT_REDRIVABLE")
    assert description["redriveStatusReason"] == reason
    assert events_of(aws, execution_arn, "ExecutionRedriven") == []
    if state == "RUNNING":
        # The running task was not disturbed.
        succeed(aws, command, "p-1")
        assert wait_for_end(aws, execution_arn)["status"] == "SUCCEEDED"


def test_a_repeated_client_token_answers_the_first_redrive(aws: Aws, patched: None) -> None:
    execution_arn = start(aws, saga(pay_state(TimeoutSeconds=10)))
    assert wait_for_end(aws, execution_arn)["status"] == "FAILED"

    first = aws.sfn.redrive_execution(executionArn=execution_arn, clientToken="redrive-o-1")["redriveDate"]
    again = aws.sfn.redrive_execution(executionArn=execution_arn, clientToken="redrive-o-1")["redriveDate"]

    # Scaled, the redriven task times out after 0.1 s too.
    assert wait_for_end(aws, execution_arn)["status"] == "FAILED"
    assert again == first
    assert len(events_of(aws, execution_arn, "ExecutionRedriven")) == 1
    assert aws.sfn.describe_execution(executionArn=execution_arn)["redriveCount"] == 1


def test_redriving_an_unknown_execution_is_execution_does_not_exist(aws: Aws, patched: None) -> None:
    wait_for_end(aws, start(aws, {"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "E"}}}))

    with pytest.raises(aws.sfn.exceptions.ExecutionDoesNotExist):
        aws.sfn.redrive_execution(executionArn=f"arn:aws:states:{REGION}:{ACCOUNT}:execution:order-saga:nope")


# ---------------------------------------------------------------------------------------------
# Fix 10: a schedule-only rule matches no event
# ---------------------------------------------------------------------------------------------


def scheduled_queue(aws: Aws, name: str, **pattern: Any) -> str:
    """A default-bus rule with a schedule (and the given pattern, if any) targeting a new queue."""
    queue_url: str = aws.sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = aws.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    rule: dict[str, Any] = {"Name": name, "ScheduleExpression": "rate(5 minutes)"}
    if pattern:
        rule["EventPattern"] = json.dumps(pattern)
    aws.events.put_rule(**rule)
    aws.events.put_targets(Rule=name, Targets=[{"Id": name, "Arn": queue_arn}])
    return queue_url


def put_on_default_bus(aws: Aws, source: str) -> None:
    entry = {"Source": source, "DetailType": "Something Happened", "Detail": "{}"}
    assert aws.events.put_events(Entries=[entry])["FailedEntryCount"] == 0


def test_a_schedule_only_rule_receives_every_event_on_unpatched_moto(aws: Aws, unpatched: None) -> None:
    queue_url = scheduled_queue(aws, "reconcile-ticks")

    put_on_default_bus(aws, "aws.states")

    delivered = next_message(aws, queue_url, timeout=0.5)
    assert delivered is not None
    assert delivered["source"] == "aws.states"


def test_a_schedule_only_rule_receives_no_event(aws: Aws, patched: None) -> None:
    ticks = scheduled_queue(aws, "reconcile-ticks")
    status_queue = subscribe_to_status_changes(aws)

    put_on_default_bus(aws, "aws.states")
    execution_arn = start(aws, {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
    wait_for_end(aws, execution_arn)

    # The status events went to the rule that asked for them, not to the scheduled queue.
    assert statuses(status_changes(aws, status_queue, expected=2)) == ["RUNNING", "SUCCEEDED"]
    assert next_message(aws, ticks, timeout=0.2) is None


def test_a_rule_with_a_schedule_and_a_pattern_receives_what_its_pattern_matches(
    aws: Aws, patched: None
) -> None:
    queue_url = scheduled_queue(aws, "both", source=["orderflow.ops"])

    put_on_default_bus(aws, "orderflow.ops")
    put_on_default_bus(aws, "orderflow.other")

    assert [message["source"] for message in drain(aws, queue_url)] == ["orderflow.ops"]


# ---------------------------------------------------------------------------------------------
# Fixes 12 and 13: an SES configuration set reports each email it sends on the default bus
# ---------------------------------------------------------------------------------------------

SENDER = "orders@orderflow.example"
CONFIGURATION_SET = "emails"
EVENTBRIDGE_ON_SEND = {
    "Enabled": True,
    "MatchingEventTypes": ["SEND"],
    "EventBridgeDestination": {"EventBusArn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default"},
}


@dataclass(frozen=True)
class Ses:
    v1: Any
    v2: Any
    reports_url: str  # the queue of a default-bus rule on every SES event

    def send(self, **request: Any) -> str:
        """Sends an email with the configuration set; a field given as None is left out."""
        defaults = {
            "Source": SENDER,
            "Destination": {"ToAddresses": ["ana@example.com"], "CcAddresses": ["ops@example.com"]},
            "Message": {"Subject": {"Data": "Your order"}, "Body": {"Text": {"Data": "Thanks"}}},
            "ConfigurationSetName": CONFIGURATION_SET,
        }
        fields = {name: value for name, value in {**defaults, **request}.items() if value is not None}
        message_id: str = self.v1.send_email(**fields)["MessageId"]
        return message_id

    def add_destination(self, name: str = "to-eventbridge", **destination: Any) -> None:
        self.v2.create_configuration_set_event_destination(
            ConfigurationSetName=CONFIGURATION_SET,
            EventDestinationName=name,
            EventDestination={**EVENTBRIDGE_ON_SEND, **destination},
        )


@pytest.fixture
def ses(aws: Aws) -> Ses:
    v1, v2 = boto3.client("ses", region_name=REGION), boto3.client("sesv2", region_name=REGION)
    v1.verify_email_identity(EmailAddress=SENDER)
    v2.create_configuration_set(ConfigurationSetName=CONFIGURATION_SET)
    reports_url = aws.sqs.create_queue(QueueName="ses-reports")["QueueUrl"]
    reports_arn = aws.sqs.get_queue_attributes(QueueUrl=reports_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    aws.events.put_rule(Name="ses-reports", EventPattern=json.dumps({"source": ["aws.ses"]}))
    aws.events.put_targets(Rule="ses-reports", Targets=[{"Id": "reports", "Arn": reports_arn}])
    return Ses(v1=v1, v2=v2, reports_url=reports_url)


def test_event_destinations_are_not_implemented_on_unpatched_moto(ses: Ses, unpatched: None) -> None:
    with pytest.raises(NotImplementedError):
        ses.add_destination()
    with pytest.raises(NotImplementedError):
        ses.v2.get_configuration_set_event_destinations(ConfigurationSetName=CONFIGURATION_SET)


@pytest.mark.enable_socket
def test_moto_server_routes_event_destinations(patched: None) -> None:
    # The local runtime talks to moto's server, whose routes come from each service's url paths.
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        v2 = boto3.client(
            "sesv2",
            endpoint_url=f"http://{host}:{port}",
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        v2.create_configuration_set(ConfigurationSetName=CONFIGURATION_SET)
        Ses(v1=None, v2=v2, reports_url="").add_destination()

        listed = v2.get_configuration_set_event_destinations(ConfigurationSetName=CONFIGURATION_SET)
    finally:
        server.stop()

    assert listed["EventDestinations"] == [{"Name": "to-eventbridge", **EVENTBRIDGE_ON_SEND}]


def test_an_eventbridge_destination_is_added_to_its_configuration_set(ses: Ses, patched: None) -> None:
    ses.add_destination()
    ses.add_destination("disabled", Enabled=False)

    listed = ses.v2.get_configuration_set_event_destinations(ConfigurationSetName=CONFIGURATION_SET)

    assert listed["EventDestinations"] == [
        {"Name": "to-eventbridge", **EVENTBRIDGE_ON_SEND},
        {"Name": "disabled", **EVENTBRIDGE_ON_SEND, "Enabled": False},
    ]


def test_a_destination_of_an_unknown_set_a_taken_name_or_another_bus_is_refused(
    ses: Ses, patched: None
) -> None:
    ses.add_destination()
    custom_bus = {"EventBusArn": f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/{BUS}"}

    with pytest.raises(ses.v2.exceptions.NotFoundException):
        ses.v2.create_configuration_set_event_destination(
            ConfigurationSetName="no-such-set", EventDestinationName="x", EventDestination=EVENTBRIDGE_ON_SEND
        )
    with pytest.raises(ses.v2.exceptions.AlreadyExistsException):
        ses.add_destination()
    with pytest.raises(ses.v2.exceptions.BadRequestException):
        ses.add_destination("custom-bus", EventBridgeDestination=custom_bus)


def test_no_email_sent_event_on_unpatched_moto(aws: Aws, ses: Ses, unpatched: None) -> None:
    # moto's v1 SendEmail takes a set that does not exist and tags SES refuses, and reports nothing.
    ses.send()
    ses.send(ConfigurationSetName="no-such-set", Tags=[{"Name": "order id", "Value": "o/1"}])

    assert next_message(aws, ses.reports_url, timeout=0.3) is None


def test_an_email_sent_with_the_set_is_reported_on_the_default_bus(aws: Aws, ses: Ses, patched: None) -> None:
    ses.add_destination()
    before = datetime.datetime.now(tz=datetime.UTC).replace(microsecond=0)

    message_id = ses.send(
        Tags=[{"Name": "order_id", "Value": "o-1"}, {"Name": "category", "Value": "failure"}]
    )

    event = next_message(aws, ses.reports_url)
    assert event is not None
    assert (event["source"], event["detail-type"]) == ("aws.ses", "Email Sent")
    assert (event["account"], event["region"], event["version"]) == (ACCOUNT, REGION, "0")
    assert event["resources"] == [f"arn:aws:ses:{REGION}:{ACCOUNT}:configuration-set/{CONFIGURATION_SET}"]
    mail = event["detail"]["mail"]
    sent_at = datetime.datetime.strptime(mail["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.UTC
    )
    assert before <= sent_at <= datetime.datetime.now(tz=datetime.UTC)
    assert event["detail"] == {
        "eventType": "Send",
        "mail": {
            "timestamp": mail["timestamp"],
            "source": SENDER,
            "sourceArn": f"arn:aws:ses:{REGION}:{ACCOUNT}:identity/{SENDER}",
            "sendingAccountId": ACCOUNT,
            "messageId": message_id,
            "destination": ["ana@example.com", "ops@example.com"],
            "headersTruncated": False,
            "headers": [
                {"name": "From", "value": SENDER},
                {"name": "To", "value": "ana@example.com"},
                {"name": "Cc", "value": "ops@example.com"},
                {"name": "Subject", "value": "Your order"},
                {"name": "MIME-Version", "value": "1.0"},
            ],
            "commonHeaders": {
                "from": [SENDER],
                "to": ["ana@example.com"],
                "messageId": message_id,
                "subject": "Your order",
                "cc": ["ops@example.com"],
            },
            "tags": {
                "ses:configuration-set": [CONFIGURATION_SET],
                "ses:source-ip": ["127.0.0.1"],
                "ses:from-domain": ["orderflow.example"],
                "order_id": ["o-1"],
                "category": ["failure"],
            },
        },
        "send": {},
    }
    assert next_message(aws, ses.reports_url, timeout=0.2) is None  # one event per email


def test_only_an_enabled_eventbridge_destination_for_send_reports_an_email_of_its_set(
    aws: Aws, ses: Ses, patched: None
) -> None:
    ses.add_destination("disabled", Enabled=False)
    ses.add_destination("deliveries-only", MatchingEventTypes=["DELIVERY"])
    ses.send()
    ses.v2.create_configuration_set(ConfigurationSetName="other")
    ses.send(ConfigurationSetName="other")

    ses.add_destination("reporting")
    ses.send(ConfigurationSetName=None)  # an email sent without the set

    assert next_message(aws, ses.reports_url, timeout=0.3) is None


def test_an_unknown_set_or_a_tag_ses_refuses_fails_the_send_and_reports_nothing(
    aws: Aws, ses: Ses, patched: None
) -> None:
    ses.add_destination()

    with pytest.raises(ses.v1.exceptions.ConfigurationSetDoesNotExistException):
        ses.send(ConfigurationSetName="no-such-set")
    for tag in ({"Name": "order id", "Value": "o-1"}, {"Name": "order_id", "Value": "o/1"}):
        with pytest.raises(ClientError, match="InvalidParameterValue"):
            ses.send(Tags=[tag])
    with pytest.raises(ses.v1.exceptions.MessageRejected):
        ses.send(Source="someone@unverified.example")

    assert next_message(aws, ses.reports_url, timeout=0.3) is None


# ---------------------------------------------------------------------------------------------
# Fix 11: atomic DynamoDB requests and transactions
# ---------------------------------------------------------------------------------------------

# These run against moto's threaded server, as the local runtime does: each request has its own
# thread. A Pause stops one request at a chosen point inside moto, so that another request runs in
# the window the first one leaves; the stress tests switch threads every 10 µs (instead of every
# 5 ms) so that races show within a few rounds.

STOCK = "stock"
RESERVATIONS = "reservations"

DynamoDB = Callable[[], Any]


@pytest.fixture
def dynamodb() -> Iterator[DynamoDB]:
    """A factory of clients (one per thread) of a fresh threaded moto server with two tables."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()

    def client() -> Any:
        return boto3.client(
            "dynamodb",
            endpoint_url=f"http://{host}:{port}",
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=botocore.config.Config(retries={"max_attempts": 0}),
        )

    setup = client()
    for table, key in ((STOCK, "sku"), (RESERVATIONS, "orderId")):
        setup.create_table(
            TableName=table,
            KeySchema=[{"AttributeName": key, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": key, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
    try:
        yield client
    finally:
        # The server shares moto's backends with the in-process tests.
        for table in (STOCK, RESERVATIONS):
            setup.delete_table(TableName=table)
        server.stop()


@pytest.fixture
def busy_switching() -> Iterator[None]:
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    yield
    sys.setswitchinterval(interval)


class Pause:
    """Holds the first thread that reaches it until released (at most 5 s); others pass."""

    def __init__(self) -> None:
        self.reached = threading.Event()
        self._released = threading.Event()
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            first = not self.reached.is_set()
            self.reached.set()
        if first:
            self._released.wait(5)

    def release(self) -> None:
        self._released.set()


def pause_in(monkeypatch: pytest.MonkeyPatch, owner: type, name: str, when: Callable[..., bool]) -> Pause:
    """Makes ``owner.name`` stop at a Pause when ``when`` holds for its arguments."""
    pause = Pause()
    original = getattr(owner, name)

    def paused(*args: Any, **kwargs: Any) -> Any:
        if when(*args, **kwargs):
            pause()
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, paused, raising=False)
    return pause


def stock_of(client: Any, sku: str) -> dict[str, int]:
    item = client.get_item(TableName=STOCK, Key={"sku": {"S": sku}}, ConsistentRead=True)["Item"]
    return {name: int(value["N"]) for name, value in item.items() if "N" in value}


def put_stock(client: Any, sku: str, available: int) -> None:
    client.put_item(
        TableName=STOCK,
        Item={"sku": {"S": sku}, "available": {"N": str(available)}, "reserved": {"N": "0"}},
    )


def reserve_one(client: Any, order_id: str, sku: str) -> str:
    """The saga's reservation: record the order and take a unit if one is left. Returns the outcome."""
    try:
        client.transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": RESERVATIONS,
                        "Item": {"orderId": {"S": order_id}, "sku": {"S": sku}},
                        "ConditionExpression": "attribute_not_exists(orderId)",
                    }
                },
                {
                    "Update": {
                        "TableName": STOCK,
                        "Key": {"sku": {"S": sku}},
                        "UpdateExpression": "SET available = available - :one, reserved = reserved + :one",
                        "ConditionExpression": "available >= :one",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
            ]
        )
    except ClientError as error:
        if error.response["ResponseMetadata"]["HTTPStatusCode"] >= 500:
            return "HTTP 500"
        reasons = error.response.get("CancellationReasons", [])
        return str([reason["Code"] for reason in reasons] or error.response["Error"]["Code"])
    return "reserved"


def reservations(client: Any) -> set[str]:
    items = client.scan(TableName=RESERVATIONS, ConsistentRead=True)["Items"]
    return {item["orderId"]["S"] for item in items}


def write_during_a_failed_transaction(dynamodb: DynamoDB, monkeypatch: pytest.MonkeyPatch) -> str:
    """Stops a transaction whose condition on item A fails once it has started, updates item B
    (same table) meanwhile, and returns the transaction's outcome."""
    client = dynamodb()
    put_stock(client, "A", 0)
    put_stock(client, "B", 0)
    pause = pause_in(
        monkeypatch, Table, "get_item", lambda table, hash_key, *_: hash_key == DynamoType({"S": "A"})
    )

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        transaction = pool.submit(reserve_one, dynamodb(), "o-1", "A")
        assert pause.reached.wait(5)
        restock = pool.submit(
            dynamodb().update_item,
            TableName=STOCK,
            Key={"sku": {"S": "B"}},
            UpdateExpression="SET available = available + :units",
            ExpressionAttributeValues={":units": {"N": "7"}},
        )
        # Stock moto writes B while the transaction waits; with the fix the write waits instead.
        with contextlib.suppress(concurrent.futures.TimeoutError):
            restock.result(timeout=0.5)
        pause.release()
        outcome = transaction.result(timeout=10)
        restock.result(timeout=10)
    assert stock_of(client, "A")["available"] == 0
    return outcome


def race_for_the_last_unit(dynamodb: DynamoDB, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Stops the first of two reservations of the last unit between its condition check and its
    write, runs the second one meanwhile, and returns both outcomes."""
    client = dynamodb()
    put_stock(client, "X", 1)
    pause = pause_in(monkeypatch, UpdateExpressionExecutor, "execute", lambda *_: True)

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(reserve_one, dynamodb(), "o-1", "X")
        assert pause.reached.wait(5)
        second = pool.submit(reserve_one, dynamodb(), "o-2", "X")
        with contextlib.suppress(concurrent.futures.TimeoutError):
            second.result(timeout=0.5)
        pause.release()
        return [first.result(timeout=10), second.result(timeout=10)]


def put_during_a_table_copy(dynamodb: DynamoDB, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Stops a reservation at the first attribute value it deep-copies, puts a new item into the
    table meanwhile, and returns the outcomes of the reservation and the put."""
    client = dynamodb()
    put_stock(client, "X", 1)
    pause = Pause()

    def pausing_deepcopy(value: DynamoType, memo: dict[int, Any]) -> DynamoType:
        pause()
        clone = object.__new__(DynamoType)
        clone.__dict__.update(copy.deepcopy(value.__dict__, memo))
        return clone

    monkeypatch.setattr(DynamoType, "__deepcopy__", pausing_deepcopy, raising=False)

    def put_new_item() -> str:
        put_stock(dynamodb(), "Y", 5)
        return "put"

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        reservation = pool.submit(reserve_one, dynamodb(), "o-1", "X")
        assert pause.reached.wait(5)
        put = pool.submit(put_new_item)
        with contextlib.suppress(concurrent.futures.TimeoutError):
            put.result(timeout=0.5)
        pause.release()
        return [reservation.result(timeout=10), put.result(timeout=10)]


@pytest.mark.enable_socket
def test_a_failed_transaction_loses_a_concurrent_write_on_unpatched_moto(
    dynamodb: DynamoDB, monkeypatch: pytest.MonkeyPatch, unpatched: None
) -> None:
    outcome = write_during_a_failed_transaction(dynamodb, monkeypatch)

    assert outcome == "['None', 'ConditionalCheckFailed']"
    # The update of B was answered 200, then the cancelled transaction put its copy of the table back.
    assert stock_of(dynamodb(), "B")["available"] == 0


@pytest.mark.enable_socket
def test_a_failed_transaction_keeps_a_concurrent_write(
    dynamodb: DynamoDB, monkeypatch: pytest.MonkeyPatch, patched: None
) -> None:
    outcome = write_during_a_failed_transaction(dynamodb, monkeypatch)

    assert outcome == "['None', 'ConditionalCheckFailed']"
    client = dynamodb()
    assert stock_of(client, "B")["available"] == 7
    assert reservations(client) == set()


@pytest.mark.enable_socket
def test_two_transactions_both_take_the_last_unit_on_unpatched_moto(
    dynamodb: DynamoDB, monkeypatch: pytest.MonkeyPatch, unpatched: None
) -> None:
    outcomes = race_for_the_last_unit(dynamodb, monkeypatch)

    # Both passed "available >= 1" and computed their counts from the same read: two reservations
    # hold the one unit, and the stock shows it taken once.
    assert outcomes == ["reserved", "reserved"]
    client = dynamodb()
    assert reservations(client) == {"o-1", "o-2"}
    assert stock_of(client, "X") == {"available": 0, "reserved": 1}


@pytest.mark.enable_socket
def test_a_transaction_checks_its_condition_and_writes_as_one_step(
    dynamodb: DynamoDB, monkeypatch: pytest.MonkeyPatch, patched: None
) -> None:
    outcomes = race_for_the_last_unit(dynamodb, monkeypatch)

    assert outcomes == ["reserved", "['None', 'ConditionalCheckFailed']"]
    client = dynamodb()
    assert stock_of(client, "X") == {"available": 0, "reserved": 1}
    assert reservations(client) == {"o-1"}


@pytest.mark.enable_socket
def test_a_write_during_a_transactions_table_copy_is_a_server_error_on_unpatched_moto(
    dynamodb: DynamoDB, monkeypatch: pytest.MonkeyPatch, unpatched: None
) -> None:
    outcomes = put_during_a_table_copy(dynamodb, monkeypatch)

    # "RuntimeError: dictionary changed size during iteration" while copying the stock table.
    assert outcomes == ["HTTP 500", "put"]


@pytest.mark.enable_socket
def test_a_write_during_a_transaction_waits_for_it(
    dynamodb: DynamoDB, monkeypatch: pytest.MonkeyPatch, patched: None
) -> None:
    outcomes = put_during_a_table_copy(dynamodb, monkeypatch)

    assert outcomes == ["reserved", "put"]
    client = dynamodb()
    assert stock_of(client, "X") == {"available": 0, "reserved": 1}
    assert stock_of(client, "Y") == {"available": 5, "reserved": 0}


@pytest.mark.enable_socket
def test_a_transaction_whose_write_fails_puts_back_only_what_it_wrote(
    dynamodb: DynamoDB, patched: None
) -> None:
    # Not a moto gap (moto restores whole tables): the fix's own rollback, for a write that fails
    # after its condition passed and the entries before it were written.
    client = dynamodb()
    client.update_table(
        TableName=STOCK, StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"}
    )
    put_stock(client, "A", 3)
    client.put_item(TableName=STOCK, Item={"sku": {"S": "B"}, "available": {"S": "not a number"}})

    with pytest.raises(ClientError) as failed:
        client.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": STOCK, "Item": {"sku": {"S": "A"}, "available": {"N": "99"}}}},
                {"Put": {"TableName": RESERVATIONS, "Item": {"orderId": {"S": "o-1"}}}},
                {
                    "Update": {
                        "TableName": STOCK,
                        "Key": {"sku": {"S": "B"}},
                        "UpdateExpression": "SET available = available - :one",
                        "ConditionExpression": "attribute_exists(available)",
                        "ExpressionAttributeValues": {":one": {"N": "1"}},
                    }
                },
            ]
        )

    assert failed.value.response["Error"]["Code"] == "ValidationException"
    assert stock_of(client, "A") == {"available": 3, "reserved": 0}
    assert reservations(client) == set()
    streams = boto3.client(
        "dynamodbstreams",
        endpoint_url=client.meta.endpoint_url,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    stream_arn = client.describe_table(TableName=STOCK)["Table"]["LatestStreamArn"]
    shard = streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"][0]["ShardId"]
    iterator = streams.get_shard_iterator(
        StreamArn=stream_arn, ShardId=shard, ShardIteratorType="TRIM_HORIZON"
    )
    records = streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]
    assert [record["eventName"] for record in records] == ["INSERT", "INSERT"]


def race_round(clients: list[Any], round_: int) -> list[str]:
    """Two reservations of X, released at the same instant."""
    start_together = threading.Barrier(2)

    def reserve(racer: int) -> str:
        start_together.wait()
        return reserve_one(clients[racer], f"o-{round_}-{racer}", "X")

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        return list(pool.map(reserve, range(2)))


@pytest.mark.enable_socket
def test_racing_reservations_of_the_last_unit_never_both_succeed(
    dynamodb: DynamoDB, busy_switching: None, patched: None
) -> None:
    client = dynamodb()
    clients = [dynamodb(), dynamodb()]
    broken = []
    for round_ in range(100):
        put_stock(client, "X", 1)
        outcomes = race_round(clients, round_)
        taken = {f"o-{round_}-{racer}" for racer in range(2) if outcomes[racer] == "reserved"}
        stock = stock_of(client, "X")
        stored = {order for order in reservations(client) if order.startswith(f"o-{round_}-")}
        if len(taken) != 1 or stock != {"available": 0, "reserved": 1} or stored != taken:
            broken.append((round_, outcomes, stock, sorted(stored)))

    assert broken == []


@pytest.mark.enable_socket
def test_concurrent_transactions_and_scans_never_fail(
    dynamodb: DynamoDB, busy_switching: None, patched: None
) -> None:
    writers, orders_each, units = 8, 25, 150
    put_stock(dynamodb(), "X", units)
    done = threading.Event()
    scan_failures: list[str] = []

    def reserve(writer: int) -> list[str]:
        client = dynamodb()
        return [reserve_one(client, f"o-{writer}-{n}", "X") for n in range(orders_each)]

    def scan() -> int:
        client = dynamodb()
        scans = 0
        while not done.is_set():
            for table in (RESERVATIONS, STOCK):
                try:
                    client.scan(TableName=table)
                except ClientError as error:
                    scan_failures.append(str(error))
                scans += 1
        return scans

    with concurrent.futures.ThreadPoolExecutor(writers + 2) as pool:
        scanners = [pool.submit(scan) for _ in range(2)]
        outcomes = list(itertools.chain.from_iterable(pool.map(reserve, range(writers))))
        done.set()
        assert all(scanner.result(timeout=10) > 0 for scanner in scanners)

    client = dynamodb()
    out_of_stock = "['None', 'ConditionalCheckFailed']"
    assert scan_failures == []
    assert {outcome for outcome in outcomes} <= {"reserved", out_of_stock}, set(outcomes)
    assert outcomes.count("reserved") == units
    assert stock_of(client, "X") == {"available": 0, "reserved": units}
    assert len(reservations(client)) == units


# ---------------------------------------------------------------------------------------------
# Time scale
# ---------------------------------------------------------------------------------------------


def test_time_scale_shortens_retry_and_wait_state_and_execution_timeout(aws: Aws, patched: None) -> None:
    # Unscaled: a 10 s Wait, 5 + 10 + 20 s of retries, then a 100 s execution timeout.
    definition = {
        "TimeoutSeconds": 100,
        "StartAt": "Pause",
        "States": {
            "Pause": {"Type": "Wait", "Seconds": 10, "Next": "Flaky"},
            "Flaky": {
                "Type": "Parallel",
                "Branches": [{"StartAt": "Boom", "States": {"Boom": {"Type": "Fail", "Error": "Boom"}}}],
                "Retry": [
                    {"ErrorEquals": ["Boom"], "IntervalSeconds": 5, "MaxAttempts": 3, "BackoffRate": 2}
                ],
                "Catch": [{"ErrorEquals": ["Boom"], "Next": "Hang"}],
                "Next": "Hang",
            },
            "Hang": {"Type": "Wait", "Seconds": 100000, "End": True},
        },
    }
    # Timed from the start of the execution: the first parse of a definition warms moto up for ~1 s.
    execution_arn = start(aws, definition)
    started = time.monotonic()
    description = wait_for_end(aws, execution_arn)
    elapsed = time.monotonic() - started

    assert description["status"] == "TIMED_OUT"
    assert elapsed < 3.0
    execution_started, timed_out = (
        events_of(aws, execution_arn, event_type)[0]["timestamp"]
        for event_type in ("ExecutionStarted", "ExecutionTimedOut")
    )
    assert 0.9 <= (timed_out - execution_started).total_seconds() < 3.0
    # The 10 s Wait and 35 s of retries fitted inside the 1 s the execution was given.
    entered = [
        e["stateEnteredEventDetails"]["name"] for e in events_of(aws, execution_arn, "WaitStateEntered")
    ]
    assert entered == ["Pause", "Hang"]
    attempts = [e["timestamp"] for e in events_of(aws, execution_arn, "ParallelStateStarted")]
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(attempts)]
    assert len(gaps) == 3
    # 0.05, 0.1 and 0.2 s scaled; loose bounds against a busy machine.
    assert all(0.03 <= gap < 1.0 for gap in gaps), gaps
    assert gaps[2] > gaps[0]


def test_time_scale_shortens_task_timeout_but_history_keeps_the_declared_values(
    aws: Aws, patched: None
) -> None:
    execution_arn = start(aws, saga(pay_state(TimeoutSeconds=50, HeartbeatSeconds=40)))
    started = time.monotonic()
    command = next_command(aws)
    assert command is not None
    keep_alive_until_done(aws, execution_arn, command["taskToken"])
    elapsed = time.monotonic() - started

    assert wait_for_end(aws, execution_arn)["error"] == "States.Timeout"
    assert elapsed < 3.0
    (scheduled,) = events_of(aws, execution_arn, "TaskScheduled")
    details = scheduled["taskScheduledEventDetails"]
    assert (details["timeoutInSeconds"], details["heartbeatInSeconds"]) == (50, 40)


def test_apply_again_changes_only_the_scale(aws: Aws, patched: None) -> None:
    moto_compat.apply(time_scale=0.002)
    execution_arn = start(aws, saga(pay_state(TimeoutSeconds=100)))
    wait_for_end(aws, execution_arn)

    submitted, timed_out = (
        events_of(aws, execution_arn, event_type)[0]["timestamp"]
        for event_type in ("TaskSubmitted", "TaskTimedOut")
    )
    # 0.2 s at the new scale; 1 s at the fixture's 0.01.
    assert (timed_out - submitted).total_seconds() < 0.8


# ---------------------------------------------------------------------------------------------
# apply / revert mechanics
# ---------------------------------------------------------------------------------------------


def test_apply_is_idempotent_and_revert_restores_moto_exactly(unpatched: None) -> None:
    moto_compat.apply(time_scale=SCALE)
    seams = [
        (owner, attribute)
        for fix in (*moto_compat.FIXES, moto_compat._TIME_SCALE)
        for owner, attribute, _ in fix._saved
    ]
    moto_compat.revert()
    stock = {seam: seam[0].__dict__.get(seam[1]) for seam in seams}

    moto_compat.apply(time_scale=SCALE)
    patched_seams = {seam: seam[0].__dict__.get(seam[1]) for seam in seams}
    moto_compat.apply(time_scale=0.5)
    assert {seam: seam[0].__dict__.get(seam[1]) for seam in seams} == patched_seams
    assert all(patched_seams[seam] is not stock[seam] for seam in seams)

    moto_compat.revert()
    assert {seam: seam[0].__dict__.get(seam[1]) for seam in seams} == stock
    assert not any(fix.applied for fix in moto_compat.FIXES)
    assert _CLOCK.scale == 1.0


def test_every_fix_documents_gap_aws_behaviour_and_when_to_drop() -> None:
    assert [fix.name for fix in moto_compat.FIXES] == [
        "FreshTaskTokenPerAttempt",
        "HeartbeatTimeoutErrorName",
        "StopExecutionWhileWaiting",
        "SendTaskFailureKeepsCause",
        "FirstTaskAnswerWins",
        "HeartbeatEndpointBeforePublish",
        "DeliveredEventsCarryAccount",
        "ExecutionStatusChangeEvents",
        "ExecutionTimeoutRecordedAtOnce",
        "RedriveExecution",
        "ScheduleOnlyRulesMatchNoEvents",
        "AtomicDynamoDBWrites",
        "ConfigurationSetEventDestinations",
        "EmailSentEvents",
    ]
    for fix in moto_compat.FIXES:
        doc = type(fix).__doc__ or ""
        for section in ("moto gap:", "AWS:", "Drop when"):
            assert section in doc, f"{fix.name} does not document {section!r}"


def test_apply_refuses_another_moto_release(monkeypatch: pytest.MonkeyPatch, unpatched: None) -> None:
    monkeypatch.setattr(moto, "__version__", "5.2.6")

    with pytest.raises(moto_compat.UnsupportedMotoVersion, match=r"5\.2\.5"):
        moto_compat.apply()
    assert not any(fix.applied for fix in moto_compat.FIXES)


def test_apply_rejects_a_non_positive_scale(unpatched: None) -> None:
    with pytest.raises(ValueError, match="time_scale"):
        moto_compat.apply(time_scale=0)
