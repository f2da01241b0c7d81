"""Every function of every service is rolled out gradually: SAM publishes each new version under the
alias live, which every event source and API integration invokes, and CodeDeploy shifts traffic to it,
rolling back when the function's own errors alarm fires (docs/deploy.md, "Rolling out a new version").
Locally the alias is the function itself."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from orderflow_iac.stacks import SERVICES

from orderflow_local.provisioner import DeployedStack, Provisioner
from orderflow_local.resources import unqualified_function_name
from orderflow_local.stacks import STACKS, LocalEndpoints
from orderflow_local.templates import TranslatedTemplate, load_template, translate

REPO = Path(__file__).resolve().parents[2]


def template_path(service: str) -> Path:
    return REPO / "services" / service / "template.yaml"


def of_type(template: TranslatedTemplate, resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource
        for logical_id, resource in template.resources.items()
        if resource["Type"] == resource_type
    }


@pytest.mark.parametrize("service", SERVICES)
def test_every_function_is_deployed_gradually_and_rolled_back_by_its_errors_alarm(service: str) -> None:
    template = translate(template_path(service))
    functions = of_type(template, "AWS::Lambda::Function")
    aliases = of_type(template, "AWS::Lambda::Alias")
    groups = of_type(template, "AWS::CodeDeploy::DeploymentGroup")
    alarms = of_type(template, "AWS::CloudWatch::Alarm")
    assert functions

    for function in functions:
        (alias,) = [
            resource
            for resource in aliases.values()
            if resource["Properties"]["FunctionName"] == {"Ref": function}
        ]
        assert alias["Properties"]["Name"] == "live", function
        update = alias["UpdatePolicy"]["CodeDeployLambdaAliasUpdate"]
        group = groups[update["DeploymentGroupName"]["Ref"]]["Properties"]

        assert group["DeploymentConfigName"] == {
            "Fn::Sub": ["CodeDeployDefault.Lambda${ConfigName}", {"ConfigName": "Canary10Percent5Minutes"}]
        }, function
        assert group["AlarmConfiguration"]["Enabled"] is True, function
        assert {"Name": {"Ref": f"{function}ErrorsAlarm"}} in group["AlarmConfiguration"]["Alarms"], function
        rollback = group["AutoRollbackConfiguration"]
        assert rollback["Enabled"] is True, function
        assert "DEPLOYMENT_STOP_ON_ALARM" in rollback["Events"], function

        # The rollback alarm is the one that counts this function's errors.
        alarm = alarms[f"{function}ErrorsAlarm"]["Properties"]
        assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", "Errors"), function
        assert {"Name": "FunctionName", "Value": {"Ref": function}} in alarm["Dimensions"], function


@pytest.mark.parametrize("service", SERVICES)
def test_the_deployment_type_is_a_parameter_that_can_deploy_all_at_once(service: str) -> None:
    source = load_template(template_path(service))
    parameter = source["Parameters"]["DeploymentType"]
    assert parameter["Default"] == "Canary10Percent5Minutes"
    assert "AllAtOnce" in parameter["AllowedValues"]
    globals_ = source["Globals"]["Function"]
    assert globals_["AutoPublishAlias"] == "live"
    assert globals_["DeploymentPreference"]["Type"] == {"Ref": "DeploymentType"}


@pytest.mark.parametrize("service", SERVICES)
def test_event_sources_and_api_integrations_invoke_the_alias(service: str) -> None:
    template = translate(template_path(service))
    aliases = of_type(template, "AWS::Lambda::Alias")
    for logical_id, mapping in of_type(template, "AWS::Lambda::EventSourceMapping").items():
        assert mapping["Properties"]["FunctionName"]["Ref"] in aliases, logical_id
    for logical_id, api in of_type(template, "AWS::ApiGateway::RestApi").items():
        body = json.dumps(api["Properties"].get("Body", {}))
        assert "/invocations" not in body or "Aliaslive" in body, logical_id


@pytest.mark.parametrize(
    ("reference", "name"),
    [
        ("orderflow-orders-OrdersApiFunction", "orderflow-orders-OrdersApiFunction"),
        ("arn:aws:lambda:us-east-1:123456789012:function:fn", "fn"),
        ("arn:aws:lambda:us-east-1:123456789012:function:fn:live", "fn"),
        ("arn:aws:lambda:us-east-1:123456789012:function:fn:7", "fn"),
        ("fn:live", "fn"),
    ],
)
def test_a_qualified_function_reference_names_the_local_function(reference: str, name: str) -> None:
    assert unqualified_function_name(reference) == name


def deploy(provisioner: Provisioner, service: str) -> DeployedStack:
    (definition,) = [stack for stack in STACKS if stack.name == f"orderflow-{service}"]
    return provisioner.deploy(
        definition.name,
        REPO / definition.template,
        definition.parameters(LocalEndpoints("http://127.0.0.1:1")),
    )


def test_locally_the_alias_invokes_the_function_itself(
    provisioner: Provisioner, infra: DeployedStack
) -> None:
    stack = deploy(provisioner, "orders")

    aliases = of_type(stack.template, "AWS::Lambda::Alias")
    assert aliases
    for logical_id, alias in aliases.items():
        function = alias["Properties"]["FunctionName"]["Ref"]
        name = stack.functions[function].name
        assert stack.resources[logical_id].physical_id == (
            f"arn:aws:lambda:us-east-1:123456789012:function:{name}:live"
        )
    # The event sources and routes, which name the alias, run the functions.
    assert {source.function_logical_id for source in stack.event_sources} <= set(stack.functions)
    assert stack.routes
    assert {route.function_logical_id for route in stack.routes} <= set(stack.functions)
