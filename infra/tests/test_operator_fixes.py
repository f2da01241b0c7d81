"""The operator fixes the runbook names: a DLQ sent back to its queue, the reconciler run now."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel

from orderflow_local.operator import RECONCILER_SCHEDULE, OperatorError, redrive_dead_letters, run_reconciler


@pytest.fixture
def sqs(fake_aws: None) -> Any:
    return boto3.client("sqs", region_name="us-east-1")


def queue_with_dlq(sqs: Any, name: str) -> tuple[str, str]:
    dlq = sqs.create_queue(QueueName=f"{name}-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    source = sqs.create_queue(
        QueueName=name,
        Attributes={"RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 5})},
    )["QueueUrl"]
    return source, dlq


def drain(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    while batch := sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"], VisibilityTimeout=60
    ).get("Messages", []):
        messages += batch
    return messages


def test_a_dlqs_messages_go_back_to_their_queue_with_their_attributes(sqs: Any) -> None:
    source, dlq = queue_with_dlq(sqs, "orderflow-orders-OrderStatusQueue")
    _other_source, other_dlq = queue_with_dlq(sqs, "orderflow-orders-ExecutionStatusQueue")
    bodies = [json.dumps({"detail-type": "StockReserved", "n": n}) for n in range(13)]
    for body in bodies:
        sqs.send_message(QueueUrl=dlq, MessageBody=body)
    failed = {"ERROR_CODE": {"DataType": "String", "StringValue": "SQS.KmsAccessDenied"}}
    sqs.send_message(QueueUrl=dlq, MessageBody="undelivered", MessageAttributes=failed)
    sqs.send_message(QueueUrl=other_dlq, MessageBody="not this one")

    result = redrive_dead_letters(sqs, "orderflow-orders-OrderStatusQueue-dlq")

    assert result == {"deadLetterQueue": dlq, "sourceQueue": source, "moved": 14}
    back = drain(sqs, source)
    assert sorted(message["Body"] for message in back) == sorted([*bodies, "undelivered"])
    [undelivered] = [message for message in back if message["Body"] == "undelivered"]
    assert undelivered["MessageAttributes"]["ERROR_CODE"]["StringValue"] == "SQS.KmsAccessDenied"
    assert drain(sqs, dlq) == []
    assert [message["Body"] for message in drain(sqs, other_dlq)] == ["not this one"]


def test_a_queue_that_is_no_queues_dlq_is_refused_and_left_alone(sqs: Any) -> None:
    # A bus's dead-letter queue: EventBridge's undeliverable events have no queue to go back to.
    bus_dlq = sqs.create_queue(QueueName="orderflow-dead-letters")["QueueUrl"]
    sqs.send_message(QueueUrl=bus_dlq, MessageBody="event")
    with pytest.raises(OperatorError, match="not of one"):
        redrive_dead_letters(sqs, "orderflow-dead-letters")
    with pytest.raises(OperatorError, match="no queue named"):
        redrive_dead_letters(sqs, "no-such-queue")
    assert [message["Body"] for message in drain(sqs, bus_dlq)] == ["event"]


def test_reconcile_sends_the_reconcilers_schedule_event_to_its_queue_now(sqs: Any) -> None:
    events = boto3.client("events", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="orderflow-payments-ReconcilePaymentsQueue")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    other = sqs.create_queue(QueueName="orderflow-orders-StartPendingSagasQueue")["QueueUrl"]
    other_arn = sqs.get_queue_attributes(QueueUrl=other, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    for name, target in (
        (RECONCILER_SCHEDULE, arn),
        ("orderflow-orders-StartPendingSagasSchedule", other_arn),
    ):
        events.put_rule(Name=name, ScheduleExpression="rate(5 minutes)", State="ENABLED")
        events.put_targets(Rule=name, Targets=[{"Id": "queue", "Arn": target}])

    result = run_reconciler(events, sqs)

    [message] = drain(sqs, queue)
    tick = EventBridgeModel.model_validate_json(message["Body"])
    # What the reconciler's handler accepts (payments.handlers.reconcile_payments).
    assert (tick.source, tick.detail_type) == ("aws.events", "Scheduled Event")
    assert tick.resources == [f"arn:aws:events:us-east-1:123456789012:rule/{RECONCILER_SCHEDULE}"]
    assert result["eventId"] == tick.id
    assert drain(sqs, other) == []


def test_reconcile_without_the_payments_stack_says_so(sqs: Any) -> None:
    with pytest.raises(OperatorError, match="is the system running"):
        run_reconciler(boto3.client("events", region_name="us-east-1"), sqs)
