"""POST /orders and GET /orders/{orderId} through the real handler with API Gateway events."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from types import ModuleType
from typing import Any
from unittest.mock import patch

import pytest
from botocore.exceptions import ClientError

from orderflow_devtools.testing import FakeLambdaContext, PublishedEvents, api_event
from orderflow_devtools.testing.dynamodb import writes_to
from orderflow_shared.aws import client, dynamodb_table
from orderflow_shared.contracts import OrderReceived, StockReserved
from orderflow_shared.contracts.values import PricedLine, PricedOrder
from orderflow_shared.payment_tokens import PaymentTokenOpener, UnreadablePaymentToken
from orders.domain.projection import status_change
from orders.handlers.wiring import orders_service, repository

from .conftest import ANA, BO, VALID, body, executions


def post(
    api: ModuleType, payload: Any, headers: dict[str, str] | None = None, caller: dict[str, str] | None = ANA
) -> dict[str, Any]:
    """POST /orders as ``caller`` (the claims of their ID token; None: no authorizer vouched)."""
    event = api_event("POST", "/orders", "/orders", payload, headers, claims=caller)
    result: dict[str, Any] = api.handler(event, FakeLambdaContext())
    return result


def get(
    api: ModuleType, order_id: str, caller: dict[str, str] | None = ANA, below: str = ""
) -> dict[str, Any]:
    """GET /orders/{orderId}, or the route ``below`` it (e.g. "/invoice"), as ``caller``."""
    event = api_event(
        "GET",
        f"/orders/{order_id}{below}",
        "/orders/{orderId}" + below,
        path_parameters={"orderId": order_id},
        claims=caller,
    )
    result: dict[str, Any] = api.handler(event, FakeLambdaContext())
    return result


def test_an_order_is_stored_as_received_announced_and_its_saga_started(
    api: ModuleType, orders_table: Any, state_machine_arn: str, published: PublishedEvents
) -> None:
    response = post(api, VALID)
    assert response["statusCode"] == 201
    order = body(response)
    assert order["status"] == "RECEIVED"
    assert order["items"] == [{"sku": "KB-001", "quantity": 2}]
    assert orders_table.get_item(Key={"orderId": order["orderId"]})["Item"]["status"] == "RECEIVED"
    assert [e["name"] for e in executions(state_machine_arn)] == [order["orderId"]]
    [received] = published.of_type(OrderReceived)
    assert (received.order_id, received.data.customer_id) == (order["orderId"], "c-1")
    assert [item.to_wire() for item in received.data.items] == order["items"]
    assert received.metadata.event_id == OrderReceived.stable_event_id(order["orderId"])
    announced_at = received.metadata.occurred_at.isoformat(timespec="milliseconds")
    assert announced_at.replace("+00:00", "Z") == order["createdAt"]


def test_an_order_that_cannot_be_announced_is_not_started_until_the_sweep_announces_it(
    api: ModuleType, orders_table: Any, state_machine_arn: str, published: PublishedEvents
) -> None:
    # OrderReceived comes before the saga's first command: no announcement, no start.
    events = orders_service()._publisher._events
    rejected = {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure", "ErrorMessage": "x"}]}
    with patch.object(events, "put_events", return_value=rejected) as put_events:
        response = post(api, VALID)

    assert response["statusCode"] == 201  # the order is durable: the sweep takes it from here
    assert put_events.call_count == 3  # the API's publisher tries three times
    order_id = body(response)["orderId"]
    assert executions(state_machine_arn) == []
    assert published.drain() == []

    assert orders_service().start_pending_sagas() == 1

    assert [e.order_id for e in published.of_type(OrderReceived)] == [order_id]
    assert [e["name"] for e in executions(state_machine_arn)] == [order_id]
    assert "startPending" not in orders_table.get_item(Key={"orderId": order_id})["Item"]


def test_placing_an_order_writes_its_row_once_and_its_first_status_change_drops_the_start_input(
    api: ModuleType, orders_table: Any, state_machine_arn: str
) -> None:
    with writes_to(orders_table) as writes:
        order_id = body(post(api, VALID))["orderId"]

    assert writes == ["PutItem"]
    assert [e["name"] for e in executions(state_machine_arn)] == [order_id]
    started = orders_table.get_item(Key={"orderId": order_id})["Item"]
    assert (started["startPending"], "executionInput" in started) == ("1", True)

    priced = PricedOrder(
        lines=[PricedLine(sku="KB-001", quantity=2, unit_price=2500, line_total=5000)],
        total_amount=5000,
        currency="USD",
    )
    with writes_to(orders_table) as writes:
        assert repository().apply(status_change(StockReserved.create(order_id, priced)))

    assert writes == ["UpdateItem"]
    item = orders_table.get_item(Key={"orderId": order_id})["Item"]
    assert item["status"] == "INVENTORY_CONFIRMED"
    assert "startPending" not in item
    assert "executionInput" not in item
    assert repository().pending_starts(created_before="9999") == []


@pytest.mark.parametrize("execution_ended", [False, True], ids=["running", "ended"])
def test_the_sweep_removes_the_mark_of_an_order_the_api_started_without_starting_it_again(
    api: ModuleType,
    orders_table: Any,
    state_machine_arn: str,
    published: PublishedEvents,
    execution_ended: bool,
) -> None:
    """Its first step is slow: the sweep's start answers the execution the API began (a running one
    with the same name and input) or refuses a second one (ExecutionAlreadyExists)."""
    order_id = body(post(api, VALID))["orderId"]
    [execution] = executions(state_machine_arn)
    if execution_ended:
        client("stepfunctions").stop_execution(executionArn=execution["executionArn"])

    assert orders_service().start_pending_sagas() == 0  # no start the API could not make

    assert [e["executionArn"] for e in executions(state_machine_arn)] == [execution["executionArn"]]
    item = orders_table.get_item(Key={"orderId": order_id})["Item"]
    assert "startPending" not in item
    assert "executionInput" not in item
    first, again = published.of_type(OrderReceived)
    assert first == again
    assert orders_service().start_pending_sagas() == 0


def test_the_payment_token_is_never_stored(api: ModuleType, orders_table: Any) -> None:
    order = body(post(api, VALID))
    assert "tok_visa" not in str(orders_table.get_item(Key={"orderId": order["orderId"]})["Item"])


def test_the_saga_gets_the_payment_token_sealed_for_payments_and_this_order_only(
    api: ModuleType, orders_table: Any, state_machine_arn: str, payment_token_key: str
) -> None:
    with patch.object(orders_service()._workflow._sfn, "start_execution", side_effect=_throttled()):
        order_id = body(post(api, VALID))["orderId"]
    pending_input = orders_table.get_item(Key={"orderId": order_id})["Item"]["executionInput"]
    assert orders_service().start_pending_sagas() == 1

    execution = client("stepfunctions").describe_execution(
        executionArn=executions(state_machine_arn)[0]["executionArn"]
    )
    for text in (pending_input, execution["input"]):
        assert "tok_visa" not in text
    sealed = json.loads(execution["input"])["payment"]["token"]
    open_payment_token = PaymentTokenOpener(client("kms"), payment_token_key)
    assert open_payment_token(order_id, sealed) == "tok_visa"
    with pytest.raises(UnreadablePaymentToken):
        open_payment_token("another-order", sealed)


def _throttled() -> ClientError:
    return ClientError({"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "StartExecution")


def test_get_returns_the_order_and_its_history(api: ModuleType) -> None:
    order = body(post(api, VALID))
    response = get(api, order["orderId"])
    assert response["statusCode"] == 200
    fetched = body(response)
    assert fetched["orderId"] == order["orderId"]
    assert [h["status"] for h in fetched["history"]] == ["RECEIVED"]
    assert fetched["totalAmount"] is None  # priced only once inventory confirms


def test_unknown_order_is_404(api: ModuleType) -> None:
    assert get(api, "nope")["statusCode"] == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({**VALID, "items": []}, "items"),
        ({**VALID, "items": [{"sku": "KB-001", "quantity": 0}]}, "quantity"),
        ({**VALID, "customer": {"id": "c-1", "email": "not-an-email"}}, "email"),
        ({**VALID, "unitPrice": 1}, "unitPrice"),
        ({k: v for k, v in VALID.items() if k != "payment"}, "payment"),
    ],
)
def test_invalid_orders_are_refused_and_nothing_is_kept(
    api: ModuleType,
    orders_table: Any,
    state_machine_arn: str,
    published: PublishedEvents,
    payload: dict[str, Any],
    field: str,
) -> None:
    response = post(api, payload)
    assert response["statusCode"] == 422
    assert field in response["body"]
    assert orders_table.scan()["Items"] == []
    assert executions(state_machine_arn) == []
    assert published.drain() == []


def test_malformed_json_is_refused(api: ModuleType, orders_table: Any) -> None:
    response = post(api, "{not json")
    assert response["statusCode"] in (400, 422)
    assert orders_table.scan()["Items"] == []


def test_a_retried_post_with_the_same_idempotency_key_returns_the_same_order(
    api: ModuleType, state_machine_arn: str
) -> None:
    first = body(post(api, VALID, {"Idempotency-Key": "k-1"}))
    second = body(post(api, VALID, {"Idempotency-Key": "k-1"}))
    assert first["orderId"] == second["orderId"]
    assert len(executions(state_machine_arn)) == 1
    third = body(post(api, VALID, {"Idempotency-Key": "k-2"}))
    assert third["orderId"] != first["orderId"]


def test_reusing_an_idempotency_key_for_another_order_is_refused(api: ModuleType) -> None:
    post(api, VALID, {"Idempotency-Key": "k-1"})
    response = post(api, {**VALID, "items": [{"sku": "KB-002", "quantity": 1}]}, {"Idempotency-Key": "k-1"})
    assert response["statusCode"] == 422
    assert "Idempotency-Key" in response["body"]


def test_an_order_whose_saga_cannot_start_is_kept_and_started_by_the_sweep(
    api: ModuleType, orders_table: Any, state_machine_arn: str, published: PublishedEvents
) -> None:
    throttled = ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "StartExecution"
    )
    with patch.object(orders_service()._workflow._sfn, "start_execution", side_effect=throttled):
        response = post(api, VALID)

    # The order is durable: the client is not invited to place it a second time.
    assert response["statusCode"] == 201
    order_id = body(response)["orderId"]
    assert executions(state_machine_arn) == []
    assert orders_table.get_item(Key={"orderId": order_id})["Item"]["startPending"] == "1"

    assert orders_service().start_pending_sagas() == 1

    assert [e["name"] for e in executions(state_machine_arn)] == [order_id]
    item = orders_table.get_item(Key={"orderId": order_id})["Item"]
    assert "startPending" not in item
    assert "tok_visa" not in str(item)
    assert orders_service().start_pending_sagas() == 0
    # The API announced the order, and the sweep again, unable to know: both are one event.
    first, again = published.of_type(OrderReceived)
    assert first == again


def test_a_start_whose_answer_was_lost_runs_one_execution(
    api: ModuleType, orders_table: Any, state_machine_arn: str
) -> None:
    """StartExecution ran but its caller saw an error: the sweep's start finds the execution."""
    sfn = orders_service()._workflow._sfn
    real_start = sfn.start_execution

    def start_then_lose_the_answer(**request: Any) -> Any:
        real_start(**request)
        raise ClientError({"Error": {"Code": "InternalFailure", "Message": "lost"}}, "StartExecution")

    with patch.object(sfn, "start_execution", side_effect=start_then_lose_the_answer):
        order_id = body(post(api, VALID))["orderId"]

    orders_service().start_pending_sagas()

    assert [e["name"] for e in executions(state_machine_arn)] == [order_id]
    assert "startPending" not in orders_table.get_item(Key={"orderId": order_id})["Item"]


def test_a_retry_after_a_crash_between_storing_and_starting_lands_on_the_same_order(
    api: ModuleType, orders_table: Any, state_machine_arn: str
) -> None:
    """The first request stored the order and died before starting it (no answer was recorded)."""
    killed = patch.object(orders_service(), "_start", side_effect=SystemExit("the function was killed"))
    with killed, pytest.raises(SystemExit):
        post(api, VALID, {"Idempotency-Key": "crash-1"})
    [stored] = orders_table.scan()["Items"]
    _outlive_the_killed_invocation()

    retried = post(api, VALID, {"Idempotency-Key": "crash-1"})

    assert retried["statusCode"] == 201
    assert body(retried)["orderId"] == stored["orderId"]
    assert [e["name"] for e in executions(state_machine_arn)] == [stored["orderId"]]
    assert len(orders_table.scan()["Items"]) == 1


def test_the_same_key_from_another_customer_is_another_order(api: ModuleType) -> None:
    other_customer = {**VALID, "customer": {"id": "c-2", "email": "bo@example.com"}}
    first = body(post(api, VALID, {"Idempotency-Key": "shared-key"}))
    second = body(post(api, other_customer, {"Idempotency-Key": "shared-key"}, caller=BO))
    assert first["orderId"] != second["orderId"]


def _outlive_the_killed_invocation() -> None:
    """What the function's timeout does on AWS: the dead request's in-progress mark expires."""
    table = dynamodb_table(os.environ["IDEMPOTENCY_TABLE"])
    for item in table.scan()["Items"]:
        table.update_item(
            Key={"id": item["id"]},
            UpdateExpression="SET in_progress_expiration = :past",
            ExpressionAttributeValues={":past": 0},
        )


def test_the_sweep_leaves_alone_an_order_the_api_is_still_starting(
    api: ModuleType, orders_table: Any, state_machine_arn: str
) -> None:
    throttled = ClientError(
        {"Error": {"Code": "ThrottlingException", "Message": "slow down"}}, "StartExecution"
    )
    with patch.object(orders_service()._workflow._sfn, "start_execution", side_effect=throttled):
        order_id = body(post(api, VALID))["orderId"]

    assert orders_service().start_pending_sagas(grace=timedelta(minutes=1)) == 0
    assert executions(state_machine_arn) == []
    assert orders_service().start_pending_sagas(grace=timedelta(0)) == 1
    assert [e["name"] for e in executions(state_machine_arn)] == [order_id]
