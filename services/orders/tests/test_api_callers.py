"""Who may place and read orders: the signed-in customer, for themselves; operators read any order."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest

from orderflow_devtools.testing import customer_claims, operator_claims
from orderflow_shared.aws import client

from .conftest import ANA, BO, VALID, body, executions
from .test_api import get, post

WITHOUT_CUSTOMER = {k: v for k, v in VALID.items() if k != "customer"}


def nothing_kept(orders_table: Any, state_machine_arn: str) -> bool:
    return orders_table.scan()["Items"] == [] and executions(state_machine_arn) == []


def execution_input(state_machine_arn: str, order_id: str) -> Any:
    [execution] = [e for e in executions(state_machine_arn) if e["name"] == order_id]
    return json.loads(
        client("stepfunctions").describe_execution(executionArn=execution["executionArn"])["input"]
    )


# --- POST ------------------------------------------------------------------------------------------


def test_an_order_without_a_caller_is_401_and_nothing_is_kept(
    api: ModuleType, orders_table: Any, state_machine_arn: str
) -> None:
    response = post(api, VALID, caller=None)

    assert response["statusCode"] == 401
    assert body(response)["message"] == "Unauthorized"
    assert nothing_kept(orders_table, state_machine_arn)


def test_an_access_token_is_no_caller(api: ModuleType, orders_table: Any, state_machine_arn: str) -> None:
    access = {**ANA, "token_use": "access"}

    assert post(api, VALID, caller=access)["statusCode"] == 401
    assert nothing_kept(orders_table, state_machine_arn)


@pytest.mark.parametrize(
    "named",
    [{"id": "c-2", "email": "ana@example.com"}, {"id": "c-1", "email": "bo@example.com"}],
    ids=["another-id", "another-email"],
)
def test_a_customer_block_naming_someone_else_is_403_and_nothing_is_kept(
    api: ModuleType, orders_table: Any, state_machine_arn: str, named: dict[str, str]
) -> None:
    response = post(api, {**VALID, "customer": named}, caller=ANA)

    assert response["statusCode"] == 403
    assert "customer" in body(response)["message"]
    assert nothing_kept(orders_table, state_machine_arn)


def test_the_customer_blocks_email_is_compared_without_case_and_the_tokens_is_kept(
    api: ModuleType, state_machine_arn: str
) -> None:
    shouted = {**VALID, "customer": {"id": "c-1", "email": "ANA@Example.com"}}

    response = post(api, shouted, caller=ANA)

    assert response["statusCode"] == 201
    order_id = body(response)["orderId"]
    assert execution_input(state_machine_arn, order_id)["customer"] == {
        "id": "c-1",
        "email": "ana@example.com",
    }


def test_an_order_without_a_customer_block_is_placed_for_the_tokens_customer(
    api: ModuleType, orders_table: Any, state_machine_arn: str
) -> None:
    response = post(api, WITHOUT_CUSTOMER, caller=BO)

    assert response["statusCode"] == 201
    order = body(response)
    assert order["customerId"] == "c-2"
    assert orders_table.get_item(Key={"orderId": order["orderId"]})["Item"]["customerId"] == "c-2"
    assert execution_input(state_machine_arn, order["orderId"])["customer"] == {
        "id": "c-2",
        "email": "bo@example.com",
    }


def test_a_null_customer_block_is_422_and_nothing_is_kept(
    api: ModuleType, orders_table: Any, state_machine_arn: str
) -> None:
    response = post(api, {**VALID, "customer": None}, caller=ANA)

    assert response["statusCode"] == 422
    assert ["body", "customer"] in [issue["loc"] for issue in body(response)["detail"]]
    assert nothing_kept(orders_table, state_machine_arn)


@pytest.mark.parametrize("order", [VALID, WITHOUT_CUSTOMER], ids=["with-customer-block", "without"])
def test_a_token_without_an_email_is_403_and_nothing_is_kept(
    api: ModuleType, orders_table: Any, state_machine_arn: str, order: dict[str, Any]
) -> None:
    response = post(api, order, caller=customer_claims("c-1", None))

    assert response["statusCode"] == 403
    assert "email" in body(response)["message"]
    assert nothing_kept(orders_table, state_machine_arn)


def test_a_token_whose_email_cannot_be_reached_is_403_and_nothing_is_kept(
    api: ModuleType, orders_table: Any, state_machine_arn: str
) -> None:
    response = post(api, WITHOUT_CUSTOMER, caller=customer_claims("c-1", "ana@mail.test"))

    assert response["statusCode"] == 403
    assert nothing_kept(orders_table, state_machine_arn)


# --- Idempotency-Key -------------------------------------------------------------------------------


def test_an_idempotency_key_is_scoped_to_the_tokens_customer(api: ModuleType, state_machine_arn: str) -> None:
    anas = post(api, WITHOUT_CUSTOMER, {"Idempotency-Key": "k-1"}, caller=ANA)
    bos = post(api, WITHOUT_CUSTOMER, {"Idempotency-Key": "k-1"}, caller=BO)

    # The same key and body from another customer is their own order, not a reuse of Ana's key.
    assert (anas["statusCode"], bos["statusCode"]) == (201, 201)
    assert body(anas)["orderId"] != body(bos)["orderId"]
    assert (body(anas)["customerId"], body(bos)["customerId"]) == ("c-1", "c-2")
    assert len(executions(state_machine_arn)) == 2


def test_a_retry_naming_the_customer_or_not_is_the_same_order(
    api: ModuleType, state_machine_arn: str
) -> None:
    first = post(api, WITHOUT_CUSTOMER, {"Idempotency-Key": "k-1"}, caller=ANA)
    retry = post(api, VALID, {"Idempotency-Key": "k-1"}, caller=ANA)

    assert (first["statusCode"], retry["statusCode"]) == (201, 201)
    assert body(retry)["orderId"] == body(first)["orderId"]
    assert len(executions(state_machine_arn)) == 1


# --- GET -------------------------------------------------------------------------------------------


def test_another_customers_order_is_answered_like_an_unknown_one(api: ModuleType) -> None:
    order_id = body(post(api, VALID, caller=ANA))["orderId"]

    theirs = get(api, order_id, caller=BO)
    unknown = get(api, "nope", caller=BO)

    assert (theirs["statusCode"], unknown["statusCode"]) == (404, 404)
    assert body(theirs) == {**body(unknown), "message": body(unknown)["message"].replace("nope", order_id)}
    assert "c-1" not in theirs["body"]


@pytest.mark.parametrize("caller", [ANA, operator_claims()], ids=["owner", "operator"])
def test_the_owner_and_an_operator_read_the_order(api: ModuleType, caller: dict[str, str]) -> None:
    order_id = body(post(api, VALID, caller=ANA))["orderId"]

    response = get(api, order_id, caller=caller)

    assert response["statusCode"] == 200
    assert (body(response)["orderId"], body(response)["customerId"]) == (order_id, "c-1")


def test_a_customer_in_another_group_is_no_operator(api: ModuleType) -> None:
    order_id = body(post(api, VALID, caller=ANA))["orderId"]

    assert get(api, order_id, caller=operator_claims("c-2", "bo@example.com", "testers"))["statusCode"] == 404


def test_reading_an_order_without_a_caller_is_401(api: ModuleType) -> None:
    order_id = body(post(api, VALID, caller=ANA))["orderId"]

    response = get(api, order_id, caller=None)

    assert response["statusCode"] == 401
    assert "c-1" not in response["body"]
