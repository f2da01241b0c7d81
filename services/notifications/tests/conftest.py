from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from notifications.handlers import email_sent, wiring
from orderflow_devtools.testing import (
    REGION,
    FakeLambdaContext,
    PublishedEvents,
    WorkflowAnswers,
    mocked_aws,
    sqs_event,
    use_fake_aws,
)
from orderflow_devtools.testing.template import SamTemplate
from orderflow_local import moto_compat
from orderflow_shared.aws import client
from orderflow_shared.contracts.orders import OrderFailureData, SendConfirmationData
from orderflow_shared.contracts.values import Customer, PricedLine, PricedOrder, ShippingAddress

TEMPLATE = SamTemplate.load(Path(__file__).parents[1] / "template.yaml")
SENDER = "orders@orderflow.example"
CONFIGURATION_SET = "orderflow-notifications-emails"
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
        invoice_url="https://api.orderflow.example/Prod/orders/o-1/invoice",
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
    use_fake_aws(
        monkeypatch,
        "notifications",
        SENDER_EMAIL=SENDER,
        SES_CONFIGURATION_SET=CONFIGURATION_SET,
        **TEMPLATE.table_environment(),
    )


@pytest.fixture
def unverified_stack() -> Iterator[Stack]:
    """Everything but the sender's SES identity."""
    with mocked_aws(*wiring.CACHED):
        TEMPLATE.create_tables(client("dynamodb"))
        client("sesv2").create_configuration_set(ConfigurationSetName=CONFIGURATION_SET)
        yield Stack(ses=client("ses"), published=PublishedEvents.subscribe())


@pytest.fixture
def stack(unverified_stack: Stack) -> Stack:
    unverified_stack.ses.verify_email_identity(EmailAddress=SENDER)
    return unverified_stack


@pytest.fixture
def workflow(unverified_stack: Stack) -> WorkflowAnswers:
    return WorkflowAnswers().attach(client("stepfunctions"))


# The local runtime's SES and EventBridge: SES publishes "Email Sent" for each email sent with a
# configuration set whose event destination asks for it, as AWS does (stock moto publishes nothing),
# and the event reaches the queue whole (stock moto leaves out "account").
SES_EVENT_FIXES = ("ConfigurationSetEventDestinations", "EmailSentEvents", "DeliveredEventsCarryAccount")


@dataclass
class SesReports:
    """SES's "Email Sent" events, routed by the template's rule to a queue the test hands to the
    sent-emails consumer."""

    queue_url: str

    def bodies(self) -> list[str]:
        sqs, bodies = client("sqs"), []
        while messages := sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
            "Messages"
        ):
            for message in messages:
                bodies.append(message["Body"])
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return bodies

    def deliver(self, bodies: list[str] | None = None) -> dict[str, Any]:
        """Hands the reports (by default, every one not yet delivered) to the consumer in one batch."""
        event = sqs_event(*(self.bodies() if bodies is None else bodies))
        response: dict[str, Any] = email_sent.handler(event, FakeLambdaContext())
        return response


@pytest.fixture
def ses_reports(unverified_stack: Stack) -> Iterator[SesReports]:
    fixes = [fix for fix in moto_compat.FIXES if fix.name in SES_EVENT_FIXES and not fix.applied]
    for fix in fixes:
        fix.apply()
    try:
        client("sesv2").create_configuration_set_event_destination(
            ConfigurationSetName=CONFIGURATION_SET,
            EventDestinationName="email-sent-to-eventbridge",
            EventDestination={
                "Enabled": True,
                "MatchingEventTypes": ["SEND"],
                "EventBridgeDestination": {
                    "EventBusArn": f"arn:aws:events:{REGION}:{DEFAULT_ACCOUNT_ID}:event-bus/default"
                },
            },
        )
        pattern = json.dumps(TEMPLATE.rule_feeding("EmailSentFunction")["EventPattern"]).replace(
            json.dumps({"Ref": "EmailConfigurationSet"}), json.dumps(CONFIGURATION_SET)
        )
        sqs, events = client("sqs"), client("events")
        queue_url = sqs.create_queue(QueueName="email-sent")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(Name="email-sent", EventPattern=pattern)  # the default bus, as in the template
        events.put_targets(Rule="email-sent", Targets=[{"Id": "queue", "Arn": queue_arn}])
        yield SesReports(queue_url)
    finally:
        for fix in reversed(fixes):
            fix.revert()
