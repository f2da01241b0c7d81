"""The poller plays Lambda's SQS event source mapping: partial failures stay, the rest is deleted."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from orderflow_local.lambda_runtime import FunctionError
from orderflow_local.resources import EventSourceSpec
from orderflow_local.sqs_poller import SqsPoller


class RecordingFunction:
    """Stands in for a LocalFunction: answers with what the test decides, remembers the events."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.events: list[dict[str, Any]] = []

    def invoke(self, event: dict[str, Any]) -> Any:
        self.events.append(event)
        return self.answer(event) if callable(self.answer) else self.answer


@pytest.fixture
def sqs(fake_aws: None) -> Any:
    return boto3.client("sqs", region_name="us-east-1")


@pytest.fixture
def queues(sqs: Any) -> tuple[str, str]:
    dlq = sqs.create_queue(QueueName="dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue = sqs.create_queue(
        QueueName="work",
        Attributes={
            "VisibilityTimeout": "100",
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}),
        },
    )["QueueUrl"]
    return queue, dlq


def poller(
    sqs: Any,
    queue: str,
    function: Any,
    report_failures: bool = True,
    window: int = 0,
    time_scale: float = 0.0,
) -> SqsPoller:
    source = EventSourceSpec(
        logical_id="Work",
        function_logical_id="Fn",
        queue_arn="arn:aws:sqs:us-east-1:123456789012:work",
        batch_size=10,
        report_batch_item_failures=report_failures,
        enabled=True,
        maximum_batching_window_seconds=window,
    )
    # A time scale of 0 makes a kept message visible again at once, so the test need not wait; a
    # receive of an empty queue returns after a second.
    return SqsPoller(source, queue, function, sqs, time_scale=time_scale, wait_seconds=1)


def count(sqs: Any, url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def test_the_function_gets_the_lambda_sqs_event(sqs: Any, queues: tuple[str, str]) -> None:
    queue, _ = queues
    sqs.send_message(QueueUrl=queue, MessageBody='{"a": 1}')
    function = RecordingFunction({"batchItemFailures": []})
    assert poller(sqs, queue, function).poll_once() == 1
    (record,) = function.events[0]["Records"]
    assert record["body"] == '{"a": 1}'
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"].endswith(":work")
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    assert {"messageId", "receiptHandle", "md5OfBody", "awsRegion", "messageAttributes"} <= set(record)
    assert count(sqs, queue) == 0


def test_only_the_reported_failures_stay_on_the_queue(sqs: Any, queues: tuple[str, str]) -> None:
    queue, _ = queues
    for body in ("ok-1", "bad", "ok-2"):
        sqs.send_message(QueueUrl=queue, MessageBody=body)

    def fail_bad(event: dict[str, Any]) -> dict[str, Any]:
        return {
            "batchItemFailures": [
                {"itemIdentifier": r["messageId"]} for r in event["Records"] if r["body"] == "bad"
            ]
        }

    p = poller(sqs, queue, RecordingFunction(fail_bad))
    while count(sqs, queue) == 3:
        p.poll_once()
    assert count(sqs, queue) == 1
    (left,) = sqs.receive_message(QueueUrl=queue)["Messages"]
    assert left["Body"] == "bad"


def test_a_function_error_keeps_the_whole_batch_and_it_ends_in_the_dlq(
    sqs: Any, queues: tuple[str, str]
) -> None:
    queue, dlq = queues

    def crash(event: dict[str, Any]) -> None:
        raise FunctionError("boom")

    sqs.send_message(QueueUrl=queue, MessageBody="poison")
    p = poller(sqs, queue, RecordingFunction(crash))
    for _ in range(3):  # maxReceiveCount 2: the third receive moves it to the DLQ
        p.poll_once()
    assert count(sqs, queue) == 0
    assert count(sqs, dlq) == 1


def test_an_unreadable_response_fails_the_whole_batch(sqs: Any, queues: tuple[str, str]) -> None:
    queue, _ = queues
    sqs.send_message(QueueUrl=queue, MessageBody="x")
    poller(
        sqs, queue, RecordingFunction({"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]})
    ).poll_once()
    assert count(sqs, queue) == 1


def test_without_report_batch_item_failures_a_normal_return_deletes_everything(
    sqs: Any, queues: tuple[str, str]
) -> None:
    queue, _ = queues
    sqs.send_message(QueueUrl=queue, MessageBody="x")
    poller(sqs, queue, RecordingFunction({"batchItemFailures": [{"itemIdentifier": "x"}]}), False).poll_once()
    assert count(sqs, queue) == 0


# --- the batching window ------------------------------------------------------------------------


class CallLog:
    """Stands in for the SQS client: passes every call on, and records it once it has answered."""

    def __init__(self, sqs: Any) -> None:
        self._sqs = sqs
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._sqs, name)

        def call(**kwargs: Any) -> Any:
            answer = method(**kwargs)
            self.calls.append((name, kwargs))
            return answer

        return call

    def receives(self) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs in self.calls if name == "receive_message"]

    def count(self, name: str) -> int:
        return sum(called == name for called, _ in self.calls)


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def poll_in_background(p: SqsPoller) -> tuple[threading.Thread, list[int]]:
    polled: list[int] = []
    thread = threading.Thread(target=lambda: polled.append(p.poll_once()), daemon=True)
    thread.start()
    return thread, polled


def finish(thread: threading.Thread, p: SqsPoller, timeout: float) -> None:
    """Fails, rather than hangs, when the poll has not ended in time."""
    thread.join(timeout)
    if thread.is_alive():
        p.request_stop()  # ends the gathering, so the thread does not outlive the test for long
        pytest.fail(f"the poll was still gathering after {timeout} s")


def bodies(function: RecordingFunction) -> list[list[str]]:
    return [sorted(record["body"] for record in event["Records"]) for event in function.events]


def send(sqs: Any, queue: str, *messages: str) -> None:
    for body in messages:
        sqs.send_message(QueueUrl=queue, MessageBody=body)


def test_with_a_batching_window_messages_sent_a_little_apart_reach_the_function_in_one_invocation(
    sqs: Any, queues: tuple[str, str]
) -> None:
    queue, _ = queues
    calls = CallLog(sqs)
    function = RecordingFunction({"batchItemFailures": []})
    p = poller(calls, queue, function, window=10, time_scale=0.2)  # a 2 s window once scaled
    send(sqs, queue, "first")
    thread, polled = poll_in_background(p)
    wait_for(lambda: len(calls.receives()) >= 1)  # the batch has begun
    for body in ("second", "third"):
        time.sleep(0.2)
        send(sqs, queue, body)
    finish(thread, p, timeout=8)  # unscaled, the window alone would be 10 s
    assert polled == [3]
    assert bodies(function) == [["first", "second", "third"]]
    assert calls.count("delete_message_batch") == 1
    assert count(sqs, queue) == 0
    # SQS long-polls in whole seconds, at most 20.
    assert all(
        type(r["WaitTimeSeconds"]) is int and 0 <= r["WaitTimeSeconds"] <= 20 for r in calls.receives()
    )


def test_a_batch_that_fills_up_is_invoked_without_waiting_for_the_window(
    sqs: Any, queues: tuple[str, str]
) -> None:
    queue, _ = queues
    calls = CallLog(sqs)
    function = RecordingFunction({"batchItemFailures": []})
    p = poller(calls, queue, function, window=300, time_scale=1.0)

    send(sqs, queue, *(f"a{n}" for n in range(4)))
    thread, polled = poll_in_background(p)
    wait_for(lambda: len(calls.receives()) >= 1)
    send(sqs, queue, *(f"a{n}" for n in range(4, 10)))
    finish(thread, p, timeout=15)  # the window is 300 s
    assert polled == [10]
    assert [len(event["Records"]) for event in function.events] == [10]

    # Full at the first receive: nothing more is asked for.
    send(sqs, queue, *(f"b{n}" for n in range(10)))
    receives_before = len(calls.receives())
    thread, polled = poll_in_background(p)
    finish(thread, p, timeout=15)
    assert polled == [10]
    assert [len(event["Records"]) for event in function.events] == [10, 10]
    assert len(calls.receives()) == receives_before + 1
    assert calls.count("delete_message_batch") == 2
    assert count(sqs, queue) == 0


@pytest.mark.parametrize(("window", "time_scale"), [(0, 1.0), (5, 0.0)])
def test_without_a_window_each_receive_is_one_invocation(
    sqs: Any, queues: tuple[str, str], window: int, time_scale: float
) -> None:
    queue, _ = queues
    calls = CallLog(sqs)
    function = RecordingFunction({"batchItemFailures": []})
    p = poller(calls, queue, function, window=window, time_scale=time_scale)
    send(sqs, queue, "first")
    assert p.poll_once() == 1
    send(sqs, queue, "second")
    assert p.poll_once() == 1
    assert bodies(function) == [["first"], ["second"]]
    receive = {
        "QueueUrl": queue,
        "MaxNumberOfMessages": 10,
        "WaitTimeSeconds": 1,
        "MessageSystemAttributeNames": ["All"],
        "MessageAttributeNames": ["All"],
    }
    assert calls.receives() == [receive, receive]


def test_a_stop_during_the_window_delivers_what_was_gathered_at_once(
    sqs: Any, queues: tuple[str, str]
) -> None:
    queue, _ = queues
    calls = CallLog(sqs)
    function = RecordingFunction({"batchItemFailures": []})
    p = poller(calls, queue, function, window=300, time_scale=1.0)
    send(sqs, queue, "only")
    thread, polled = poll_in_background(p)
    wait_for(lambda: len(calls.receives()) >= 1)
    p.request_stop()
    finish(thread, p, timeout=5)  # the window is 300 s
    assert polled == [1]
    assert bodies(function) == [["only"]]
    assert count(sqs, queue) == 0
