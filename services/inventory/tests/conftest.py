"""Fixtures: an in-process AWS (moto) provisioned from this service's own template.yaml."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from inventory.handlers import wiring
from inventory.stock_keeping import StockKeeping
from inventory.store import InventoryStore
from orderflow_devtools.testing import (
    FakeLambdaContext,
    PublishedEvents,
    WorkflowAnswers,
    mocked_aws,
    use_fake_aws,
)
from orderflow_devtools.testing.dynamodb import dynamodb_requests
from orderflow_devtools.testing.template import TABLE, SamTemplate
from orderflow_shared.aws import client

TEMPLATE = SamTemplate.load(Path(__file__).parents[1] / "template.yaml")


def template_parameter(name: str) -> str:
    return str(TEMPLATE.document["Parameters"][name]["Default"])


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_aws(monkeypatch, "inventory", **TEMPLATE.table_environment())
    monkeypatch.setenv("RESERVATION_OVERDUE_SECONDS", template_parameter("ReservationOverdueSeconds"))


def create_tables(dynamodb: Any) -> None:
    """Every table as the template declares it, secondary indexes included (the sweeper reads one)."""
    for logical_id, table in TEMPLATE.properties(TABLE).items():
        indexes = (
            {"GlobalSecondaryIndexes": table["GlobalSecondaryIndexes"]}
            if "GlobalSecondaryIndexes" in table
            else {}
        )
        dynamodb.create_table(
            TableName=logical_id,
            KeySchema=table["KeySchema"],
            AttributeDefinitions=table["AttributeDefinitions"],
            BillingMode=table["BillingMode"],
            **indexes,
        )


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The tables as the template declares them, and the KMS key priced totals are sealed with for
    payments (infra's PaymentTokenKey)."""
    with mocked_aws(*wiring.CACHED):
        create_tables(client("dynamodb"))
        key_arn = client("kms").create_key(Description="what payments trusts")["KeyMetadata"]["Arn"]
        monkeypatch.setenv("PRICED_RESERVATION_KEY_ARN", key_arn)
        yield


@pytest.fixture
def published(aws: None) -> PublishedEvents:
    return PublishedEvents.subscribe()


@pytest.fixture
def workflow(aws: None) -> WorkflowAnswers:
    return WorkflowAnswers().attach(client("stepfunctions"))


@pytest.fixture
def store(aws: None) -> InventoryStore:
    return wiring.store()


@pytest.fixture
def dynamodb_calls(store: InventoryStore) -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Every DynamoDB call the store makes from here on: (operation, its parameters as passed)."""
    with dynamodb_requests(store._catalogue.meta.client, store._reservations.meta.client) as calls:
        yield calls


@pytest.fixture
def stock_keeping(aws: None) -> StockKeeping:
    """The operator's side: setting and adjusting stock, every change logged."""
    return wiring.stock_keeping()


@pytest.fixture
def context() -> FakeLambdaContext:
    return FakeLambdaContext()
