"""The example subscriber (examples/order_follower) follows whole orders from the bus alone.

It runs in-process through its public functions, against the real local stack: its own rule and
queue on the bus, events validated against the schemas the local registry serves.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from orderflow_local.operator import execution_arn, order_saga_arn
from tests.support.examples import import_example
from tests.support.local_stack import LocalStack
from tests.support.saga import new_sku, order_body, place_order, stock, wait_for_terminal

order_follower = import_example("order_follower/order_follower.py")

BUS = "orderflow"
COMMANDS_BUS = "orderflow-commands"
REGISTRY = "orderflow"

# The saga's chain as the domain-events bus shows it: each fact follows from the one before (the
# workflow's commands in between travel on the private commands bus, which no subscriber sees).
COMPLETED_CHAIN = [
    "OrderReceived",
    "StockReserved",
    "PaymentSucceeded",
    "InvoiceGenerated",
    "CustomerNotified",
    "OrderCompleted",
]
FAILED_CHAIN = ["OrderReceived", "StockReserved", "OrderPaymentFailed"]
COMMANDS = {"ReserveStock", "ProcessPayment", "GenerateInvoice", "SendConfirmation"}
# Reactions that run beside the chain: inventory commits the stock on PaymentSucceeded while the
# saga goes on; inventory and notifications both react to OrderPaymentFailed.
COMPLETED_LIFE = [*COMPLETED_CHAIN, "StockCommitted"]
FAILED_LIFE = [*FAILED_CHAIN, "StockReleased", "CustomerNotified"]

Subscribe = Callable[..., Any]


@pytest.fixture
def subscribe(stack: LocalStack) -> Iterator[Subscribe]:
    """Subscribes like the example does, under a name of its own; unsubscribes afterwards."""
    events, sqs = stack.client("events"), stack.client("sqs")
    created: list[Any] = []

    def create(bus: str = BUS, **options: Any) -> Any:
        name = f"order-follower-e2e-{uuid.uuid4().hex[:8]}"
        subscription = order_follower.subscribe(events, sqs, bus, name, **options)
        created.append(subscription)
        return subscription

    yield create
    for subscription in created:
        order_follower.unsubscribe(events, sqs, subscription)


def registry_schemas(stack: LocalStack) -> list[str]:
    schemas = stack.schemas_client()
    try:
        pages = schemas.get_paginator("list_schemas").paginate(RegistryName=REGISTRY)
        return [schema["SchemaName"] for page in pages for schema in page["Schemas"]]
    except schemas.exceptions.NotFoundException:
        return []


def follow_until(follower: Any, done: Callable[[], bool], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            lives = {order: follower.life_of(order) for order in follower.timelines}
            raise AssertionError(f"the follower did not see every event in {timeout} s: {lives}")
        follower.poll(wait_seconds=1)


def first_occurrences(life: list[str], exclude: str = "") -> list[str]:
    return [step for step in dict.fromkeys(life) if step != exclude]


def messages_in(stack: LocalStack, queue_url: str) -> int:
    attributes = stack.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def test_the_example_subscriber_follows_a_completed_and_a_failed_order_from_their_events(
    stack: LocalStack, subscribe: Subscribe
) -> None:
    subscription = subscribe()
    # Validation needs the generated schemas in infra/template.yaml; without them, nothing to check.
    validating = bool(registry_schemas(stack))
    validator = order_follower.SchemaValidator(stack.schemas_client(), REGISTRY) if validating else None
    printed: list[str] = []
    follower = order_follower.OrderFollower(stack.client("sqs"), subscription, validator, out=printed.append)
    sku = new_sku()
    stock(stack, sku, available=5)

    completed = place_order(stack, order_body(sku, 1, "tok_visa"))["orderId"]
    failed = place_order(stack, order_body(sku, 1, "tok_declined"))["orderId"]
    # Every fact of each life, however many times a retried step published it (at least once).
    follow_until(
        follower,
        lambda: (
            set(follower.life_of(completed)) >= set(COMPLETED_LIFE)
            and set(follower.life_of(failed)) >= set(FAILED_LIFE)
        ),
    )

    completed_life, failed_life = follower.life_of(completed), follower.life_of(failed)
    assert set(completed_life) == set(COMPLETED_LIFE), completed_life
    assert first_occurrences(completed_life, exclude="StockCommitted") == COMPLETED_CHAIN
    assert completed_life.index("StockCommitted") > completed_life.index("PaymentSucceeded")
    assert set(failed_life) == set(FAILED_LIFE), failed_life
    assert first_occurrences(failed_life)[: len(FAILED_CHAIN)] == FAILED_CHAIN
    assert f"order {completed} completed" in printed
    assert f"order {failed} ended with a failed payment" in printed
    assert messages_in(stack, subscription.queue_url) == 0
    assert messages_in(stack, subscription.dead_letter_queue_url) == 0
    if validating:
        for event in follower.timelines[completed] + follower.timelines[failed]:
            assert event.schema == f"{event.source}@{event.detail_type}-v1"
            assert event.schema in registry_schemas(stack)


def test_an_event_that_breaks_its_contract_is_logged_and_left_for_the_dead_letter_queue(
    stack: LocalStack, subscribe: Subscribe, caplog: pytest.LogCaptureFixture
) -> None:
    # Visible again at once and dead-lettered on the second receive, to keep the test short.
    subscription = subscribe(visibility_timeout=0, max_receive_count=1)
    printed: list[str] = []
    follower = order_follower.OrderFollower(
        stack.client("sqs"),
        subscription,
        order_follower.SchemaValidator(stack.schemas_client(), REGISTRY),
        out=printed.append,
    )
    order_id = f"e2e-broken-{uuid.uuid4().hex[:8]}"
    # OrderReceived without its data; no orderflow service consumes OrderReceived.
    detail = {
        "metadata": {
            "eventId": str(uuid.uuid4()),
            "orderId": order_id,
            "occurredAt": datetime.now(UTC).isoformat(),
            "version": "1",
        },
        "data": {},
    }
    response = stack.client("events").put_events(
        Entries=[
            {
                "EventBusName": BUS,
                "Source": "orderflow.orders",
                "DetailType": "OrderReceived",
                "Detail": json.dumps(detail),
            }
        ]
    )
    assert response["FailedEntryCount"] == 0

    with caplog.at_level(logging.WARNING, logger="order_follower"):
        follow_until(follower, lambda: messages_in(stack, subscription.dead_letter_queue_url) > 0, timeout=20)

    dead_letters = stack.client("sqs").receive_message(
        QueueUrl=subscription.dead_letter_queue_url, MaxNumberOfMessages=10
    )["Messages"]
    assert detail in [json.loads(message["Body"])["detail"] for message in dead_letters]
    assert follower.life_of(order_id) == []
    assert not [line for line in printed if order_id in line]
    rejections = [
        r.getMessage() for r in caplog.records if "orderflow.orders@OrderReceived-v1" in r.getMessage()
    ]
    assert rejections, caplog.text


def test_a_subscriber_of_everything_on_the_domain_bus_never_sees_a_task_token_or_a_payment_token(
    stack: LocalStack, subscribe: Subscribe
) -> None:
    """The example subscribes to every orderflow source it may: none of what it receives carries a
    task token or the customer's payment token, in the clear or sealed, while the commands bus
    (read here from inside the account) carried both for the same order."""
    subscription = subscribe()
    sqs = stack.client("sqs")
    commands = subscribe(bus=COMMANDS_BUS).queue_url  # from inside the account, to know the tokens
    sku = new_sku()
    stock(stack, sku, available=1)

    order_id = place_order(stack, order_body(sku, 1, "tok_visa"))["orderId"]
    wait_for_terminal(stack, order_id)

    seen = drain(
        sqs, subscription.queue_url, until=lambda bodies: any('"OrderCompleted"' in b for b in bodies)
    )
    command_bodies = drain(sqs, commands, until=lambda bodies: len(bodies) >= len(COMMANDS))
    command_details = [json.loads(body)["detail"] for body in command_bodies]
    task_tokens = {detail["taskToken"] for detail in command_details}
    [sealed] = [
        detail["data"]["paymentToken"] for detail in command_details if "paymentToken" in detail["data"]
    ]

    assert {json.loads(body)["detail-type"] for body in command_bodies} == COMMANDS
    assert "tok_visa" not in sealed  # sealed for payments even on the commands bus
    order_events = [body for body in seen if order_id in body]
    assert {json.loads(body)["detail-type"] for body in order_events} >= set(COMPLETED_CHAIN)
    for body in seen:
        assert json.loads(body)["detail-type"] not in COMMANDS
        assert "taskToken" not in body
        assert not [token for token in task_tokens if token in body]
        assert "tok_visa" not in body
        assert sealed not in body
    sfn = stack.client("stepfunctions")
    history = sfn.get_execution_history(
        executionArn=execution_arn(order_saga_arn(sfn), order_id), maxResults=1000
    )
    assert "tok_visa" not in json.dumps(history["events"], default=str)


def drain(sqs: Any, queue_url: str, until: Callable[[list[str]], bool], timeout: float = 30) -> list[str]:
    bodies: list[str] = []
    deadline = time.monotonic() + timeout
    while not until(bodies):
        assert time.monotonic() < deadline, f"only {len(bodies)} messages in {timeout} s"
        for message in sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        ):
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies
