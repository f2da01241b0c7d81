"""The local AWS in a process of its own: it serves moto (with the fixes) and counts what it served."""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest

from orderflow_local.aws_server import CallCounts, LocalAwsServer, observer_client
from orderflow_local.launcher import free_port
from orderflow_local.settings import local_client

pytestmark = [pytest.mark.enable_socket, pytest.mark.timeout(120)]


@pytest.fixture(scope="module")
def server() -> Iterator[LocalAwsServer]:
    aws = LocalAwsServer("127.0.0.1", free_port())
    aws.start()
    yield aws
    aws.stop()


def test_it_serves_moto_from_another_process_with_execution_switched_on(server: LocalAwsServer) -> None:
    sfn = local_client("stepfunctions", server.endpoint)
    machine = sfn.create_state_machine(
        name="pass",
        definition=json.dumps({"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}),
        roleArn="arn:aws:iam::123456789012:role/r",
    )["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, name="e-1")["executionArn"]

    deadline = time.monotonic() + 10
    while sfn.describe_execution(executionArn=execution)["status"] == "RUNNING":
        assert time.monotonic() < deadline
        time.sleep(0.05)

    assert sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED"
    assert server.pid is not None
    assert server.pid != os.getpid()


def test_it_counts_calls_by_api_with_what_a_bill_is_made_of(server: LocalAwsServer) -> None:
    sqs = local_client("sqs", server.endpoint)
    events = local_client("events", server.endpoint)
    dynamodb = local_client("dynamodb", server.endpoint)
    queue_url = sqs.create_queue(QueueName="counted")["QueueUrl"]
    dynamodb.create_table(
        TableName="counted",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    before = server.call_counts()

    sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)  # empty
    sqs.send_message(QueueUrl=queue_url, MessageBody="x")
    sqs.receive_message(QueueUrl=queue_url, WaitTimeSeconds=0)  # one message
    entries = [{"Source": "t", "DetailType": "D", "Detail": "{}"} for _ in range(3)]
    events.put_events(Entries=entries)
    dynamodb.put_item(TableName="counted", Item={"pk": {"S": "a"}, "blob": {"S": "x" * 1500}})
    dynamodb.get_item(TableName="counted", Key={"pk": {"S": "a"}})
    dynamodb.get_item(TableName="counted", Key={"pk": {"S": "a"}}, ConsistentRead=True)
    counted = server.call_counts() - before

    assert counted.calls == Counter(
        {
            "sqs:ReceiveMessage": 2,
            "sqs:SendMessage": 1,
            "events:PutEvents": 1,
            "dynamodb:PutItem": 1,
            "dynamodb:GetItem": 2,
        }
    )
    assert counted.empty_receives == 1
    assert counted.put_events_entries == 3
    # A 1.5 KB item: two write units; an eventually consistent read half a unit, a strong one one.
    assert counted.write_units == 2.0
    assert counted.read_units == 1.5
    assert counted.write_units_by_table == {"counted": 2.0}


def test_each_message_a_rule_delivers_to_a_queue_is_counted(server: LocalAwsServer) -> None:
    sqs = local_client("sqs", server.endpoint)
    events = local_client("events", server.endpoint)
    queues = [sqs.create_queue(QueueName=f"delivered-{n}")["QueueUrl"] for n in (1, 2)]
    arns = [sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"]) for url in queues]
    events.put_rule(Name="to-queues", EventPattern=json.dumps({"source": ["delivered"]}))
    events.put_targets(
        Rule="to-queues",
        Targets=[{"Id": str(n), "Arn": arn["Attributes"]["QueueArn"]} for n, arn in enumerate(arns)],
    )
    before = server.call_counts()

    matching = {"Source": "delivered", "DetailType": "D", "Detail": "{}"}
    other = {"Source": "elsewhere", "DetailType": "D", "Detail": "{}"}
    events.put_events(Entries=[matching, matching, other])
    counted = server.call_counts() - before

    # Two matching events, each to two queues; no SendMessage call went through the API.
    assert counted.queue_deliveries == 4
    assert counted.calls == Counter({"events:PutEvents": 1})
    assert (
        sum(
            len(sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []))
            for url in queues
        )
        == 4
    )


def test_a_write_is_sized_by_the_item_it_rewrites_and_the_index_entries_it_changes(
    server: LocalAwsServer,
) -> None:
    dynamodb = local_client("dynamodb", server.endpoint)
    dynamodb.create_table(
        TableName="sized",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "pending", "AttributeType": "S"},
        ],
        GlobalSecondaryIndexes=[
            {
                "IndexName": "Pending",
                "KeySchema": [{"AttributeName": "pending", "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    key = {"pk": {"S": "a"}}

    def units(call: Callable[[], object]) -> tuple[float, float]:
        before = server.call_counts()
        call()
        counted = server.call_counts() - before
        return counted.write_units, counted.read_units

    # 2.5 KB with an index entry: three units for the item, one for the entry.
    put = {**key, "blob": {"S": "x" * 2500}, "pending": {"S": "1"}}
    assert units(lambda: dynamodb.put_item(TableName="sized", Item=put)) == (4.0, 0.0)
    # A small update of a big item pays for the item, not the request; the entry is untouched.
    small = {"TableName": "sized", "Key": key, "UpdateExpression": "SET n = :n"}
    assert units(lambda: dynamodb.update_item(**small, ExpressionAttributeValues={":n": {"N": "1"}})) == (
        3.0,
        0.0,
    )
    # Removing the index key deletes the entry: one unit more.
    remove = {"TableName": "sized", "Key": key, "UpdateExpression": "REMOVE pending"}
    assert units(lambda: dynamodb.update_item(**remove)) == (4.0, 0.0)
    # A transaction pays twice; a failed conditional write still pays for the item.
    transaction = [{"Update": {**small, "ExpressionAttributeValues": {":n": {"N": "2"}}}}]
    assert units(lambda: dynamodb.transact_write_items(TransactItems=transaction)) == (6.0, 0.0)
    refused = {**small, "ConditionExpression": "attribute_not_exists(pk)"}

    def refused_update() -> None:
        with pytest.raises(dynamodb.exceptions.ConditionalCheckFailedException):
            dynamodb.update_item(**refused, ExpressionAttributeValues={":n": {"N": "3"}})

    assert units(refused_update) == (3.0, 0.0)
    # A strong read of the 2.5 KB item: one unit (4 KB each).
    assert units(lambda: dynamodb.get_item(TableName="sized", Key=key, ConsistentRead=True)) == (0.0, 1.0)


def test_the_observers_calls_are_served_but_not_counted(server: LocalAwsServer) -> None:
    dynamodb = local_client("dynamodb", server.endpoint)
    dynamodb.create_table(
        TableName="watched",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName="watched", Item={"pk": {"S": "a"}})
    observer = observer_client("dynamodb", server.endpoint)
    before = server.call_counts()

    item = observer.get_item(TableName="watched", Key={"pk": {"S": "a"}}, ConsistentRead=True)["Item"]
    dynamodb.get_item(TableName="watched", Key={"pk": {"S": "a"}})
    counted = server.call_counts() - before

    assert item == {"pk": {"S": "a"}}
    assert counted.calls == Counter({"dynamodb:GetItem": 1})
    assert counted.read_units == 0.5


def test_counts_subtract_to_the_calls_between_two_readings() -> None:
    earlier = CallCounts(
        Counter({"sqs:SendMessage": 2}), put_events_entries=1, read_units_by_table={"t": 0.5}
    )
    later = CallCounts(
        Counter({"sqs:SendMessage": 5, "events:PutEvents": 1}),
        put_events_entries=4,
        read_units_by_table={"t": 2.0, "u": 1.0},
    )

    between = later - earlier

    assert between.calls == Counter({"sqs:SendMessage": 3, "events:PutEvents": 1})
    assert (between.put_events_entries, between.read_units) == (3, 2.5)
    assert between.read_units_by_table == {"t": 1.5, "u": 1.0}
    assert CallCounts.from_json(between.to_json()) == between
