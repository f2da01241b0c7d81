"""The local schema registry answers a real boto3 `schemas` client as the Schemas API would."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from orderflow_local import schemas_api
from orderflow_local.api_gateway import LocalApiGateway
from orderflow_local.schema_store import SchemaStore

pytestmark = pytest.mark.enable_socket

RECEIVED = "orderflow.orders@OrderReceived-v1"
COMPLETED = "orderflow.orders@OrderCompleted-v1"
RESERVED = "orderflow.inventory@StockReserved-v1"
RECEIVED_CONTENT = json.dumps({"$schema": "http://json-schema.org/draft-04/schema#", "type": "object"})


# Module-scoped: the API cannot change the store, and each gateway takes 0.5 s to shut down.
@pytest.fixture(scope="module")
def store() -> SchemaStore:
    store = SchemaStore()
    store.create_registry("orderflow", "orderflow events", {"team": "platform"})
    store.create_registry("other")
    store.create_schema("orderflow", RECEIVED, "JSONSchemaDraft4", RECEIVED_CONTENT, "A new order")
    store.create_schema("orderflow", COMPLETED, "JSONSchemaDraft4", "{}")
    store.create_schema("orderflow", RESERVED, "OpenApi3", "{}", tags={"owner": "inventory"})
    return store


@pytest.fixture(scope="module")
def gateway(store: SchemaStore) -> Iterator[LocalApiGateway]:
    gateway = LocalApiGateway("127.0.0.1", 0, lambda: (True, {}))
    gateway.mount(schemas_api.PREFIX, schemas_api.SchemasApi(store).respond)
    gateway.start()
    yield gateway
    gateway.stop()


@pytest.fixture(scope="module")
def schemas(gateway: LocalApiGateway) -> Any:
    return boto3.client(
        "schemas",
        endpoint_url=gateway.url,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=Config(retries={"max_attempts": 1}),
    )


def error_code(error: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = error.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def test_registries_are_listed_and_described(schemas: Any) -> None:
    registries = schemas.list_registries()["Registries"]
    assert [r["RegistryName"] for r in registries] == ["orderflow", "other"]
    assert registries[0]["RegistryArn"] == "arn:aws:schemas:us-east-1:123456789012:registry/orderflow"
    assert [r["RegistryName"] for r in schemas.list_registries(RegistryNamePrefix="oth")["Registries"]] == [
        "other"
    ]
    # The registries AWS itself provides (aws.events) do not exist locally.
    assert schemas.list_registries(Scope="AWS")["Registries"] == []
    described = schemas.describe_registry(RegistryName="orderflow")
    assert described["Description"] == "orderflow events"
    assert described["Tags"] == {"team": "platform"}


def test_schemas_are_listed_by_name_prefix(schemas: Any) -> None:
    listed = schemas.list_schemas(RegistryName="orderflow")["Schemas"]
    assert [s["SchemaName"] for s in listed] == [RESERVED, COMPLETED, RECEIVED]
    assert {s["VersionCount"] for s in listed} == {1}
    orders = schemas.list_schemas(RegistryName="orderflow", SchemaNamePrefix="orderflow.orders@")["Schemas"]
    assert [s["SchemaName"] for s in orders] == [COMPLETED, RECEIVED]
    assert schemas.list_schemas(RegistryName="other")["Schemas"] == []


def test_a_schema_is_described_with_its_content_latest_or_by_version(schemas: Any) -> None:
    latest = schemas.describe_schema(RegistryName="orderflow", SchemaName=RECEIVED)
    assert latest["Content"] == RECEIVED_CONTENT
    assert (latest["SchemaVersion"], latest["Type"], latest["Description"]) == (
        "1",
        "JSONSchemaDraft4",
        "A new order",
    )
    assert latest["SchemaArn"] == f"arn:aws:schemas:us-east-1:123456789012:schema/orderflow/{RECEIVED}"
    assert latest["VersionCreatedDate"].tzinfo is not None  # parsed as the model's timestamp
    first = schemas.describe_schema(RegistryName="orderflow", SchemaName=RECEIVED, SchemaVersion="1")
    assert first["Content"] == RECEIVED_CONTENT
    versions = schemas.list_schema_versions(RegistryName="orderflow", SchemaName=RESERVED)["SchemaVersions"]
    assert versions == [
        {
            "SchemaArn": f"arn:aws:schemas:us-east-1:123456789012:schema/orderflow/{RESERVED}",
            "SchemaName": RESERVED,
            "SchemaVersion": "1",
            "Type": "OpenApi3",
        }
    ]


def test_pages_follow_next_tokens(schemas: Any) -> None:
    pages = list(
        schemas.get_paginator("list_schemas").paginate(
            RegistryName="orderflow", PaginationConfig={"PageSize": 2}
        )
    )
    assert [[s["SchemaName"] for s in page["Schemas"]] for page in pages] == [
        [RESERVED, COMPLETED],
        [RECEIVED],
    ]
    with pytest.raises(ClientError) as error:
        schemas.list_schemas(RegistryName="orderflow", NextToken="not-a-token")
    assert error_code(error) == (400, "BadRequestException")


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.describe_registry(RegistryName="missing"),
        lambda s: s.list_schemas(RegistryName="missing"),
        lambda s: s.describe_schema(RegistryName="missing", SchemaName=RECEIVED),
        lambda s: s.describe_schema(RegistryName="orderflow", SchemaName="orderflow.orders@Missing-v1"),
        lambda s: s.describe_schema(RegistryName="orderflow", SchemaName=RECEIVED, SchemaVersion="2"),
        lambda s: s.list_schema_versions(RegistryName="orderflow", SchemaName="orderflow.orders@Missing-v1"),
    ],
    ids=["registry", "schemas-of-registry", "schema-in-missing-registry", "schema", "version", "versions"],
)
def test_unknown_registries_schemas_and_versions_are_not_found(schemas: Any, call: Any) -> None:
    with pytest.raises(schemas.exceptions.NotFoundException) as error:
        call(schemas)
    assert error_code(error) == (404, "NotFoundException")


@pytest.mark.parametrize(
    "call",
    [
        lambda s: s.create_registry(RegistryName="new"),
        lambda s: s.create_schema(RegistryName="orderflow", SchemaName="x", Type="OpenApi3", Content="{}"),
        lambda s: s.update_schema(RegistryName="orderflow", SchemaName=RECEIVED, Content="{}"),
        lambda s: s.delete_schema(RegistryName="orderflow", SchemaName=RECEIVED),
        lambda s: s.delete_registry(RegistryName="orderflow"),
    ],
    ids=["create-registry", "create-schema", "update-schema", "delete-schema", "delete-registry"],
)
def test_writes_are_refused_because_the_registry_is_read_only(
    schemas: Any, store: SchemaStore, call: Any
) -> None:
    with pytest.raises(schemas.exceptions.ForbiddenException) as error:
        call(schemas)
    assert error_code(error) == (403, "ForbiddenException")
    assert "read-only" in error.value.response["Error"]["Message"]
    assert [r.name for r in store.registries()] == ["orderflow", "other"]
    assert store.schema("orderflow", RECEIVED) is not None


def test_an_operation_the_local_registry_does_not_serve_says_so(schemas: Any) -> None:
    with pytest.raises(ClientError) as error:
        schemas.search_schemas(RegistryName="orderflow", Keywords="Order")
    assert error_code(error) == (501, "NotImplementedException")
    assert "DescribeSchema" in error.value.response["Error"]["Message"]


def test_only_paths_under_the_prefix_reach_the_registry(gateway: LocalApiGateway) -> None:
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(f"{gateway.url}/v1/registries-of-something-else", timeout=10)
    assert error.value.code == 404
    assert json.loads(error.value.read()) == {"message": "no route for /v1/registries-of-something-else"}
