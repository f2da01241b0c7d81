"""Fixtures: an in-process AWS (moto) shaped by this service's template.yaml; the local payment provider."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from aws_lambda_powertools.utilities import parameters

from orderflow_devtools.testing import (
    FakeLambdaContext,
    PublishedEvents,
    WorkflowAnswers,
    mocked_aws,
    use_fake_aws,
)
from orderflow_devtools.testing.template import SamTemplate
from orderflow_local.payment_provider import PaymentProviderServer
from orderflow_shared.aws import client
from orderflow_shared.contracts import ProcessPayment
from orderflow_shared.contracts.orders import ProcessPaymentData
from orderflow_shared.payment_tokens import PaymentTokenSealer
from orderflow_shared.priced_reservations import PricedReservationSealer
from payments.handlers import wiring

TEMPLATE = SamTemplate.load(Path(__file__).parents[1] / "template.yaml")
TABLES = TEMPLATE.table_environment()
PAYMENTS_TABLE = TABLES["PAYMENTS_TABLE"]
SECRET_NAME = "orderflow-payments/payment-provider-api-key"

# Short, so that the tests of lost answers take a second, not the deployed 20 s; the provider's
# slow tokens take longer than the adapter waits, as the local system sets them.
# The gap between the two is how long a test has, after the adapter gave up, to see the charge still
# missing: 1.5 s, because half a second was not always enough on a busy two-core CI machine.
READ_TIMEOUT_SECONDS = 0.5
SLOW_ANSWER_SECONDS = READ_TIMEOUT_SECONDS + 1.5


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_aws(
        monkeypatch,
        "payments",
        **TABLES,
        PAYMENT_PROVIDER_SECRET_NAME=SECRET_NAME,
    )


@pytest.fixture
def api_key() -> str:
    return f"sk_test_{secrets.token_hex(16)}"


@pytest.fixture
def aws(api_key: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The tables as the template declares them, the provider key in Secrets Manager, and the KMS
    key payment tokens and priced reservations are sealed with (infra's PaymentTokenKey)."""
    with mocked_aws(*wiring.CACHED):
        parameters.clear_caches()  # the provider key Powertools fetched in an earlier test
        TEMPLATE.create_tables(client("dynamodb"))
        client("secretsmanager").create_secret(Name=SECRET_NAME, SecretString=api_key)
        key_arn = client("kms").create_key(Description="payment tokens")["KeyMetadata"]["Arn"]
        monkeypatch.setenv("PAYMENT_TOKEN_KEY_ARN", key_arn)
        yield
        parameters.clear_caches()


@pytest.fixture
def provider(api_key: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[PaymentProviderServer]:
    with PaymentProviderServer(api_key=api_key, slow_answer_seconds=SLOW_ANSWER_SECONDS) as server:
        monkeypatch.setenv("PAYMENT_PROVIDER_URL", server.url)
        monkeypatch.setenv("PAYMENT_PROVIDER_READ_TIMEOUT_SECONDS", str(READ_TIMEOUT_SECONDS))
        yield server


@pytest.fixture
def published(aws: None) -> PublishedEvents:
    return PublishedEvents.subscribe()


@pytest.fixture
def workflow(aws: None) -> WorkflowAnswers:
    return WorkflowAnswers().attach(client("stepfunctions"))


@pytest.fixture
def context() -> FakeLambdaContext:
    return FakeLambdaContext()


# What a test command carries before ``priced`` seals its total as inventory would: opens nowhere.
UNSEALED = "unsealed"


def payment_command(
    order_id: str = "o-1",
    *,
    payment_token: str = "tok_visa",
    amount: int = 2599,
    currency: str = "USD",
    task_token: str = "task-1",
) -> ProcessPayment:
    """A ProcessPayment as the workflow sends it, before its token and total are sealed
    (``sealed_and_priced``)."""
    data = ProcessPaymentData(
        customer_id="c-1",
        amount=amount,
        currency=currency,
        payment_token=payment_token,
        priced_reservation=UNSEALED,
    )
    return ProcessPayment.create(order_id, data, task_token=task_token)


def sealed_and_priced(command: ProcessPayment) -> ProcessPayment:
    """``command`` as the workflow sends it for a real order: its token sealed for its order by the
    orders API, and its amount sealed for its order by inventory."""
    return priced(sealed(command))


def priced(command: ProcessPayment, amount: int | None = None, currency: str | None = None) -> ProcessPayment:
    """``command`` carrying a priced reservation sealed as inventory seals it: of the command's own
    total, or of ``amount`` and ``currency``."""
    sealer = PricedReservationSealer(client("kms"), os.environ["PAYMENT_TOKEN_KEY_ARN"])
    seal = sealer.seal(
        command.order_id,
        command.data.amount if amount is None else amount,
        command.data.currency if currency is None else currency,
    )
    return _with_data(command, priced_reservation=seal)


def sealed(command: ProcessPayment) -> ProcessPayment:
    seal = PaymentTokenSealer(client("kms"), os.environ["PAYMENT_TOKEN_KEY_ARN"])
    return _with_data(command, payment_token=seal(command.order_id, command.data.payment_token))


def _with_data(command: ProcessPayment, **changes: str) -> ProcessPayment:
    return command.model_copy(update={"data": command.data.model_copy(update=changes)})
