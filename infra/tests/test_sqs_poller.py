"""The poller plays Lambda's SQS event source mapping: partial failures stay, the rest is deleted."""

from __future__ import annotations

import json
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


def poller(sqs: Any, queue: str, function: Any, report_failures: bool = True) -> SqsPoller:
    source = EventSourceSpec(
        logical_id="Work",
        function_logical_id="Fn",
        queue_arn="arn:aws:sqs:us-east-1:123456789012:work",
        batch_size=10,
        report_batch_item_failures=report_failures,
        enabled=True,
    )
    # A time scale of 0 makes a kept message visible again at once, so the test need not wait; a
    # receive of an empty queue returns after a second.
    return SqsPoller(source, queue, function, sqs, time_scale=0.0, wait_seconds=1)


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
