"""What every payments handler shares: its telemetry and the objects kept for the container's life.

Names and settings come from the environment that template.yaml sets; the objects are built on
first use, so importing a handler needs no AWS configuration, and each is imported when it is first
built, so a function loads only what it calls (recording a priced reservation needs no provider
client). The provider's API key is read from Secrets Manager (``PAYMENT_PROVIDER_SECRET_NAME``) and
cached for a few minutes, so a key an operator rotates is picked up without a deploy.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

from orderflow_shared.aws import client, dynamodb_table
from orderflow_shared.observability import telemetry
from orderflow_shared.publisher import EventPublisher

if TYPE_CHECKING:
    from payments.ledger import DynamoDbPaymentLedger
    from payments.processing import PaymentProcessor
    from payments.provider import PaymentProviderClient
    from payments.reconciliation import PaymentReconciler
    from payments.verification import ProcessPaymentVerifier

SECRET_MAX_AGE_SECONDS = 300

# The Powertools logger is named after POWERTOOLS_SERVICE_NAME ("payments"), so the domain's
# module loggers (payments.*) propagate to it and share its JSON format and correlation id.
TELEMETRY = telemetry()


def provider_api_key() -> str:
    from aws_lambda_powertools.utilities import parameters

    secret = parameters.get_secret(os.environ["PAYMENT_PROVIDER_SECRET_NAME"], max_age=SECRET_MAX_AGE_SECONDS)
    key = secret.strip() if isinstance(secret, str) else ""
    if not key:
        raise RuntimeError("the payment provider secret holds no API key")
    return key


@functools.cache
def ledger() -> DynamoDbPaymentLedger:
    from payments.ledger import DynamoDbPaymentLedger

    return DynamoDbPaymentLedger(dynamodb_table(os.environ["PAYMENTS_TABLE"]))


@functools.cache
def provider() -> PaymentProviderClient:
    from payments.provider import PaymentProviderClient, timeout_from

    return PaymentProviderClient(
        os.environ["PAYMENT_PROVIDER_URL"], api_key=provider_api_key, timeout=timeout_from(os.environ)
    )


@functools.cache
def publisher() -> EventPublisher:
    return EventPublisher()


@functools.cache
def payment_reconciler() -> PaymentReconciler:
    from payments.reconciliation import PaymentReconciler, ReconcileTiming

    return PaymentReconciler(
        ledger(), provider(), publisher().publish, timing=ReconcileTiming.from_env(os.environ)
    )


@functools.cache
def verifier() -> ProcessPaymentVerifier:
    from orderflow_shared.payment_tokens import PaymentTokenOpener
    from orderflow_shared.priced_reservations import PricedReservationOpener
    from payments.verification import ProcessPaymentVerifier

    kms, key_arn = client("kms"), os.environ["PAYMENT_TOKEN_KEY_ARN"]
    # One opener of each per container: a data key it opened serves every command sealed under it.
    return ProcessPaymentVerifier(
        PricedReservationOpener(kms, key_arn).total, PaymentTokenOpener(kms, key_arn)
    )


@functools.cache
def payment_processor() -> PaymentProcessor:
    from payments.processing import PaymentProcessor

    return PaymentProcessor(
        ledger(), provider(), publisher().publish, payment_reconciler().reconcile, verifier().verify
    )


CACHED = (ledger, provider, publisher, payment_reconciler, verifier, payment_processor)
"""Every object above, for tests that build them afresh in each fake AWS."""
