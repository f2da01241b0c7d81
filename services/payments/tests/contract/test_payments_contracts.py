"""payments' event contracts, as consumer (of ProcessPayment) and as producer (of PaymentSucceeded).

The real handler runs in moto, against the local payment provider, on the committed sample.
"""

from __future__ import annotations

import pytest

from orderflow_shared.aws import client
from orderflow_shared.registry.contract_pytest import consumer_tests
from orderflow_shared.registry.contract_runs import PutEventsCapture
from orderflow_shared.registry.contract_suite import ServiceContract

pytestmark = pytest.mark.contract

CONTRACT = ServiceContract("payments")

test_rules_match, test_rules_deliver_what_is_routed, test_generated_events_parse = consumer_tests(CONTRACT)


@pytest.mark.enable_socket  # the local payment provider listens on 127.0.0.1
@pytest.mark.usefixtures("aws", "provider", "published", "workflow")
def test_handler_reads_only_sent_fields_and_publishes_what_its_schema_accepts() -> None:
    published = PutEventsCapture().attach(client("events"))

    assert CONTRACT.consume_samples() == []
    assert CONTRACT.unread() == []
    assert CONTRACT.read_problems() == []
    assert CONTRACT.provider_problems(published) == []
