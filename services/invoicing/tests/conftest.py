from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from invoicing.handlers import wiring
from orderflow_devtools.testing import PublishedEvents, WorkflowAnswers, mocked_aws, use_fake_aws
from orderflow_devtools.testing.template import SamTemplate
from orderflow_shared.aws import client, dynamodb_table
from orderflow_shared.contracts.orders import GenerateInvoiceData
from orderflow_shared.contracts.values import Customer, PricedLine, PricedOrder, ShippingAddress

TEMPLATE = SamTemplate.load(Path(__file__).parents[1] / "template.yaml")
TABLES = TEMPLATE.table_environment()
BUCKET = "orderflow-invoices-test"
LINK_BASE_URL = "https://api.orderflow.test/Prod"


@pytest.fixture
def invoice_data() -> GenerateInvoiceData:
    return GenerateInvoiceData(
        customer=Customer(id="c-1", email="ana@example.com"),
        shipping_address=ShippingAddress(
            name="Ana Pérez", line1="Calle Mayor 1", city="Madrid", postal_code="28013", country="ES"
        ),
        order=PricedOrder(
            lines=[
                PricedLine(sku="KB-001", quantity=2, unit_price=4999, line_total=9998),
                PricedLine(sku="MS-002", quantity=1, unit_price=123456, line_total=123456),
            ],
            total_amount=133454,
            currency="USD",
        ),
        payment_id="pay-7",
    )


@dataclass
class Stack:
    s3: Any
    table: Any
    published: PublishedEvents


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_aws(
        monkeypatch, "invoicing", INVOICES_BUCKET=BUCKET, INVOICE_LINK_BASE_URL=LINK_BASE_URL, **TABLES
    )


@pytest.fixture
def stack() -> Iterator[Stack]:
    with mocked_aws(*wiring.CACHED):
        client("s3").create_bucket(Bucket=BUCKET)
        TEMPLATE.create_tables(client("dynamodb"))
        yield Stack(
            s3=client("s3"),
            table=dynamodb_table(TABLES["INVOICES_TABLE"]),
            published=PublishedEvents.subscribe(),
        )


@pytest.fixture
def workflow(stack: Stack) -> WorkflowAnswers:
    return WorkflowAnswers().attach(client("stepfunctions"))
