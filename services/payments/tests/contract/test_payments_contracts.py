"""payments' event contracts, as consumer (of ProcessPayment, OrderPaymentFailed and OrderFailed) and
as producer (of PaymentSucceeded and PaymentRefunded).

The real handlers run in moto, against the local payment provider, on the committed samples; the
ProcessPayment sample's token and total are sealed for its order with this run's key, as the orders
API and inventory do.
"""

from __future__ import annotations

import copy
import os

import pytest

from orderflow_devtools.registry.contract_pytest import consumer_tests
from orderflow_devtools.registry.contract_runs import PutEventsCapture
from orderflow_devtools.registry.contract_suite import ServiceContract
from orderflow_devtools.registry.event_types import EventType
from orderflow_devtools.registry.schemas import JsonObject
from orderflow_shared.aws import client
from orderflow_shared.contracts import OrderFailed, OrderPaymentFailed, ProcessPayment
from orderflow_shared.payment_tokens import PaymentTokenSealer
from orderflow_shared.priced_reservations import PricedReservationSealer

pytestmark = pytest.mark.contract

CONTRACT = ServiceContract("payments")

test_rules_match, test_rules_deliver_what_is_routed, test_generated_events_parse = consumer_tests(CONTRACT)


def test_payments_consumes_the_charge_command_and_both_failures_that_refund() -> None:
    # Not StockReserved: the total a charge must match arrives sealed by inventory in the command.
    assert set(CONTRACT.consumed) == {
        EventType.of(m) for m in (ProcessPayment, OrderPaymentFailed, OrderFailed)
    }


@pytest.mark.enable_socket  # the local payment provider listens on 127.0.0.1
@pytest.mark.usefixtures("aws", "provider", "published", "workflow")
def test_handler_reads_only_sent_fields_and_publishes_what_its_schema_accepts() -> None:
    published = PutEventsCapture().attach(client("events"))
    # The samples tell one order's story: charged, then its failures refund the charge, so the run
    # publishes both PaymentSucceeded and PaymentRefunded.
    story = [EventType.of(ProcessPayment)]
    story += [event_type for event_type in CONTRACT.consumed if event_type not in story]
    samples = [CONTRACT.catalogue.samples[event_type] for event_type in story]
    samples[0] = sealed_for_its_order(samples[0])

    assert CONTRACT.consume(*samples) == []
    assert CONTRACT.unread() == []
    assert CONTRACT.read_problems() == []
    assert CONTRACT.provider_problems(published) == []


def sealed_for_its_order(process_payment: JsonObject) -> JsonObject:
    envelope = copy.deepcopy(process_payment)
    detail = envelope["detail"]
    kms, key_arn, order_id = client("kms"), os.environ["PAYMENT_TOKEN_KEY_ARN"], detail["metadata"]["orderId"]
    detail["data"]["paymentToken"] = PaymentTokenSealer(kms, key_arn)(order_id, "tok_visa")
    sealer = PricedReservationSealer(kms, key_arn)
    detail["data"]["pricedReservation"] = sealer.seal(
        order_id, detail["data"]["amount"], detail["data"]["currency"]
    )
    return envelope
