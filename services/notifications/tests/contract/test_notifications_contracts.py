"""notifications' event contracts, as consumer (of the confirmation command and the failure facts)
and as producer (of CustomerNotified)."""

from __future__ import annotations

import pytest

from orderflow_devtools.registry.contract_pytest import consumer_tests
from orderflow_devtools.registry.contract_runs import PutEventsCapture
from orderflow_devtools.registry.contract_suite import ServiceContract
from orderflow_shared.aws import client

pytestmark = pytest.mark.contract

CONTRACT = ServiceContract("notifications")

test_rules_match, test_rules_deliver_what_is_routed, test_generated_events_parse = consumer_tests(CONTRACT)


@pytest.mark.usefixtures("stack", "workflow")
def test_handlers_read_only_sent_fields_and_publish_what_their_schemas_accept() -> None:
    published = PutEventsCapture().attach(client("events"))

    assert CONTRACT.consume_samples() == []
    assert CONTRACT.unread() == []
    assert CONTRACT.read_problems() == []
    assert CONTRACT.provider_problems(published) == []
