"""A local redeploy updates a stack in place, as a CloudFormation stack update does
(``Provisioner.update``): new resources are created, changed ones updated, removed ones deleted, and
the rest kept with what they hold; a change that would replace a resource is refused up front.
And a retired function hands every later invocation to its successor (``LocalFunction.retire``)."""

from __future__ import annotations

import json
import shutil
import textwrap
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml

from orderflow_local.intrinsics import TemplateError
from orderflow_local.lambda_runtime import FunctionError, LocalFunction
from orderflow_local.provisioner import DeployedStack, Provisioner
from orderflow_local.resources import FunctionSpec
from orderflow_local.stacks import STACKS, LocalEndpoints

REPO_ROOT = Path(__file__).resolve().parents[2]


def _template(
    visibility: int = 30, pattern_source: str = "orderflow.orders", extra_queue: bool = False, key: str = "pk"
) -> dict[str, Any]:
    resources: dict[str, Any] = {
        "Table": {
            "Type": "AWS::DynamoDB::Table",
            "Properties": {
                "BillingMode": "PAY_PER_REQUEST",
                "AttributeDefinitions": [{"AttributeName": key, "AttributeType": "S"}],
                "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
            },
        },
        "Queue": {"Type": "AWS::SQS::Queue", "Properties": {"VisibilityTimeout": visibility}},
        "Rule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "EventPattern": {"source": [pattern_source]},
                "Targets": [
                    {"Id": "queue", "Arn": {"Fn::GetAtt": ["Queue", "Arn"]}},
                    *([{"Id": "extra", "Arn": {"Fn::GetAtt": ["ExtraQueue", "Arn"]}}] if extra_queue else []),
                ],
            },
        },
    }
    if extra_queue:
        resources["ExtraQueue"] = {"Type": "AWS::SQS::Queue", "Properties": {}}
    return {"Resources": resources}


def _write(path: Path, template: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(template))
    return path


def _queue_url(stack: DeployedStack, logical_id: str) -> str:
    return stack.physical_id(logical_id)


def test_an_update_creates_updates_and_deletes_and_keeps_what_tables_and_queues_hold(
    provisioner: Provisioner, tmp_path: Path
) -> None:
    template = tmp_path / "template.yaml"
    first = provisioner.deploy("orderflow-probe", _write(template, _template(extra_queue=True)), {})
    dynamodb, sqs, events = boto3.client("dynamodb"), boto3.client("sqs"), boto3.client("events")
    dynamodb.put_item(TableName=first.physical_id("Table"), Item={"pk": {"S": "kept"}})
    sqs.send_message(QueueUrl=_queue_url(first, "Queue"), MessageBody="waiting")
    extra_url = _queue_url(first, "ExtraQueue")

    second, changes = provisioner.update(
        first, _write(template, _template(visibility=90, pattern_source="orderflow.inventory")), {}
    )

    assert changes.summary() == {
        "created": [],
        "updated": ["Queue", "Rule"],
        "deleted": ["ExtraQueue"],
        "kept": ["Table"],
    }
    # Kept: the table's items and the queue's messages (the queue was updated in place, not replaced).
    assert dynamodb.get_item(TableName=second.physical_id("Table"), Key={"pk": {"S": "kept"}})["Item"]
    url = _queue_url(second, "Queue")
    assert url == _queue_url(first, "Queue")
    assert sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"] == {
        "VisibilityTimeout": "90"
    }
    assert [m["Body"] for m in sqs.receive_message(QueueUrl=url)["Messages"]] == ["waiting"]
    # Updated: the rule's pattern, and its target on the removed queue is gone with that queue.
    rule = second.physical_id("Rule")
    assert json.loads(events.describe_rule(Name=rule)["EventPattern"]) == {"source": ["orderflow.inventory"]}
    assert [t["Id"] for t in events.list_targets_by_rule(Rule=rule)["Targets"]] == ["queue"]
    assert extra_url not in sqs.list_queues().get("QueueUrls", [])

    third, changes = provisioner.update(
        second, _write(template, _template(visibility=90, extra_queue=True)), {}
    )

    assert changes.created == ["ExtraQueue"]
    assert sorted(t["Id"] for t in events.list_targets_by_rule(Rule=rule)["Targets"]) == ["extra", "queue"]
    assert third.properties["Queue"] == second.properties["Queue"]


def test_a_change_that_would_replace_a_resource_is_refused_before_anything_changes(
    provisioner: Provisioner, tmp_path: Path
) -> None:
    template = tmp_path / "template.yaml"
    first = provisioner.deploy("orderflow-probe", _write(template, _template()), {})

    with pytest.raises(TemplateError, match=r"Table \(AWS::DynamoDB::Table\): changing .*KeySchema"):
        provisioner.update(first, _write(template, _template(visibility=90, extra_queue=True, key="id")), {})

    sqs = boto3.client("sqs")
    queue = _queue_url(first, "Queue")
    assert sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["VisibilityTimeout"])["Attributes"] == {
        "VisibilityTimeout": "30"
    }
    assert len(sqs.list_queues()["QueueUrls"]) == 1


def test_a_service_redeployed_unchanged_keeps_every_resource_and_has_its_functions_again(
    provisioner: Provisioner, infra: DeployedStack
) -> None:
    template = REPO_ROOT / "services" / "notifications" / "template.yaml"
    first = provisioner.deploy("orderflow-notifications", template, {"LogLevel": "INFO"})

    second, changes = provisioner.update(first, template, {"LogLevel": "INFO"})

    assert changes.created == changes.updated == changes.deleted == []
    assert sorted(changes.kept) == sorted(first.resources)
    assert second.functions == first.functions
    assert second.event_sources == first.event_sources


def test_a_changed_state_machine_definition_file_updates_the_machine_in_place(
    provisioner: Provisioner, infra: DeployedStack, tmp_path: Path
) -> None:
    (definition,) = [stack for stack in STACKS if stack.name == "orderflow-orders"]
    parameters = definition.parameters(LocalEndpoints("http://127.0.0.1:1"))
    copy = tmp_path / "orders"
    shutil.copytree(
        REPO_ROOT / "services" / "orders",
        copy,
        ignore=shutil.ignore_patterns("tests", "__pycache__", ".aws-sam"),
    )
    first = provisioner.deploy(definition.name, copy / "template.yaml", parameters)
    (machine,) = first.logical_ids_of_type("AWS::StepFunctions::StateMachine")
    asl = copy / "statemachine" / "order_saga.asl.json"
    document = json.loads(asl.read_text())
    document["Comment"] = "redeployed"
    asl.write_text(json.dumps(document))

    second, changes = provisioner.update(first, copy / "template.yaml", parameters)

    assert changes.updated == [machine]  # the file changed, not the template
    assert second.physical_id(machine) == first.physical_id(machine)
    described = boto3.client("stepfunctions").describe_state_machine(
        stateMachineArn=second.physical_id(machine)
    )
    assert json.loads(described["definition"])["Comment"] == "redeployed"
    assert changes.created == changes.deleted == []


HANDLER = textwrap.dedent(
    """
    import os, time

    def handler(event, context):
        time.sleep(event.get("sleep", 0))
        return os.environ["VERSION"]
    """
)


def _function(tmp_path: Path, version: str) -> LocalFunction:
    code = tmp_path / "code"
    code.mkdir(exist_ok=True)
    (code / "versioned_handler.py").write_text(HANDLER)
    spec = FunctionSpec("Probe", "probe", "versioned_handler.handler", code, 10, 128, {})
    local = LocalFunction(spec, {"VERSION": version})
    local.start()
    local.wait_ready(timeout=60)
    return local


def test_a_retired_function_finishes_its_invocation_and_hands_every_later_one_to_its_successor(
    tmp_path: Path,
) -> None:
    old, new = _function(tmp_path, "v1"), _function(tmp_path, "v2")
    try:
        answers: list[str] = []
        in_flight = threading.Thread(target=lambda: answers.append(old.invoke({"sleep": 1})))
        in_flight.start()
        while old.pid is None or not old._lock.locked():
            pass
        old.retire(new)  # waits for the invocation in progress
        in_flight.join()

        assert answers == ["v1"]
        assert old.invoke({}) == "v2"
        assert not old._process.is_alive()
        old.retire(None)
        with pytest.raises(FunctionError, match="removed by a redeploy"):
            old.invoke({})
    finally:
        old.stop()
        new.stop()
