"""A command its contract refuses is reported without its values: they hold the task token (and in
ProcessPayment the payment token), which must never reach a log line or an error message."""

from __future__ import annotations

import json
import logging

import pytest
from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from orderflow_devtools.testing import FakeLambdaContext, eventbridge_event, sqs_record
from orderflow_shared.consumer import EventRouter
from orderflow_shared.contracts import ProcessPayment, ReserveStock
from orderflow_shared.contracts.orders import ProcessPaymentData, ReserveStockData
from orderflow_shared.contracts.values import OrderItem

TASK_TOKEN = "AAAA-secret-task-token-ZZZZ"
PAYMENT_TOKEN = "tok_secret_card_4242"
PRICED_RESERVATION = "sealed-total-of-o-1"


def invalid_bodies() -> list[str]:
    reserve = eventbridge_event(
        ReserveStock.create(
            "o-1", ReserveStockData(items=[OrderItem(sku="KB-001", quantity=1)]), task_token=TASK_TOKEN
        )
    )
    reserve["detail"]["data"]["items"][0]["quantity"] = 0  # the contract refuses it
    pay = eventbridge_event(
        ProcessPayment.create(
            "o-1",
            ProcessPaymentData(
                customer_id="c-1",
                amount=100,
                currency="USD",
                payment_token=PAYMENT_TOKEN,
                priced_reservation=PRICED_RESERVATION,
            ),
            task_token=TASK_TOKEN,
        )
    )
    pay["detail"]["data"]["amount"] = -1
    unreadable = json.dumps(reserve)[:-40]  # not JSON any more, the token still inside
    return [json.dumps(reserve), json.dumps(pay), unreadable]


WHAT_IS_WRONG = [
    "orderflow.orders ReserveStock refused: data.items.0.quantity",
    "orderflow.orders ProcessPayment refused: data.amount",
    "EventBridge envelope refused",
]


@pytest.mark.parametrize(
    ("body", "what_is_wrong"),
    list(zip(invalid_bodies(), WHAT_IS_WRONG, strict=True)),
    ids=["reserve-stock", "process-payment", "truncated"],
)
def test_a_refused_command_is_failed_without_its_tokens_anywhere(
    body: str, what_is_wrong: str, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    handled: list[object] = []
    router = EventRouter(
        {ReserveStock: handled.append, ProcessPayment: handled.append}, Logger(service="test", level="DEBUG")
    )
    caplog.set_level(logging.DEBUG)

    with pytest.raises(BatchProcessingError) as failed:  # a batch of one: the whole batch failed
        router.handle({"Records": [sqs_record(body)]}, FakeLambdaContext())  # type: ignore[arg-type]

    assert handled == []
    said = "\n".join(
        [str(failed.value), repr(failed.value.child_exceptions), caplog.text, *capsys.readouterr()]
    )
    assert what_is_wrong in said
    assert TASK_TOKEN not in said
    assert PAYMENT_TOKEN not in said
