"""RefundFailedOrdersFunction in moto, against the local payment provider: a failed order's charge
is given back once, whichever failure events arrive and however often."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities import parameters
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from orderflow_devtools.testing import FakeLambdaContext, PublishedEvents, WorkflowAnswers, sqs_event
from orderflow_local.payment_provider import PaymentProviderServer
from orderflow_shared.aws import client
from orderflow_shared.contracts import OrderFailed, OrderPaymentFailed, PaymentRefunded
from orderflow_shared.contracts.orders import OrderFailureData
from orderflow_shared.contracts.values import Customer
from payments.handlers import process_payment, refund_failed_orders, wiring
from payments.model import PaymentStatus

from .conftest import SECRET_NAME, payment_command, sealed_and_priced

pytestmark = [pytest.mark.enable_socket, pytest.mark.usefixtures("aws", "provider", "published", "workflow")]

ORDER_ID = "o-1"
REASON = "Your payment could not be processed."


def failed(model: type[OrderFailed] | type[OrderPaymentFailed], order_id: str = ORDER_ID) -> Any:
    data = OrderFailureData(customer=Customer(id="c-1", email="ana@example.com"), error="X", reason=REASON)
    return model.create(order_id, data)


def charged(order_id: str = ORDER_ID) -> None:
    process_payment.handler(sqs_event(sealed_and_priced(payment_command(order_id))), FakeLambdaContext())


def test_a_failed_order_that_was_charged_is_refunded_and_the_refund_announced(
    provider: PaymentProviderServer, published: PublishedEvents
) -> None:
    charged()
    [charge] = provider.ledger(ORDER_ID)["charges"]

    response = refund_failed_orders.handler(sqs_event(failed(OrderFailed)), FakeLambdaContext())

    assert response == {"batchItemFailures": []}
    [event] = published.of_type(PaymentRefunded)
    [refund] = provider.ledger(ORDER_ID)["refunds"]
    assert event.order_id == ORDER_ID
    assert (event.data.payment_id, event.data.refund_id) == (charge["id"], refund["id"])
    assert (event.data.amount, event.data.currency, event.data.reason) == (2599, "USD", REASON)
    assert provider.ledger(ORDER_ID)["netAmount"] == 0
    record = wiring.ledger().get(ORDER_ID)
    assert record is not None
    assert (record.status, record.reconcile_due) == (PaymentStatus.CANCELLED, None)


def test_both_failure_events_and_their_redeliveries_refund_once(
    provider: PaymentProviderServer, published: PublishedEvents
) -> None:
    charged()
    events = [failed(OrderPaymentFailed), failed(OrderFailed)]

    refund_failed_orders.handler(sqs_event(*events), FakeLambdaContext())
    refund_failed_orders.handler(sqs_event(*events), FakeLambdaContext())

    assert len(provider.ledger(ORDER_ID)["refunds"]) == 1
    assert len(published.of_type(PaymentRefunded)) == 1
    assert provider.attempts(f"order-{ORDER_ID}-refund-{provider.ledger(ORDER_ID)['charges'][0]['id']}") == 1


def test_a_failed_order_never_charged_is_fenced_and_refunds_nothing(
    provider: PaymentProviderServer, published: PublishedEvents
) -> None:
    response = refund_failed_orders.handler(sqs_event(failed(OrderPaymentFailed)), FakeLambdaContext())

    assert response == {"batchItemFailures": []}
    assert published.of_type(PaymentRefunded) == []
    record = wiring.ledger().get(ORDER_ID)
    assert record is not None
    assert (record.status, record.attempts, record.reconcile_due) == (PaymentStatus.CANCELLED, 0, None)


def test_one_orders_failure_to_refund_is_retried_alone(
    provider: PaymentProviderServer, published: PublishedEvents, monkeypatch: pytest.MonkeyPatch
) -> None:
    charged("o-1")
    charged("o-2")
    real_refund = wiring.provider().refund

    def refund_failing_for_o1(charge_id: str, idempotency_key: str, reason: str) -> Any:
        if idempotency_key.startswith("order-o-1-"):
            raise RuntimeError("the provider refused to talk")
        return real_refund(charge_id, idempotency_key, reason)

    monkeypatch.setattr(wiring.provider(), "refund", refund_failing_for_o1)
    event = sqs_event(failed(OrderFailed, "o-1"), failed(OrderFailed, "o-2"))

    response = refund_failed_orders.handler(event, FakeLambdaContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert [e.order_id for e in published.of_type(PaymentRefunded)] == ["o-2"]
    record = wiring.ledger().get("o-1")
    assert record is not None
    assert record.reconcile_due is not None  # the scheduled reconciler retries it too


def test_a_revoked_api_key_fails_the_message_for_redelivery(provider: PaymentProviderServer) -> None:
    charged()
    client("secretsmanager").put_secret_value(SecretId=SECRET_NAME, SecretString="sk_test_revoked")
    parameters.clear_caches()  # the key the earlier charge fetched

    with pytest.raises(BatchProcessingError, match="All records failed"):
        refund_failed_orders.handler(sqs_event(failed(OrderFailed)), FakeLambdaContext())

    assert provider.ledger(ORDER_ID)["netAmount"] == 2599


def test_an_unrelated_event_in_the_queue_fails_alone(workflow: WorkflowAnswers) -> None:
    event = sqs_event(payment_command(ORDER_ID, amount=1, task_token="t"), failed(OrderFailed, "o-2"))

    response = refund_failed_orders.handler(event, FakeLambdaContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
