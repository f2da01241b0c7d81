"""Fixtures: an in-process AWS (moto) provisioned from this service's own template.yaml."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from inventory.handlers import wiring
from inventory.store import InventoryStore
from orderflow_shared.aws import client
from orderflow_shared.testing import (
    FakeLambdaContext,
    PublishedEvents,
    WorkflowAnswers,
    mocked_aws,
    use_fake_aws,
)
from orderflow_shared.testing.template import SamTemplate

TEMPLATE = SamTemplate.load(Path(__file__).parents[1] / "template.yaml")


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_aws(monkeypatch, "inventory", **TEMPLATE.table_environment())


@pytest.fixture
def aws() -> Iterator[None]:
    with mocked_aws(wiring.store, wiring.inventory, wiring.publisher):
        TEMPLATE.create_tables(client("dynamodb"))
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
def context() -> FakeLambdaContext:
    return FakeLambdaContext()
