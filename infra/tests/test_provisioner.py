"""Deploying the real templates into moto (in-process) gives the resources the templates declare."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from orderflow_local.intrinsics import TemplateError
from orderflow_local.provisioner import DeployedStack, Provisioner, creation_order
from orderflow_local.stacks import INFRA_STACK, STACKS, LocalEndpoints

REPO = Path(__file__).resolve().parents[2]
SERVICES = ["orders", "inventory", "payments", "invoicing", "notifications"]


def deploy(provisioner: Provisioner, infra: DeployedStack, service: str, **parameters: str) -> DeployedStack:
    """A service's stack with the parameters the local runtime gives it (stacks.STACKS), once infra has
    published what the service reads from SSM."""
    (definition,) = [stack for stack in STACKS if stack.name == f"orderflow-{service}"]
    local = definition.parameters(LocalEndpoints("http://127.0.0.1:1"))
    return provisioner.deploy(definition.name, REPO / definition.template, {**local, **parameters})


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_template_deploys_with_its_functions_and_consumers(
    provisioner: Provisioner, infra: DeployedStack, service: str
) -> None:
    stack = deploy(provisioner, infra, service)
    assert stack.functions, "every service has at least one function"
    for function in stack.functions.values():
        module = function.handler.rsplit(".", 1)[0].replace(".", "/")
        assert (function.code_dir / f"{module}.py").exists(), function.handler
        assert function.environment["EVENT_BUS_NAME"] == "orderflow"
        # Lambda hands a function its LoggingConfig's application log level (the local stacks' INFO),
        # and Powertools' logger takes it over POWERTOOLS_LOG_LEVEL.
        assert function.environment["AWS_LAMBDA_LOG_LEVEL"] == "INFO"
    sqs = boto3.client("sqs")
    for source in stack.event_sources:
        url = sqs.get_queue_url(QueueName=source.queue_arn.rsplit(":", 1)[1])["QueueUrl"]
        redrive = json.loads(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])["Attributes"][
                "RedrivePolicy"
            ]
        )
        assert redrive["maxReceiveCount"] >= 1
        assert source.report_batch_item_failures


def test_rules_deliver_to_the_services_queues(provisioner: Provisioner, infra: DeployedStack) -> None:
    stack = deploy(provisioner, infra, "inventory")
    events = boto3.client("events")
    targets = [
        target["Arn"]
        # Facts on the orderflow bus, the workflow's commands on its commands bus; schedules and
        # AWS's own events on the default bus.
        for bus in ("orderflow", "orderflow-commands", "default")
        for rule in events.list_rules(EventBusName=bus)["Rules"]
        for target in events.list_targets_by_rule(Rule=rule["Name"], EventBusName=bus)["Targets"]
        if ":sqs:" in target["Arn"]  # the archive has a rule of its own
    ]
    assert sorted(targets) == sorted(source.queue_arn for source in stack.event_sources)


def test_the_state_machine_is_the_asl_file_after_substitution(
    provisioner: Provisioner, infra: DeployedStack
) -> None:
    stack = deploy(provisioner, infra, "orders")
    arn = stack.outputs["OrderSagaStateMachineArn"]
    definition = boto3.client("stepfunctions").describe_state_machine(stateMachineArn=arn)["definition"]
    asl = (REPO / "services" / "orders" / "statemachine" / "order_saga.asl.json").read_text()
    assert definition == asl.replace("${EventBusName}", "orderflow").replace(
        "${CommandsBusName}", "orderflow-commands"
    )


def test_api_routes_come_from_the_template_each_behind_the_user_pool(
    provisioner: Provisioner, infra: DeployedStack
) -> None:
    stack = deploy(provisioner, infra, "orders")
    assert {(route.method, route.path) for route in stack.routes} == {
        ("POST", "/orders"),
        ("GET", "/orders/{orderId}"),
        ("GET", "/orders/{orderId}/invoice"),
    }
    pool_arn = infra.outputs["UserPoolArn"]
    assert {route.authorizer.provider_arns if route.authorizer else None for route in stack.routes} == {
        (pool_arn,)
    }


def test_the_orders_api_presigns_from_the_bucket_invoicing_creates_and_links_point_at_the_api(
    provisioner: Provisioner, infra: DeployedStack
) -> None:
    orders = deploy(provisioner, infra, "orders")
    invoicing = deploy(provisioner, infra, "invoicing")

    bucket = invoicing.physical_id("InvoicesBucket")
    assert bucket in [listed["Name"] for listed in boto3.client("s3").list_buckets()["Buckets"]]
    assert orders.functions["OrdersApiFunction"].environment["INVOICES_BUCKET"] == bucket
    links = invoicing.functions["GenerateInvoiceFunction"].environment["INVOICE_LINK_BASE_URL"]
    assert links == LocalEndpoints("http://127.0.0.1:1").api_url


def test_the_user_pool_has_the_operators_group_and_the_api_client(infra: DeployedStack) -> None:
    outputs = infra.outputs
    cognito = boto3.client("cognito-idp")
    pool = cognito.describe_user_pool(UserPoolId=outputs["UserPoolId"])["UserPool"]
    assert pool["Arn"] == outputs["UserPoolArn"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    group = cognito.get_group(GroupName=outputs["OperatorsGroupName"], UserPoolId=outputs["UserPoolId"])
    assert group["Group"]["GroupName"] == "operators"
    client = cognito.describe_user_pool_client(
        UserPoolId=outputs["UserPoolId"], ClientId=outputs["ApiClientId"]
    )
    assert "email" in client["UserPoolClient"]["ReadAttributes"]


def test_a_secret_is_created_with_a_generated_value(provisioner: Provisioner, infra: DeployedStack) -> None:
    stack = deploy(provisioner, infra, "payments", PaymentProviderUrl="http://127.0.0.1:1")
    (secret,) = stack.logical_ids_of_type("AWS::SecretsManager::Secret")
    value = boto3.client("secretsmanager").get_secret_value(SecretId=stack.physical_id(secret))[
        "SecretString"
    ]
    assert len(value) >= 32


def test_emails_sent_with_the_configuration_set_are_reported_to_the_default_bus(
    provisioner: Provisioner, infra: DeployedStack
) -> None:
    stack = deploy(provisioner, infra, "notifications")
    set_name = stack.outputs["EmailConfigurationSetName"]
    [destination] = boto3.client("sesv2").get_configuration_set_event_destinations(
        ConfigurationSetName=set_name
    )["EventDestinations"]
    assert destination == {
        "Name": "email-sent-to-eventbridge",
        "Enabled": True,
        "MatchingEventTypes": ["SEND"],
        "EventBridgeDestination": {"EventBusArn": "arn:aws:events:us-east-1:123456789012:event-bus/default"},
    }
    ses = boto3.client("ses")
    message_id = ses.send_email(
        Source=stack.outputs["SenderEmail"],
        Destination={"ToAddresses": ["ana@example.com"]},
        Message={"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "t"}}},
        ConfigurationSetName=set_name,
    )["MessageId"]

    # The template's rule on the default bus takes it to the consumer's queue.
    (source,) = [s for s in stack.event_sources if s.function_logical_id == "EmailSentFunction"]
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=source.queue_arn.rsplit(":", 1)[1])["QueueUrl"]
    [message] = sqs.receive_message(QueueUrl=url)["Messages"]
    event = json.loads(message["Body"])
    assert (event["source"], event["detail-type"]) == ("aws.ses", "Email Sent")
    assert event["detail"]["mail"]["messageId"] == message_id


def test_an_event_destination_other_than_eventbridge_is_an_error(
    provisioner: Provisioner, tmp_path: Path
) -> None:
    destination = {
        "MatchingEventTypes": ["bounce"],
        "SnsDestination": {"TopicARN": "arn:aws:sns:us-east-1:123456789012:bounces"},
    }
    path = _write(
        tmp_path,
        {
            "Set": {"Type": "AWS::SES::ConfigurationSet", "Properties": {"Name": "emails"}},
            "Bounces": {
                "Type": "AWS::SES::ConfigurationSetEventDestination",
                "Properties": {"ConfigurationSetName": {"Ref": "Set"}, "EventDestination": destination},
            },
        },
    )
    with pytest.raises(TemplateError, match="Bounces.*SnsDestination"):
        provisioner.deploy("s", path, {})


def _write(tmp_path: Path, resources: dict[str, Any], parameters: dict[str, Any] | None = None) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(json.dumps({"Parameters": parameters or {}, "Resources": resources}))
    return path


def test_an_unknown_resource_type_is_an_error_not_a_silent_skip(
    provisioner: Provisioner, tmp_path: Path
) -> None:
    path = _write(tmp_path, {"Stream": {"Type": "AWS::Kinesis::Stream", "Properties": {}}})
    with pytest.raises(TemplateError, match="Stream.*AWS::Kinesis::Stream"):
        provisioner.deploy("s", path, {})


def test_a_property_the_runtime_does_not_emulate_is_an_error(
    provisioner: Provisioner, tmp_path: Path
) -> None:
    path = _write(tmp_path, {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"Mystery": 1}}})
    with pytest.raises(TemplateError, match="Mystery"):
        provisioner.deploy("s", path, {})


def test_parameters_without_a_value_or_outside_allowed_values_are_errors(
    provisioner: Provisioner, tmp_path: Path
) -> None:
    path = _write(
        tmp_path, {}, {"Needed": {"Type": "String"}, "Level": {"Type": "String", "AllowedValues": ["A"]}}
    )
    with pytest.raises(TemplateError, match="Needed"):
        provisioner.deploy("s", path, {"Level": "A"})
    with pytest.raises(TemplateError, match="Level"):
        provisioner.deploy("s", path, {"Needed": "x", "Level": "B"})
    with pytest.raises(TemplateError, match="unknown parameters"):
        provisioner.deploy("s", path, {"Needed": "x", "Level": "A", "Extra": "1"})


def _sqs_consumer(tmp_path: Path, event_properties: dict[str, Any]) -> Path:
    """A SAM template of one function fed by one queue through an SQS event with these properties."""
    code = tmp_path / "src"
    code.mkdir()
    (code / "app.py").write_text("def handler(event, context):\n    return None\n")
    queue = {"Queue": {"Fn::GetAtt": ["Queue", "Arn"]}}
    template = {
        "Transform": "AWS::Serverless-2016-10-31",
        "Resources": {
            "Queue": {"Type": "AWS::SQS::Queue", "Properties": {}},
            "Consumer": {
                "Type": "AWS::Serverless::Function",
                "Properties": {
                    "Runtime": "python3.13",
                    "Handler": "app.handler",
                    "CodeUri": "src/",
                    "Events": {"Work": {"Type": "SQS", "Properties": {**queue, **event_properties}}},
                },
            },
        },
    }
    path = tmp_path / "template.yaml"
    path.write_text(json.dumps(template))
    return path


@pytest.mark.parametrize(
    ("event_properties", "window"),
    [({"BatchSize": 10, "MaximumBatchingWindowInSeconds": 3}, 3), ({"BatchSize": 10}, 0)],
)
def test_an_sqs_events_batching_window_reaches_its_poller(
    provisioner: Provisioner, tmp_path: Path, event_properties: dict[str, Any], window: int
) -> None:
    stack = provisioner.deploy("s", _sqs_consumer(tmp_path, event_properties), {})
    [source] = stack.event_sources
    assert (source.function_logical_id, source.batch_size) == ("Consumer", 10)
    assert source.maximum_batching_window_seconds == window


def test_a_batch_larger_than_the_local_poller_delivers_is_an_error(
    provisioner: Provisioner, tmp_path: Path
) -> None:
    # Lambda allows it with a batching window; the local poller would deliver batches of 10.
    path = _sqs_consumer(tmp_path, {"BatchSize": 100, "MaximumBatchingWindowInSeconds": 5})
    with pytest.raises(TemplateError, match="BatchSize 100"):
        provisioner.deploy("s", path, {})


@pytest.mark.parametrize(
    ("service", "windows"),
    [
        ("inventory", {"CommitStockFunction": 2}),
        ("notifications", {"EmailSentFunction": 2}),
        ("orders", {"OrderStatusProjectorFunction": 1}),
        ("payments", {}),
        ("invoicing", {}),
    ],
)
def test_only_consumers_that_no_order_waits_on_gather_batches(
    provisioner: Provisioner, infra: DeployedStack, service: str, windows: dict[str, int]
) -> None:
    stack = deploy(provisioner, infra, service)
    gathering = {
        source.function_logical_id: source.maximum_batching_window_seconds
        for source in stack.event_sources
        if source.maximum_batching_window_seconds
    }
    assert gathering == windows
    assert all(
        source.batch_size == 10 for source in stack.event_sources if source.function_logical_id in windows
    )


def test_resources_are_created_after_everything_they_refer_to() -> None:
    order = creation_order(
        {
            "Rule": {"Properties": {"Targets": [{"Arn": {"Fn::GetAtt": ["Queue", "Arn"]}}]}},
            "Queue": {
                "Properties": {"RedrivePolicy": {"deadLetterTargetArn": {"Fn::GetAtt": ["Dlq", "Arn"]}}}
            },
            "Dlq": {"Properties": {}},
            "Late": {"DependsOn": "Rule", "Properties": {}},
        }
    )
    assert order.index("Dlq") < order.index("Queue") < order.index("Rule") < order.index("Late")


def bus_policy_statements(bus: str) -> dict[str, dict[str, Any]]:
    policy = boto3.client("events").describe_event_bus(Name=bus).get("Policy")
    return {statement["Sid"]: statement for statement in json.loads(policy)["Statement"]} if policy else {}


def test_the_domain_bus_lets_named_accounts_manage_their_rules_and_nobody_outside_publish_orderflow_sources(
    provisioner: Provisioner,
) -> None:
    provisioner.deploy(
        INFRA_STACK, REPO / "infra" / "template.yaml", {"SubscriberAccountIds": "111122223333,444455556666"}
    )

    statements = bus_policy_statements("orderflow")
    subscribers = statements["SubscribersManageTheirOwnRules"]
    assert subscribers["Effect"] == "Allow"
    assert sorted(subscribers["Principal"]["AWS"]) == ["111122223333", "444455556666"]
    assert "events:PutEvents" not in subscribers["Action"]
    assert subscribers["Condition"] == {
        "StringEqualsIfExists": {"events:creatorAccount": "${aws:PrincipalAccount}"}
    }
    outsiders = statements["NoOutsideOrderflowSources"]
    assert (outsiders["Effect"], outsiders["Action"]) == ("Deny", "events:PutEvents")
    assert outsiders["Condition"]["StringLike"] == {"events:source": "orderflow.*"}


def test_without_subscriber_accounts_no_other_account_is_named_and_the_commands_bus_admits_only_the_workflow(
    infra: DeployedStack,
) -> None:
    assert set(bus_policy_statements("orderflow")) == {"NoOutsideOrderflowSources"}
    [only] = bus_policy_statements("orderflow-commands").values()
    assert (only["Effect"], only["Action"], only["Principal"]) == ("Deny", "events:PutEvents", "*")
    assert only["Condition"]["ArnNotLike"]["aws:PrincipalArn"].endswith(
        ":role/orderflow-orders-OrderSagaStateMachineRole*"
    )
