"""AWS::EventSchemas resources land in the local schema registry, with CloudFormation's Ref/GetAtt."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest

from orderflow_local.intrinsics import TemplateError
from orderflow_local.provisioner import Provisioner

REPO = Path(__file__).resolve().parents[2]
REGISTRY_ARN = "arn:aws:schemas:us-east-1:123456789012:registry/orderflow"
RECEIVED = "orderflow.orders@OrderReceived-v1"
RECEIVED_SCHEMA = {"$schema": "http://json-schema.org/draft-04/schema#", "type": "object"}


@pytest.fixture
def provisioner(fake_aws: None) -> Provisioner:
    return Provisioner(lambda service: boto3.client(service, region_name="us-east-1"))


def registry_template(**schema_overrides: Any) -> dict[str, Any]:
    # The schemas come first: creation order must follow the GetAtt, not the file.
    return {
        "Resources": {
            "OrderReceivedSchema": {
                "Type": "AWS::EventSchemas::Schema",
                "Properties": {
                    "RegistryName": {"Fn::GetAtt": ["SchemaRegistry", "RegistryName"]},
                    "SchemaName": RECEIVED,
                    "Type": "JSONSchemaDraft4",
                    "Content": json.dumps(RECEIVED_SCHEMA),
                    "Description": "A new order",
                    **schema_overrides,
                },
            },
            "UnnamedSchema": {
                "Type": "AWS::EventSchemas::Schema",
                "Properties": {
                    "RegistryName": {"Fn::GetAtt": ["SchemaRegistry", "RegistryName"]},
                    "Type": "OpenApi3",
                    "Content": "{}",
                    "Tags": [{"Key": "owner", "Value": "inventory"}],
                },
            },
            "SchemaRegistry": {
                "Type": "AWS::EventSchemas::Registry",
                "Properties": {"RegistryName": "orderflow", "Description": "orderflow events"},
            },
        },
        "Outputs": {
            "RegistryRef": {"Value": {"Ref": "SchemaRegistry"}},
            "RegistryArn": {"Value": {"Fn::GetAtt": ["SchemaRegistry", "RegistryArn"]}},
            "SchemaRef": {"Value": {"Ref": "OrderReceivedSchema"}},
            "SchemaName": {"Value": {"Fn::GetAtt": ["OrderReceivedSchema", "SchemaName"]}},
            "SchemaVersion": {"Value": {"Fn::GetAtt": ["OrderReceivedSchema", "SchemaVersion"]}},
            "UnnamedSchemaArn": {"Value": {"Fn::GetAtt": ["UnnamedSchema", "SchemaArn"]}},
        },
    }


def test_a_registry_and_its_schemas_are_recorded_with_cloudformations_refs_and_attributes(
    provisioner: Provisioner, write_template: Callable[[dict[str, Any]], Path]
) -> None:
    stack = provisioner.deploy("orderflow-infra", write_template(registry_template()), {})

    schema_arn = f"arn:aws:schemas:us-east-1:123456789012:schema/orderflow/{RECEIVED}"
    assert stack.outputs == {
        "RegistryRef": REGISTRY_ARN,
        "RegistryArn": REGISTRY_ARN,
        "SchemaRef": schema_arn,
        "SchemaName": RECEIVED,
        "SchemaVersion": "1",
        "UnnamedSchemaArn": (
            "arn:aws:schemas:us-east-1:123456789012:schema/orderflow/orderflow-infra-UnnamedSchema"
        ),
    }
    store = provisioner.schema_store
    registry = store.registry("orderflow")
    assert registry is not None
    assert registry.description == "orderflow events"
    received = store.schema("orderflow", RECEIVED)
    assert received is not None
    assert json.loads(received.latest.content) == RECEIVED_SCHEMA
    assert (received.latest.schema_type, received.description) == ("JSONSchemaDraft4", "A new order")
    unnamed = store.schema("orderflow", "orderflow-infra-UnnamedSchema")
    assert unnamed is not None
    assert unnamed.tags == {"owner": "inventory"}


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"Compatibility": "BACKWARD"}, "Compatibility"),
        ({"Type": "Avro"}, "Type must be one of"),
        ({"Content": "{not json"}, "not a JSON document"),
        ({"Content": RECEIVED_SCHEMA}, "Content must be the schema document as a string"),
        ({"RegistryName": "elsewhere"}, "registry 'elsewhere' does not exist"),
    ],
    ids=["unknown-property", "unknown-type", "content-not-json", "content-not-a-string", "no-registry"],
)
def test_a_schema_cloudformation_would_refuse_is_an_error_naming_the_resource(
    provisioner: Provisioner,
    write_template: Callable[[dict[str, Any]], Path],
    override: dict[str, Any],
    message: str,
) -> None:
    with pytest.raises(TemplateError, match=f"OrderReceivedSchema.*{message}"):
        provisioner.deploy("s", write_template(registry_template(**override)), {})


def test_an_unknown_registry_property_and_a_second_registry_of_the_same_name_are_errors(
    provisioner: Provisioner, write_template: Callable[[dict[str, Any]], Path]
) -> None:
    registry = {"Type": "AWS::EventSchemas::Registry", "Properties": {"RegistryName": "orderflow"}}
    with pytest.raises(TemplateError, match="Mystery"):
        provisioner.deploy(
            "a",
            write_template({"Resources": {"R": {**registry, "Properties": {"Mystery": 1}}}}),
            {},
        )
    provisioner.deploy("b", write_template({"Resources": {"R": registry}}), {})
    with pytest.raises(TemplateError, match="registry 'orderflow' already exists"):
        provisioner.deploy("c", write_template({"Resources": {"R": registry}}), {})


def test_the_infra_template_registry_serves_exactly_the_committed_schemas(provisioner: Provisioner) -> None:
    provisioner.deploy("orderflow-infra", REPO / "infra" / "template.yaml", {})
    committed = {
        path.stem: json.loads(path.read_text())
        for path in sorted((REPO / "shared" / "contracts" / "schemas").glob("*.json"))
    }
    served = {
        schema.name: json.loads(schema.latest.content)
        for schema in provisioner.schema_store.schemas("orderflow") or []
    }
    assert served == committed
