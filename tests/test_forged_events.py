"""A service's credentials cannot publish another service's facts: the call is refused when it is made.

Notifications consumes OrderPaymentFailed; were its credentials able to publish one, inventory would
release a paid order's stock and payments would refund its charge. Its functions' roles may publish
on the domain bus as orderflow.notifications only (PublishOwnEventsPolicy: events:source), and the
local runtime refuses a call a role does not allow, as AWS does. The forgery below is made with
CustomerAlertsFunction's credentials (``LocalStack.client_as``): judged against that function's role
exactly as the function's own calls are.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from botocore.exceptions import ClientError

from orderflow_shared.contracts import OrderPaymentFailed
from orderflow_shared.contracts.orders import OrderFailureData
from orderflow_shared.contracts.values import Customer
from orderflow_shared.publisher import EventPublisher
from tests.support.local_stack import LocalStack
from tests.support.saga import inventory, wait_until
from tests.support.scenario import Scenario

BUS = "orderflow"
BUS_ARN = f"arn:aws:events:us-east-1:123456789012:event-bus/{BUS}"
# Longer than inventory's release and payments' refund take at the end-to-end time scale.
SETTLE_SECONDS = 5


@contextmanager
def watching(stack: LocalStack, order_id: str) -> Iterator[Callable[[], list[dict[str, Any]]]]:
    """A rule of the test's own on the domain bus that catches every OrderPaymentFailed of the order,
    whatever its source; yields what it caught so far. Removed afterwards."""
    events, sqs = stack.client("events"), stack.client("sqs")
    name = f"e2e-forgery-watch-{uuid.uuid4().hex[:8]}"
    queue_url = sqs.create_queue(QueueName=name)["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    pattern = {
        "detail-type": [OrderPaymentFailed.DETAIL_TYPE],
        "detail": {"metadata": {"orderId": [order_id]}},
    }
    events.put_rule(Name=name, EventBusName=BUS, EventPattern=json.dumps(pattern), State="ENABLED")
    events.put_targets(Rule=name, EventBusName=BUS, Targets=[{"Id": "watch", "Arn": queue_arn}])
    caught: list[dict[str, Any]] = []

    def read() -> list[dict[str, Any]]:
        received = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        for message in received.get("Messages", []):
            caught.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
        return caught

    try:
        yield read
    finally:
        events.remove_targets(Rule=name, EventBusName=BUS, Ids=["watch"])
        events.delete_rule(Name=name, EventBusName=BUS)
        sqs.delete_queue(QueueUrl=queue_url)


def test_a_payment_failure_forged_with_notifications_credentials_is_refused_and_changes_nothing(
    scenario: Scenario,
) -> None:
    scenario.place("tok_visa", quantity=2)
    order = scenario.terminal()
    assert order["status"] == "COMPLETED"
    scenario.guarantees_hold()  # settled: the stock committed, nothing left in flight
    stock_before = inventory(scenario.stack, scenario.sku)
    assert (stock_before["available"], stock_before["reserved"], stock_before["sold"]) == (8, 0, 2)
    forged = OrderPaymentFailed.create(
        scenario.order_id,
        OrderFailureData(
            customer=Customer(id=scenario.customer_id, email=scenario.email),
            error="PaymentDeclined",
            reason="The card was declined",
        ),
    )
    events = scenario.stack.client_as("CustomerAlertsFunction", "events")

    with watching(scenario.stack, scenario.order_id) as caught:
        with pytest.raises(ClientError) as refused:
            EventPublisher(BUS, events).publish(forged)  # as orderflow.orders, the fact's owner
        # The same credentials publishing the same detail as their own source: allowed, and caught.
        own = {
            "EventBusName": BUS,
            "Source": "orderflow.notifications",
            "DetailType": OrderPaymentFailed.DETAIL_TYPE,
            "Detail": json.dumps(forged.to_wire()),
        }
        assert events.put_events(Entries=[own])["FailedEntryCount"] == 0
        wait_until(caught, timeout=20, message="the watch to catch the allowed event")
        time.sleep(SETTLE_SECONDS)
        seen = caught()

    error = refused.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert error["Message"].startswith("User: arn:aws:sts::123456789012:assumed-role/")
    assert "CustomerAlertsFunction" in error["Message"]
    assert (
        f"is not authorized to perform: events:PutEvents on resource: {BUS_ARN} because no "
        "identity-based policy allows the events:PutEvents action"
    ) in error["Message"]
    assert [event["source"] for event in seen] == ["orderflow.notifications"]  # the forgery never got on
    after = scenario.order()
    assert after["status"] == "COMPLETED"
    assert "PAYMENT_FAILED" not in [entry["status"] for entry in after["history"]]
    assert inventory(scenario.stack, scenario.sku) == stock_before  # still sold, nothing released
    ledger = scenario.ledger()
    assert ledger["refunds"] == []
    assert ledger["netAmount"] == order["totalAmount"]
