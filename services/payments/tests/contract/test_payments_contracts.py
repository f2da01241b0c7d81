"""payments' event contracts, as consumer (of ProcessPayment, OrderPaymentFailed and OrderFailed) and
as producer (of PaymentSucceeded and PaymentRefunded).

The real handlers run in moto, against the local payment provider, on the committed samples.
"""

from __future__ import annotations

import pytest

from orderflow_shared.aws import client
from orderflow_shared.contracts import OrderFailed, OrderPaymentFailed, ProcessPayment
from orderflow_shared.registry.contract_pytest import consumer_tests
from orderflow_shared.registry.contract_runs import PutEventsCapture
from orderflow_shared.registry.contract_suite import ServiceContract
from orderflow_shared.registry.event_types import EventType

pytestmark = pytest.mark.contract

CONTRACT = ServiceContract("payments")

test_rules_match, test_rules_deliver_what_is_routed, test_generated_events_parse = consumer_tests(CONTRACT)


def test_payments_consumes_the_charge_command_and_both_failures_that_call_for_a_refund() -> None:
    assert set(CONTRACT.consumed) == {
        EventType.of(m) for m in (ProcessPayment, OrderPaymentFailed, OrderFailed)
    }


@pytest.mark.enable_socket  # the local payment provider listens on 127.0.0.1
@pytest.mark.usefixtures("aws", "provider", "published", "workflow")
def test_handler_reads_only_sent_fields_and_publishes_what_its_schema_accepts() -> None:
    published = PutEventsCapture().attach(client("events"))
    # The samples tell one order's story: charged first, its failures then refund the charge, so
    # the run publishes both PaymentSucceeded and PaymentRefunded.
    charge_first = sorted(
        CONTRACT.consumed, key=lambda event_type: event_type != EventType.of(ProcessPayment)
    )

    assert CONTRACT.consume(*(CONTRACT.catalogue.samples[event_type] for event_type in charge_first)) == []
    assert CONTRACT.unread() == []
    assert CONTRACT.read_problems() == []
    assert CONTRACT.provider_problems(published) == []
