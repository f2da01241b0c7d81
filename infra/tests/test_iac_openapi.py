"""orderflow_iac.openapi: which functions describe the API, and how their documents become one."""

from __future__ import annotations

from pathlib import Path

import pytest
from orderflow_iac.openapi import PLACEHOLDER, api_functions, merged, route_problems

TEMPLATE = """
Transform: AWS::Serverless-2016-10-31
Parameters:
  LogLevel: {Type: String, Default: INFO}
Globals:
  Function:
    Environment:
      Variables:
        SHOP_TABLE: !Ref ShopTable
        POWERTOOLS_LOG_LEVEL: !Ref LogLevel
Resources:
  ShopTable: {Type: AWS::DynamoDB::Table}
  ShopApiFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: shop.handlers.api.handler
      Environment:
        Variables:
          POWERTOOLS_SERVICE_NAME: shop
      Events:
        GetItem: {Type: Api, Properties: {Path: "/items/{itemId}", Method: get}}
  ShopConsumerFunction:
    Type: AWS::Serverless::Function
    Properties:
      Handler: shop.handlers.consumer.handler
      Events:
        Queue: {Type: SQS, Properties: {Queue: !GetAtt Q.Arn}}
"""


def document(
    paths: dict[str, dict[str, object]], schemas: dict[str, object] | None = None
) -> dict[str, object]:
    return {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": paths,
        "components": {"schemas": schemas or {}},
    }


def test_the_api_functions_are_those_with_api_events_and_their_offline_environment(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE)

    (function,) = api_functions([template])

    assert (function.logical_id, function.module) == ("ShopApiFunction", "shop.handlers.api")
    assert function.routes == {("get", "/items/{}")}
    assert dict(function.environment) == {
        "SHOP_TABLE": PLACEHOLDER,  # exists once deployed
        "POWERTOOLS_LOG_LEVEL": "INFO",  # the parameter's default
        "POWERTOOLS_SERVICE_NAME": "shop",
    }


def test_the_repository_describes_its_two_apis() -> None:
    modules = {function.module for function in api_functions()}
    assert modules == {"orders.handlers.api", "inventory.handlers.api"}


def test_routes_and_documented_operations_must_be_the_same(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(TEMPLATE)
    functions = api_functions([template])

    assert route_problems(document({"/items/{item_id}": {"get": {}}}), functions) == []
    assert route_problems(document({"/items": {"post": {}}}), functions) == [
        "GET /items/{} is routed by a template but not in the document",
        "POST /items is in the document but no template routes it",
    ]


def test_merging_keeps_every_path_and_only_the_schemas_in_use() -> None:
    error = {"type": "object"}
    orders = document(
        {"/orders": {"post": {"responses": {"422": {"$ref": "#/components/schemas/Refusal"}}}}},
        {
            "Refusal": {"properties": {"why": {"$ref": "#/components/schemas/Reason"}}},
            "Reason": error,
            "Unused": error,
        },
    )
    stock = document({"/stock": {"get": {}}}, {"Reason": error})

    result = merged([orders, stock])

    assert (result["info"]["title"], list(result["paths"])) == ("orderflow", ["/orders", "/stock"])
    assert sorted(result["components"]["schemas"]) == ["Reason", "Refusal"]


def test_two_different_components_of_one_name_are_refused() -> None:
    with pytest.raises(ValueError, match="schemas/Reason"):
        merged([document({}, {"Reason": {"type": "object"}}), document({}, {"Reason": {"type": "string"}})])


def test_one_route_in_two_documents_is_refused() -> None:
    with pytest.raises(Exception, match="GET /stock"):
        merged([document({"/stock": {"get": {}}}), document({"/stock": {"get": {}}})])
