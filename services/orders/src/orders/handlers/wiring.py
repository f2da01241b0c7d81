"""What every orders handler shares: its telemetry and the objects kept for the container's life.

Names and settings come from the environment that template.yaml sets; the objects are built on
first use, so importing a handler needs no AWS configuration, and each is imported when it is first
built, so a function loads only what it calls: the status projector has no use for placing orders
(and the email rules their models check), and only a POST /orders with an Idempotency-Key uses
Powertools' idempotency utility.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from orderflow_shared.aws import client, dynamodb_table
from orderflow_shared.observability import telemetry
from orderflow_shared.publisher import EventPublisher
from orders.repository import OrdersRepository
from orders.workflow import OrderWorkflow

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    from orders.invoices import InvoiceDownloads
    from orders.service import OrdersService

# The Powertools logger is named after POWERTOOLS_SERVICE_NAME ("orders"), so the domain's module
# loggers (orders.*) propagate to it and share its JSON format and correlation id.
TELEMETRY = telemetry()

# A retried POST with the same Idempotency-Key returns the first answer for this long.
IDEMPOTENCY_SECONDS = 24 * 3600

# What the API runs once per retry identity: placing an order, answered with its view.
Placement = Callable[..., dict[str, Any]]


@functools.cache
def repository() -> OrdersRepository:
    return OrdersRepository(dynamodb_table(os.environ["ORDERS_TABLE"]))


@functools.cache
def workflow() -> OrderWorkflow:
    return OrderWorkflow(client("stepfunctions"), os.environ["STATE_MACHINE_ARN"])


@functools.cache
def orders_service() -> OrdersService:
    """Placing orders (their payment tokens sealed for payments) and reading them."""
    from orderflow_shared.payment_tokens import PaymentTokenSealer
    from orders.service import OrdersService

    return OrdersService(
        repository(),
        workflow(),
        publisher(),
        # One sealer per container: its data key, and so its KMS call, serves the orders it places.
        PaymentTokenSealer(client("kms"), os.environ["PAYMENT_TOKEN_KEY_ARN"]),
    )


@functools.cache
def pending_starts() -> OrdersService:
    """Starting the sagas of stored orders: no order is placed, so no token is sealed."""
    from orders.service import OrdersService

    return OrdersService(repository(), workflow(), publisher())


@functools.cache
def invoice_downloads() -> InvoiceDownloads:
    from orders.invoices import InvoiceDownloads

    return InvoiceDownloads(
        client("s3"), os.environ["INVOICES_BUCKET"], int(os.environ["INVOICE_DOWNLOAD_SECONDS"])
    )


@functools.cache
def publisher() -> EventPublisher:
    # The API has no queue to retry a rejected announcement for it, so the publisher tries again itself;
    # for the functions behind a queue that only spares a redelivery.
    return EventPublisher(attempts=3)


@functools.cache
def idempotency_config() -> IdempotencyConfig:
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    # Reusing a key for a different body is refused rather than silently answered with the other order.
    return IdempotencyConfig(
        event_key_jmespath="key",
        payload_validation_jmespath="body",
        expires_after_seconds=IDEMPOTENCY_SECONDS,
    )


@functools.cache
def once_per_retry_identity(function: Placement) -> Placement:
    """``function`` run once per ``retry_identity`` keyword argument: Powertools' idempotent_function,
    whose records are keyed by the function's module and name (untyped; what it returns keeps the
    signature)."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, idempotent_function

    idempotent: Placement = idempotent_function(
        function,
        data_keyword_argument="retry_identity",
        config=idempotency_config(),
        persistence_store=DynamoDBPersistenceLayer(
            table_name=os.environ["IDEMPOTENCY_TABLE"], boto3_client=client("dynamodb")
        ),
    )
    return idempotent


CACHED = (
    repository,
    workflow,
    orders_service,
    pending_starts,
    invoice_downloads,
    publisher,
    idempotency_config,
    once_per_retry_identity,
)
"""Every object above, for tests that build them afresh in each fake AWS."""
