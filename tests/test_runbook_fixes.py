"""The runbook's fix for a dead-letter queue, on the real local stack: an order's status event that
exhausted its deliveries waits in the DLQ (OrderStatusDeadLetterQueueDepthAlarm on AWS), and once the
cause is gone `make redrive-dlq` sends it back, where it is projected like any other delivery."""

from __future__ import annotations

from typing import Any

from orderflow_local import faults
from orderflow_local.operator import redrive_dead_letters
from tests.support.saga import wait_until
from tests.support.scenario import Scenario

DLQ = "orderflow-orders-OrderStatusDeadLetterQueue"


def statuses(order: dict[str, Any]) -> list[str]:
    return [entry["status"] for entry in order["history"]]


def holds(sqs: Any, url: str, order_id: str) -> bool:
    """Whether a message of the order waits in the queue (looked at without taking it)."""
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=0).get(
        "Messages", []
    )
    return any(order_id in message["Body"] for message in messages)


def test_a_status_event_in_the_dlq_is_projected_once_redriven(scenario: Scenario) -> None:
    # The projector cannot write this order's StockReserved (the only status event naming the SKU).
    scenario.arm(
        {
            "id": "projector-refused",
            "point": "before:dynamodb.UpdateItem",
            "action": "raise",
            "function": "OrderStatusProjectorFunction",
            "match": scenario.sku,
        }
    )
    scenario.place("tok_visa")
    assert scenario.terminal()["status"] == "COMPLETED"

    sqs = scenario.stack.client("sqs")
    url = sqs.get_queue_url(QueueName=DLQ)["QueueUrl"]
    wait_until(lambda: holds(sqs, url, scenario.order_id), timeout=60, message="the event in the DLQ")
    assert scenario.fired("projector-refused") >= 5  # every delivery, before the DLQ took it
    assert "INVENTORY_CONFIRMED" not in statuses(scenario.order())

    # The cause fixed, the runbook's command sends it back.
    faults.disarm(scenario.stack.fault_plan)
    moved = redrive_dead_letters(sqs, DLQ)

    assert moved["moved"] >= 1
    wait_until(
        lambda: "INVENTORY_CONFIRMED" in statuses(scenario.order()), message="the redriven event's projection"
    )
    history = statuses(scenario.order())
    assert history == ["RECEIVED", "INVENTORY_CONFIRMED", "PAYMENT_SUCCESS", "INVOICED", "COMPLETED"]
    assert not holds(sqs, url, scenario.order_id)
    scenario.guarantees_hold()
