from __future__ import annotations

import pytest

from orderflow_local.intrinsics import ResolutionScope, ResolvedResource, TemplateError, references


@pytest.fixture
def scope() -> ResolutionScope:
    scope = ResolutionScope("orderflow-orders", {"EventBusName": "orderflow"})
    scope.resources["Queue"] = ResolvedResource(
        "http://local/queue", {"Arn": "arn:aws:sqs:us-east-1:123456789012:queue", "QueueName": "queue"}
    )
    return scope


def test_ref_resolves_parameters_resources_and_pseudo_parameters(scope: ResolutionScope) -> None:
    assert scope.resolve({"Ref": "EventBusName"}) == "orderflow"
    assert scope.resolve({"Ref": "Queue"}) == "http://local/queue"
    assert scope.resolve({"Ref": "AWS::StackName"}) == "orderflow-orders"
    assert scope.resolve({"Ref": "AWS::AccountId"}) == "123456789012"


def test_get_att_in_both_spellings(scope: ResolutionScope) -> None:
    assert scope.resolve({"Fn::GetAtt": ["Queue", "Arn"]}) == "arn:aws:sqs:us-east-1:123456789012:queue"
    assert scope.resolve({"Fn::GetAtt": "Queue.QueueName"}) == "queue"


def test_sub_resolves_references_attributes_variables_and_keeps_escaped_literals(
    scope: ResolutionScope,
) -> None:
    assert scope.resolve({"Fn::Sub": "${AWS::StackName}/${EventBusName}/${Queue.QueueName}"}) == (
        "orderflow-orders/orderflow/queue"
    )
    assert scope.resolve({"Fn::Sub": ["${Name}-x", {"Name": {"Ref": "EventBusName"}}]}) == "orderflow-x"
    assert scope.resolve({"Fn::Sub": "${!Literal}"}) == "${Literal}"


def test_join_and_nested_values(scope: ResolutionScope) -> None:
    resolved = scope.resolve({"List": [{"Fn::Join": ["-", ["a", {"Ref": "EventBusName"}]]}], "Plain": 3})
    assert resolved == {"List": ["a-orderflow"], "Plain": 3}


@pytest.mark.parametrize(
    "value",
    [{"Ref": "Missing"}, {"Fn::GetAtt": ["Queue", "Nope"]}, {"Fn::GetAtt": ["Missing", "Arn"]}],
)
def test_unresolvable_references_are_errors_that_name_them(scope: ResolutionScope, value: object) -> None:
    with pytest.raises(TemplateError, match="Missing|Nope"):
        scope.resolve(value)


def test_references_finds_every_logical_id_a_value_depends_on() -> None:
    value = {
        "A": {"Ref": "Table"},
        "B": [{"Fn::GetAtt": ["Queue", "Arn"]}, {"Fn::GetAtt": "Rule.Arn"}],
        "C": {"Fn::Sub": ["${Bus}-${Fn.Arn}-${AWS::Region}", {"X": {"Ref": "Secret"}}]},
    }
    assert set(references(value)) == {"Table", "Queue", "Rule", "Bus", "Fn", "AWS::Region", "Secret"}
