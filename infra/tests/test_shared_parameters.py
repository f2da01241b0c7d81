"""What infra shares reaches the services through SSM parameters, never through its outputs.

Infra publishes each shared value as an `AWS::SSM::Parameter` (named `<Output>Parameter`, holding its
output `<Output>`'s value); a service takes it as its parameter `<Output>`, of type
`AWS::SSM::Parameter::Value<String>`, whose default is that SSM parameter's name. So `sam deploy` of
one service needs no other stack's outputs, and the local system deploys the services the same way.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from orderflow_local.intrinsics import TemplateError
from orderflow_local.provisioner import DeployedStack, Provisioner
from orderflow_local.resources import IamResource
from orderflow_local.stacks import INFRA_STACK, STACKS, LocalEndpoints
from orderflow_local.templates import is_ssm_parameter, load_template, translate

REPO = Path(__file__).resolve().parents[2]
INFRA_TEMPLATE = REPO / "infra" / "template.yaml"
SERVICES = ["orders", "inventory", "payments", "invoicing", "notifications"]
SSM_STRING = "AWS::SSM::Parameter::Value<String>"
SUFFIX = "Parameter"


def published() -> dict[str, str]:
    """Each shared value infra publishes, by the name of the output (and the services' parameter) that
    carries it, to the SSM parameter's name under the default prefix."""
    infra = load_template(INFRA_TEMPLATE)
    prefix = infra["Parameters"]["SharedParameterPrefix"]["Default"]
    names = {}
    for logical_id, resource in infra["Resources"].items():
        if resource["Type"] != "AWS::SSM::Parameter":
            continue
        properties = resource["Properties"]
        assert logical_id.endswith(SUFFIX), f"{logical_id}: name it <the output it carries>{SUFFIX}"
        output = logical_id.removesuffix(SUFFIX)
        assert output in infra["Outputs"], f"{logical_id}: infra has no output {output}"
        assert properties["Value"] == infra["Outputs"][output]["Value"], (
            f"{logical_id} is not {output}'s value"
        )
        assert properties["Type"] == "String", logical_id
        assert properties.get("Description"), f"{logical_id}: say what it is"
        name = properties["Name"]["Fn::Sub"]
        assert name.startswith("${SharedParameterPrefix}/"), f"{logical_id}: not under the prefix"
        names[output] = name.replace("${SharedParameterPrefix}", prefix)
    return names


def service_parameters(service: str) -> dict[str, Any]:
    parameters: dict[str, Any] = load_template(REPO / "services" / service / "template.yaml")["Parameters"]
    return parameters


def test_every_shared_value_a_service_takes_is_the_ssm_parameter_infra_publishes() -> None:
    shared = published()
    assert shared == {
        "EventBusName": "/orderflow/event-bus/name",
        "CommandsBusName": "/orderflow/commands-bus/name",
        "UserPoolArn": "/orderflow/user-pool/arn",
        "OperatorsGroupName": "/orderflow/operators-group/name",
        "PaymentTokenKeyArn": "/orderflow/payment-token-key/arn",
    }
    outputs = set(load_template(INFRA_TEMPLATE)["Outputs"])
    read: set[str] = set()
    for service in SERVICES:
        for name, declaration in service_parameters(service).items():
            where = f"services/{service}/template.yaml: parameter {name}"
            if name in shared:
                assert declaration["Type"] == SSM_STRING, f"{where}: make it {SSM_STRING}"
                assert declaration.get("Default") == shared[name], f"{where}: its default is {shared[name]}"
                assert "/orderflow-dev/" in declaration["Description"], f"{where}: say how to override it"
                read.add(name)
            else:
                assert name not in outputs, f"{where} is infra's output: infra must publish it in SSM"
                assert not is_ssm_parameter(declaration), (
                    f"{where} reads an SSM parameter infra does not publish"
                )
    assert read == set(shared), f"infra publishes what no service reads: {sorted(set(shared) - read)}"


def test_the_local_stacks_hand_no_infra_value_to_a_service() -> None:
    """The local system deploys each service as AWS would: only values of its own, never infra's."""
    shared = published()
    outputs = set(load_template(INFRA_TEMPLATE)["Outputs"])
    endpoints = LocalEndpoints("http://127.0.0.1:1", time_scale=0.1, api_url="http://127.0.0.1:2")
    for definition in STACKS:
        if definition.name == INFRA_STACK:
            continue
        given = definition.parameters(endpoints)
        assert not set(given) & (outputs | set(shared)), f"{definition.name} is given {sorted(given)}"


@pytest.mark.parametrize("service", SERVICES)
def test_the_translator_leaves_every_ssm_parameter_to_the_provisioner(service: str) -> None:
    """Offline, the SAM translator would put an SSM parameter's default (its name, not its value) where
    it resolves a Ref itself, such as an API's authorizer."""
    translated = translate(REPO / "services" / service / "template.yaml")
    text = json.dumps(translated.resources)
    assert [name for name in published().values() if name in text] == []
    assert translated.parameters == service_parameters(service)


def test_infra_publishes_its_outputs_values_in_ssm(infra: DeployedStack) -> None:
    ssm = boto3.client("ssm")
    described = {
        parameter["Name"]: parameter for parameter in ssm.describe_parameters(MaxResults=50)["Parameters"]
    }
    for output, name in published().items():
        assert ssm.get_parameter(Name=name)["Parameter"]["Value"] == infra.outputs[output]
        assert described[name]["Type"] == "String"
        assert described[name]["Description"]
    assert infra.outputs["EventBusName"] == "orderflow"


def test_another_prefix_publishes_another_environments_parameters(provisioner: Provisioner) -> None:
    provisioner.deploy(
        INFRA_STACK,
        INFRA_TEMPLATE,
        {"SharedParameterPrefix": "/orderflow-dev", "EventBusName": "orderflow-dev"},
    )
    value = boto3.client("ssm").get_parameter(Name="/orderflow-dev/event-bus/name")["Parameter"]["Value"]
    assert value == "orderflow-dev"


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_deploys_with_no_infra_value_given_and_reads_each_from_ssm(
    provisioner: Provisioner, infra: DeployedStack, service: str
) -> None:
    (definition,) = [stack for stack in STACKS if stack.name == f"orderflow-{service}"]
    stack = provisioner.deploy(
        definition.name,
        REPO / definition.template,
        definition.parameters(LocalEndpoints("http://127.0.0.1:1")),
    )

    shared = {name: ssm for name, ssm in published().items() if name in service_parameters(service)}
    assert {name: stack.parameters[name] for name in shared} == {name: infra.outputs[name] for name in shared}
    for function in stack.functions.values():
        assert function.environment["EVENT_BUS_NAME"] == "orderflow"
    # Nothing deployed carries an SSM parameter's name where its value belongs.
    deployed = json.dumps(
        [
            [function.environment for function in stack.functions.values()],
            [route.authorizer.provider_arns for route in stack.routes if route.authorizer],
            [r.properties for r in stack.resources.values() if isinstance(r, IamResource)],
            [(r.physical_id, r.attributes) for r in stack.resources.values()],
        ]
    )
    assert [name for name in shared.values() if name in deployed] == []


def test_the_api_services_authorize_with_infras_user_pool_and_group(
    provisioner: Provisioner, infra: DeployedStack
) -> None:
    for service in ("orders", "inventory"):
        (definition,) = [stack for stack in STACKS if stack.name == f"orderflow-{service}"]
        local = definition.parameters(LocalEndpoints("http://127.0.0.1:1"))
        stack = provisioner.deploy(definition.name, REPO / definition.template, local)
        assert {route.authorizer.provider_arns for route in stack.routes if route.authorizer} == {
            (infra.outputs["UserPoolArn"],)
        }
        groups = {f.environment.get("OPERATORS_GROUP") for f in stack.functions.values()} - {None}
        assert groups == {infra.outputs["OperatorsGroupName"]}


def test_a_missing_ssm_parameter_fails_the_deploy_naming_it_before_anything_is_created(
    provisioner: Provisioner,
) -> None:
    (definition,) = [stack for stack in STACKS if stack.name == "orderflow-notifications"]
    with pytest.raises(TemplateError, match="EventBusName names the SSM parameter /orderflow/event-bus/name"):
        provisioner.deploy(definition.name, REPO / definition.template, {})
    assert boto3.client("dynamodb").list_tables()["TableNames"] == []


def test_an_ssm_typed_parameter_is_the_value_of_the_ssm_parameter_it_names(
    provisioner: Provisioner, write_template: Callable[[dict[str, Any]], Path]
) -> None:
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/orderflow/event-bus/name", Value="orderflow", Type="String")
    ssm.put_parameter(Name="/orderflow-dev/event-bus/name", Value="orderflow-dev", Type="String")
    ssm.put_parameter(Name="/orderflow/accounts", Value="111122223333, 444455556666", Type="StringList")
    path = write_template(
        {
            "Parameters": {
                "Bus": {"Type": SSM_STRING, "Default": "/orderflow/event-bus/name"},
                "Accounts": {
                    "Type": "AWS::SSM::Parameter::Value<List<String>>",
                    "Default": "/orderflow/accounts",
                },
            },
            "Resources": {"Queue": {"Type": "AWS::SQS::Queue", "Properties": {"QueueName": {"Ref": "Bus"}}}},
            "Outputs": {
                "Bus": {"Value": {"Ref": "Bus"}},
                "Second": {"Value": {"Fn::Select": [1, {"Ref": "Accounts"}]}},
            },
        },
    )

    assert provisioner.deploy("a", path, {}).outputs == {"Bus": "orderflow", "Second": "444455556666"}
    # Another environment's deployer names its own SSM parameter; its value is what the stack gets.
    other = provisioner.deploy("b", path, {"Bus": "/orderflow-dev/event-bus/name"})
    assert other.outputs["Bus"] == "orderflow-dev"
    with pytest.raises(
        TemplateError, match="parameter Bus names the SSM parameter /orderflow-test/event-bus/name"
    ):
        provisioner.deploy("c", path, {"Bus": "/orderflow-test/event-bus/name"})


def test_an_ssm_parameter_resource_is_put_in_parameter_store(
    provisioner: Provisioner, write_template: Callable[[dict[str, Any]], Path]
) -> None:
    parameter = {"Name": "/p/one", "Type": "String", "Value": "1", "Description": "d", "Tags": {"team": "a"}}
    path = write_template(
        {
            "Resources": {
                "One": {"Type": "AWS::SSM::Parameter", "Properties": parameter},
                "Unnamed": {"Type": "AWS::SSM::Parameter", "Properties": {"Type": "String", "Value": "2"}},
            },
            "Outputs": {
                "Name": {"Value": {"Ref": "One"}},
                "Value": {"Value": {"Fn::GetAtt": ["One", "Value"]}},
                "Unnamed": {"Value": {"Ref": "Unnamed"}},
            },
        },
    )

    outputs = provisioner.deploy("s", path, {}).outputs
    assert outputs == {"Name": "/p/one", "Value": "1", "Unnamed": "s-Unnamed"}
    ssm = boto3.client("ssm")
    assert ssm.get_parameter(Name="s-Unnamed")["Parameter"]["Value"] == "2"
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId="/p/one")["TagList"]
    assert tags == [{"Key": "team", "Value": "a"}]
    # CloudFormation creates no SecureString parameter.
    secure = write_template(
        {
            "Resources": {
                "S": {"Type": "AWS::SSM::Parameter", "Properties": {**parameter, "Type": "SecureString"}}
            }
        },
    )
    with pytest.raises(TemplateError, match="SecureString"):
        provisioner.deploy("t", secure, {})
