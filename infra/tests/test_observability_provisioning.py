"""Each stack's alarm topic, its optional subscription and its dashboards are created locally from the
templates (the alarms are accepted without effect: moto evaluates none)."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest

from orderflow_local.provisioner import DeployedStack, Provisioner
from orderflow_local.stacks import STACKS, LocalEndpoints

REPO = Path(__file__).resolve().parents[2]
SERVICES = ["orders", "inventory", "payments", "invoicing", "notifications"]


def deploy(provisioner: Provisioner, service: str, **parameters: str) -> DeployedStack:
    (definition,) = [stack for stack in STACKS if stack.name == f"orderflow-{service}"]
    local = definition.parameters(LocalEndpoints("http://127.0.0.1:1"))
    return provisioner.deploy(definition.name, REPO / definition.template, {**local, **parameters})


def topic_arns() -> list[str]:
    return [
        topic["TopicArn"] for topic in boto3.client("sns", region_name="us-east-1").list_topics()["Topics"]
    ]


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_gets_its_alarm_topic_under_its_key_and_its_dashboard(
    provisioner: Provisioner, infra: DeployedStack, service: str
) -> None:
    stack = deploy(provisioner, service)

    sns = boto3.client("sns", region_name="us-east-1")
    [topic] = [arn for arn in topic_arns() if arn.endswith(f":orderflow-{service}-alarms")]
    attributes = sns.get_topic_attributes(TopicArn=topic)["Attributes"]
    key = boto3.client("kms", region_name="us-east-1").describe_key(KeyId=attributes["KmsMasterKeyId"])
    assert key["KeyMetadata"]["Description"].startswith(f"orderflow {service} data at rest")
    # No AlarmEmail locally: the subscription's condition leaves it out.
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []

    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    body = json.loads(cloudwatch.get_dashboard(DashboardName=f"orderflow-{service}-service")["DashboardBody"])
    names = json.dumps(body)
    assert "${" not in names, "every name in the dashboard is resolved"
    # Every function of the stack is on it, by the name it was deployed with.
    for function in stack.functions.values():
        assert f'"{function.name}"' in names


def test_the_order_flow_dashboard_shows_every_steps_latency_and_the_saga(
    provisioner: Provisioner, infra: DeployedStack
) -> None:
    deploy(provisioner, "orders")
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    body = json.loads(cloudwatch.get_dashboard(DashboardName="orderflow-orders-order-flow")["DashboardBody"])
    metrics = [metric for widget in body["widgets"] for metric in widget["properties"]["metrics"]]
    steps = {(metric[1], metric[3]) for metric in metrics if metric[1].endswith("StepSeconds")}
    assert steps == {
        ("ReserveStockStepSeconds", "inventory"),
        ("ProcessPaymentStepSeconds", "payments"),
        ("GenerateInvoiceStepSeconds", "invoicing"),
        ("SendConfirmationStepSeconds", "notifications"),
    }
    machines = boto3.client("stepfunctions", region_name="us-east-1").list_state_machines()["stateMachines"]
    [saga] = [
        machine["stateMachineArn"] for machine in machines if machine["name"].startswith("orderflow-orders-")
    ]
    assert ["AWS/States", "ExecutionsFailed", "StateMachineArn", saga] in metrics


def test_an_alarm_email_subscribes_the_team_to_the_topic(
    provisioner: Provisioner, infra: DeployedStack
) -> None:
    deploy(provisioner, "payments", AlarmEmail="payments-team@example.com")
    sns = boto3.client("sns", region_name="us-east-1")
    [topic] = [arn for arn in topic_arns() if arn.endswith(":orderflow-payments-alarms")]
    [subscription] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert (subscription["Protocol"], subscription["Endpoint"]) == ("email", "payments-team@example.com")


def test_infra_gets_the_platform_alarm_topic(infra: DeployedStack) -> None:
    assert [arn for arn in topic_arns() if arn.endswith(":orderflow-infra-alarms")]
