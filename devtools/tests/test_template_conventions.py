"""convention_problems names each way a template can break the service conventions."""

from __future__ import annotations

from typing import Any

import pytest

from orderflow_devtools.testing.template import SamTemplate, convention_problems


def get_att(logical_id: str) -> dict[str, Any]:
    return {"Fn::GetAtt": [logical_id, "Arn"]}


def template(**overrides: dict[str, Any]) -> SamTemplate:
    """One conforming subscription (rule -> queue with DLQ -> function); ``overrides`` replace
    resources' Properties by logical id."""
    resources: dict[str, dict[str, Any]] = {
        "WorkQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "VisibilityTimeout": 180,
                "RedrivePolicy": {
                    "deadLetterTargetArn": get_att("WorkDeadLetterQueue"),
                    "maxReceiveCount": 5,
                },
            },
        },
        "WorkDeadLetterQueue": {"Type": "AWS::SQS::Queue", "Properties": {}},
        "WorkRule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "EventPattern": {"source": ["orderflow.orders"], "detail-type": ["ReserveStock"]},
                "Targets": [{"Id": "WorkQueue", "Arn": get_att("WorkQueue")}],
            },
        },
        "WorkFunction": {
            "Type": "AWS::Serverless::Function",
            "Properties": {
                "Handler": "orderflow_shared.money.format_money",
                "Events": {
                    "Work": {
                        "Type": "SQS",
                        "Properties": {
                            "Queue": get_att("WorkQueue"),
                            "FunctionResponseTypes": ["ReportBatchItemFailures"],
                        },
                    }
                },
            },
        },
    }
    for logical_id, properties in overrides.items():
        resources[logical_id]["Properties"] = properties
    return SamTemplate({"Globals": {"Function": {"Timeout": 30}}, "Resources": resources})


def function_with(**sqs_properties: Any) -> dict[str, Any]:
    properties = {"Queue": get_att("WorkQueue"), "FunctionResponseTypes": ["ReportBatchItemFailures"]}
    events = {"Work": {"Type": "SQS", "Properties": {**properties, **sqs_properties}}}
    return {"Handler": "orderflow_shared.money.format_money", "Events": events}


def test_a_conforming_template_has_no_problems() -> None:
    assert convention_problems(template()) == []


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        (
            {"WorkFunction": {"Handler": "orderflow_shared.no_such_module.handler"}},
            "WorkFunction: Handler orderflow_shared.no_such_module.handler does not import",
        ),
        (
            {"WorkFunction": {"Handler": "orderflow_shared.money.no_such_handler"}},
            "WorkFunction: Handler orderflow_shared.money.no_such_handler is not a function",
        ),
        (
            {"WorkFunction": function_with(FunctionResponseTypes=[])},
            "WorkFunction: its SQS event lacks FunctionResponseTypes [ReportBatchItemFailures]",
        ),
        (
            {"WorkFunction": function_with(Queue="arn:aws:sqs:us-east-1:123456789012:elsewhere")},
            "WorkFunction: its SQS event reads '', not a queue of this template",
        ),
        ({"WorkQueue": {"VisibilityTimeout": 180}}, "WorkQueue: no RedrivePolicy to a dead-letter queue"),
        (
            {"WorkQueue": {"RedrivePolicy": {"deadLetterTargetArn": get_att("WorkDeadLetterQueue")}}},
            "WorkQueue: VisibilityTimeout under 180 s",
        ),
        (
            {"WorkRule": {"Targets": [{"Id": "Fn", "Arn": get_att("WorkFunction")}]}},
            "WorkRule: targets 'WorkFunction', not a queue of this template",
        ),
        (
            {
                "WorkRule": {
                    "EventPattern": {"source": ["orderflow.orders"], "detail-type": ["StockReserved"]}
                }
            },
            "WorkRule: no contract event 'StockReserved' comes from its sources",
        ),
    ],
)
def test_each_broken_convention_is_named(overrides: dict[str, Any], problem: str) -> None:
    [found] = convention_problems(template(**overrides))

    assert found.startswith(problem)


def test_tables_are_found_through_the_environment_globals_and_functions_give() -> None:
    document = template().document
    document["Resources"]["OrdersTable"] = {"Type": "AWS::DynamoDB::Table", "Properties": {}}
    document["Resources"]["KeysTable"] = {"Type": "AWS::DynamoDB::Table", "Properties": {}}
    document["Globals"]["Function"]["Environment"] = {"Variables": {"ORDERS_TABLE": {"Ref": "OrdersTable"}}}
    document["Resources"]["WorkFunction"]["Properties"]["Environment"] = {
        "Variables": {"KEYS_TABLE": {"Ref": "KeysTable"}, "BUS": {"Ref": "EventBusName"}, "LEVEL": "INFO"}
    }

    assert SamTemplate(document).table_environment() == {
        "ORDERS_TABLE": "OrdersTable",
        "KEYS_TABLE": "KeysTable",
    }
