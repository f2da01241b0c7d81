from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from orderflow_devtools.testing import PublishedEvents, customer_claims, mocked_aws, use_fake_aws
from orderflow_devtools.testing.template import SamTemplate
from orderflow_shared.aws import client, dynamodb_table
from orders.handlers import wiring

SERVICE_ROOT = Path(__file__).resolve().parents[1]
ASL_PATH = SERVICE_ROOT / "statemachine" / "order_saga.asl.json"
TEMPLATE = SamTemplate.load(SERVICE_ROOT / "template.yaml")
TABLES = TEMPLATE.table_environment()
# The invoicing stack's bucket the API presigns invoice downloads from, and the template's default lifetime.
INVOICES_BUCKET = "orderflow-invoices-test"
INVOICE_DOWNLOAD_SECONDS = TEMPLATE.document["Parameters"]["InvoiceDownloadSeconds"]["Default"]

# The signed-in customer VALID names, and another one.
ANA = customer_claims("c-1", "ana@example.com")
BO = customer_claims("c-2", "bo@example.com")

# A valid POST /orders body, placed by ANA.
VALID = {
    "customer": {"id": "c-1", "email": "ana@example.com"},
    "items": [{"sku": "KB-001", "quantity": 2}],
    "payment": {"token": "tok_visa"},
    "shippingAddress": {
        "name": "Ana",
        "line1": "1 Road",
        "city": "Lisbon",
        "postalCode": "1100",
        "country": "PT",
    },
}


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_aws(
        monkeypatch,
        "orders",
        INVOICES_BUCKET=INVOICES_BUCKET,
        INVOICE_DOWNLOAD_SECONDS=str(INVOICE_DOWNLOAD_SECONDS),
        **TABLES,
    )


@pytest.fixture
def aws() -> Iterator[PublishedEvents]:
    """The fake AWS with the service's tables and the domain-events bus, whose events it yields."""
    with mocked_aws(*wiring.CACHED):
        TEMPLATE.create_tables(client("dynamodb"))
        yield PublishedEvents.subscribe()


@pytest.fixture
def published(aws: PublishedEvents) -> PublishedEvents:
    return aws


@pytest.fixture
def orders_table(aws: PublishedEvents) -> Any:
    return dynamodb_table(TABLES["ORDERS_TABLE"])


@pytest.fixture
def state_machine_arn(aws: PublishedEvents, monkeypatch: pytest.MonkeyPatch) -> str:
    definition = (
        ASL_PATH.read_text()
        .replace("${EventBusName}", "orderflow")
        .replace("${CommandsBusName}", "orderflow-commands")
    )
    arn: str = client("stepfunctions").create_state_machine(
        name="order-saga", definition=definition, roleArn="arn:aws:iam::123456789012:role/saga"
    )["stateMachineArn"]
    monkeypatch.setenv("STATE_MACHINE_ARN", arn)
    return arn


@pytest.fixture
def payment_token_key(aws: PublishedEvents, monkeypatch: pytest.MonkeyPatch) -> str:
    """The KMS key the API seals payment tokens with (infra's PaymentTokenKey)."""
    arn: str = client("kms").create_key(Description="payment tokens")["KeyMetadata"]["Arn"]
    monkeypatch.setenv("PAYMENT_TOKEN_KEY_ARN", arn)
    return arn


@pytest.fixture
def api(orders_table: Any, state_machine_arn: str, payment_token_key: str) -> ModuleType:
    """The API handler module; what it builds on first use is built inside the mocked AWS."""
    import orders.handlers.api as module

    return module


def executions(state_machine_arn: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = client("stepfunctions").list_executions(stateMachineArn=state_machine_arn)[
        "executions"
    ]
    return result


def body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])
