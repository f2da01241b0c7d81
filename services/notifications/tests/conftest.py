from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from notifications import runtime
from notifications.handlers import customer_alerts, send_confirmation
from orderflow_shared.aws import client
from orderflow_shared.contracts.orders import OrderFailureData, SendConfirmationData
from orderflow_shared.contracts.values import Customer, PricedLine, PricedOrder, ShippingAddress
from orderflow_shared.testing import (
    REGION,
    PublishedEvents,
    WorkflowAnswers,
    mocked_aws,
    use_fake_aws,
)
from orderflow_shared.testing.template import SamTemplate

TEMPLATE = SamTemplate.load(Path(__file__).parents[1] / "template.yaml")
SENDER = "orders@orderflow.example"
CUSTOMER = Customer(id="c-1", email="ana@example.com")
# A Friday, so the delivery window spans a weekend.
CONFIRMED_AT = datetime(2026, 5, 15, 12, 0, tzinfo=UTC)


@pytest.fixture
def confirmation_data() -> SendConfirmationData:
    return SendConfirmationData(
        customer=CUSTOMER,
        shipping_address=ShippingAddress(
            name="Ana Pérez",
            line1="Calle Mayor 1",
            line2="Piso 2",
            city="Madrid",
            postal_code="28013",
            country="ES",
        ),
        order=PricedOrder(
            lines=[
                PricedLine(sku="KB-001", quantity=2, unit_price=4999, line_total=9998),
                PricedLine(sku="MS-002", quantity=1, unit_price=123456, line_total=123456),
            ],
            total_amount=133454,
            currency="USD",
        ),
        invoice_url="https://invoices.example/invoices/o-1/invoice.pdf?X-Amz-Signature=abc&X-Amz-Expires=604800",
    )


@pytest.fixture
def out_of_stock_data() -> OrderFailureData:
    return OrderFailureData(customer=CUSTOMER, error="OutOfStock", reason="KB-001: 2 requested, 1 available")


@pytest.fixture
def payment_failed_data() -> OrderFailureData:
    return OrderFailureData(customer=CUSTOMER, error="PaymentDeclined", reason="The card was declined")


@dataclass
class Stack:
    ses: Any
    published: PublishedEvents

    def sent_emails(self) -> list[Any]:
        return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_aws(monkeypatch, "notifications", SENDER_EMAIL=SENDER, **TEMPLATE.table_environment())


@pytest.fixture
def unverified_stack() -> Iterator[Stack]:
    """Everything but the sender's SES identity."""
    with mocked_aws(runtime.customer_notifier, send_confirmation._router, customer_alerts._router):
        TEMPLATE.create_tables(client("dynamodb"))
        yield Stack(ses=client("ses"), published=PublishedEvents.subscribe())


@pytest.fixture
def stack(unverified_stack: Stack) -> Stack:
    unverified_stack.ses.verify_email_identity(EmailAddress=SENDER)
    return unverified_stack


@pytest.fixture
def workflow(unverified_stack: Stack) -> WorkflowAnswers:
    return WorkflowAnswers().attach(client("stepfunctions"))
