"""The IAM evaluator of the least-privilege check: statements, wildcards, conditions, deny wins."""

from __future__ import annotations

from typing import Any

import pytest

from orderflow_local.access.evaluate import (
    PolicyError,
    Request,
    Statement,
    condition_holds,
    evaluate,
    parse_policy,
)

BUS = "arn:aws:events:us-east-1:123456789012:event-bus/orderflow"
TABLE = "arn:aws:dynamodb:us-east-1:123456789012:table/orders"


def policy(*statements: dict[str, Any]) -> tuple[Statement, ...]:
    return parse_policy("test", {"Version": "2012-10-17", "Statement": list(statements)})


def allow(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action: Any, resource: Any = "*", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def test_nothing_is_allowed_without_a_statement_that_allows_it() -> None:
    decision = evaluate(policy(allow("dynamodb:GetItem", TABLE)), Request("dynamodb:PutItem", TABLE))
    assert not decision.allowed
    assert "no statement allows" in decision.reason


def test_action_wildcards_match_case_insensitively() -> None:
    statements = policy(allow("DynamoDB:Get*", TABLE), allow("states:SendTask???????", "*"))
    assert evaluate(statements, Request("dynamodb:GetItem", TABLE)).allowed
    assert evaluate(statements, Request("DYNAMODB:getitem", TABLE)).allowed
    assert not evaluate(statements, Request("dynamodb:PutItem", TABLE)).allowed
    assert evaluate(statements, Request("states:SendTaskFailure", "*")).allowed
    assert evaluate(statements, Request("states:SendTaskSuccess", "*")).allowed
    assert not evaluate(statements, Request("states:SendTaskHeartbeat", "*")).allowed  # 9 letters, not 7


def test_resource_wildcards_match_case_sensitively_and_across_path_segments() -> None:
    statements = policy(allow("s3:GetObject", "arn:aws:s3:::invoices/*/invoice.pdf"))
    assert evaluate(statements, Request("s3:GetObject", "arn:aws:s3:::invoices/o-1/invoice.pdf")).allowed
    assert evaluate(statements, Request("s3:GetObject", "arn:aws:s3:::invoices/a/b/invoice.pdf")).allowed
    assert not evaluate(statements, Request("s3:GetObject", "arn:aws:s3:::invoices/o-1/invoice.json")).allowed
    assert not evaluate(statements, Request("s3:GetObject", "arn:aws:s3:::Invoices/o-1/invoice.pdf")).allowed


def test_an_index_needs_its_own_grant() -> None:
    statements = policy(allow("dynamodb:Query", TABLE))
    assert evaluate(statements, Request("dynamodb:Query", TABLE)).allowed
    assert not evaluate(statements, Request("dynamodb:Query", f"{TABLE}/index/ByCustomer")).allowed
    assert evaluate(
        policy(allow("dynamodb:Query", f"{TABLE}/index/*")), Request("dynamodb:Query", f"{TABLE}/index/X")
    ).allowed


def test_an_action_without_a_resource_type_is_granted_on_star_only() -> None:
    assert evaluate(
        policy(allow("states:SendTaskSuccess", "*")), Request("states:SendTaskSuccess", "*")
    ).allowed
    assert not evaluate(
        policy(allow("states:SendTaskSuccess", "arn:aws:states:*")), Request("states:SendTaskSuccess", "*")
    ).allowed


def test_an_explicit_deny_wins_over_any_allow() -> None:
    statements = policy(allow("dynamodb:*", "*"), deny("dynamodb:DeleteItem", TABLE))
    assert evaluate(statements, Request("dynamodb:PutItem", TABLE)).allowed
    decision = evaluate(statements, Request("dynamodb:DeleteItem", TABLE))
    assert not decision.allowed
    assert "explicitly denied by test statement 1" in decision.reason


def test_not_action_and_not_resource() -> None:
    statements = policy(
        {"Effect": "Allow", "NotAction": "dynamodb:DeleteItem", "Resource": TABLE},
        {"Effect": "Allow", "Action": "s3:GetObject", "NotResource": "arn:aws:s3:::secret/*"},
    )
    assert evaluate(statements, Request("dynamodb:PutItem", TABLE)).allowed
    assert not evaluate(statements, Request("dynamodb:DeleteItem", TABLE)).allowed
    assert evaluate(statements, Request("s3:GetObject", "arn:aws:s3:::public/a")).allowed
    assert not evaluate(statements, Request("s3:GetObject", "arn:aws:s3:::secret/a")).allowed


def test_string_equals_pins_the_events_source() -> None:
    statements = policy(
        allow("events:PutEvents", BUS, Condition={"StringEquals": {"events:source": "orderflow.orders"}})
    )
    assert evaluate(
        statements, Request("events:PutEvents", BUS, {"events:source": "orderflow.orders"})
    ).allowed
    decision = evaluate(statements, Request("events:PutEvents", BUS, {"events:source": "orderflow.payments"}))
    assert not decision.allowed
    assert "events:source" in decision.reason
    assert "orderflow.payments" in decision.reason


def test_a_condition_key_missing_from_the_request_does_not_match() -> None:
    statements = policy(
        allow("events:PutEvents", BUS, Condition={"StringEquals": {"events:source": "orderflow.orders"}})
    )
    decision = evaluate(statements, Request("events:PutEvents", BUS))
    assert not decision.allowed
    assert "the request has no events:source" in decision.reason


def test_condition_key_names_are_case_insensitive_values_are_not() -> None:
    statements = policy(
        allow("events:PutEvents", BUS, Condition={"StringEquals": {"Events:Source": "orderflow.orders"}})
    )
    assert evaluate(
        statements, Request("events:PutEvents", BUS, {"events:source": "orderflow.orders"})
    ).allowed
    assert not evaluate(
        statements, Request("events:PutEvents", BUS, {"events:source": "Orderflow.Orders"})
    ).allowed


@pytest.mark.parametrize(
    ("condition", "context", "holds"),
    [
        ({"StringLike": {"k": "orderflow.*"}}, {"k": "orderflow.orders"}, True),
        ({"StringLike": {"k": "orderflow.*"}}, {"k": "other.orders"}, False),
        ({"StringEquals": {"k": ["a", "b"]}}, {"k": "b"}, True),  # listed values are alternatives
        ({"StringNotEquals": {"k": ["a", "b"]}}, {"k": "b"}, False),
        ({"StringNotEquals": {"k": ["a", "b"]}}, {"k": "c"}, True),
        ({"StringNotEquals": {"k": "a"}}, {}, True),  # a negated operator holds for a missing key
        ({"StringEqualsIfExists": {"k": "a"}}, {}, True),
        ({"StringEqualsIfExists": {"k": "a"}}, {"k": "b"}, False),
        ({"StringEqualsIgnoreCase": {"k": "ABC"}}, {"k": "abc"}, True),
        ({"Bool": {"aws:SecureTransport": "true"}}, {"aws:SecureTransport": True}, True),
        ({"Bool": {"aws:SecureTransport": True}}, {"aws:SecureTransport": False}, False),
        ({"Null": {"k": "true"}}, {}, True),
        ({"Null": {"k": "false"}}, {}, False),
        ({"NumericLessThan": {"k": "10"}}, {"k": "9"}, True),
        (
            {"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/orderflow-payments-*"}},
            {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/orderflow-payments-ProcessPaymentRole"},
            True,
        ),
        (
            {"ArnEquals": {"aws:SourceArn": "arn:aws:events:*:123456789012:rule/orderflow/*"}},
            {"aws:SourceArn": "arn:aws:events:us-east-1:123456789012:rule/orderflow/Reserve"},
            True,
        ),
        (  # each ARN component is matched on its own: a * does not cross into the account
            {"ArnLike": {"aws:SourceArn": "arn:aws:events:us-east-1*:rule/x"}},
            {"aws:SourceArn": "arn:aws:events:us-east-1:123456789012:rule/x"},
            False,
        ),
        (
            {"ArnNotLike": {"aws:PrincipalArn": "arn:aws:iam::*:role/orderflow-payments-*"}},
            {"aws:PrincipalArn": "arn:aws:iam::123456789012:role/orderflow-orders-X"},
            True,
        ),
        # Every operator and every key of a block must hold.
        ({"StringEquals": {"a": "1", "b": "2"}}, {"a": "1", "b": "3"}, False),
        ({"StringEquals": {"a": "1"}, "StringLike": {"b": "2*"}}, {"a": "1", "b": "22"}, True),
    ],
)
def test_condition_operators(condition: dict[str, Any], context: dict[str, Any], holds: bool) -> None:
    assert condition_holds(condition, context)[0] is holds


@pytest.mark.parametrize(
    ("operator", "keys", "holds"),
    [
        ("ForAllValues:StringEquals", ["orderId"], True),
        ("ForAllValues:StringEquals", ["orderId", "customerId"], False),
        ("ForAllValues:StringEquals", None, True),  # no values: vacuously true
        ("ForAnyValue:StringEquals", ["customerId", "orderId"], True),
        ("ForAnyValue:StringEquals", ["customerId"], False),
        ("ForAnyValue:StringEquals", None, False),
        ("ForAllValues:StringNotEquals", ["customerId"], True),
        ("ForAllValues:StringNotEquals", ["customerId", "orderId"], False),
    ],
)
def test_set_operators_on_the_encryption_context_keys(
    operator: str, keys: list[str] | None, holds: bool
) -> None:
    context = {} if keys is None else {"kms:EncryptionContextKeys": keys}
    assert condition_holds({operator: {"kms:EncryptionContextKeys": "orderId"}}, context)[0] is holds


def test_the_encryption_context_pins_the_order() -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/k-1"
    statements = policy(
        allow(
            "kms:Decrypt",
            key,
            Condition={
                "StringLike": {"kms:EncryptionContext:orderId": "*"},
                "ForAllValues:StringEquals": {"kms:EncryptionContextKeys": ["orderId"]},
            },
        )
    )
    opened = {"kms:EncryptionContext:orderId": "o-1", "kms:EncryptionContextKeys": ["orderId"]}
    assert evaluate(statements, Request("kms:Decrypt", key, opened)).allowed
    assert not evaluate(statements, Request("kms:Decrypt", key, {})).allowed
    widened = {
        **opened,
        "kms:EncryptionContext:tenant": "t",
        "kms:EncryptionContextKeys": ["orderId", "tenant"],
    }
    assert not evaluate(statements, Request("kms:Decrypt", key, widened)).allowed


def test_an_unknown_condition_operator_refuses_rather_than_guesses() -> None:
    unknown = {"DateLessThan": {"aws:CurrentTime": "2030-01-01T00:00:00Z"}}
    allowed = policy(allow("dynamodb:GetItem", TABLE, Condition=unknown))
    decision = evaluate(allowed, Request("dynamodb:GetItem", TABLE))
    assert not decision.allowed
    assert "not supported" in decision.reason
    denied = policy(allow("dynamodb:GetItem", TABLE), deny("dynamodb:GetItem", TABLE, Condition=unknown))
    assert not evaluate(denied, Request("dynamodb:GetItem", TABLE)).allowed


def test_the_allowing_statements_and_patterns_are_named() -> None:
    statements = policy(allow(["dynamodb:GetItem", "dynamodb:Get*"], [TABLE, f"{TABLE}/index/*"]))
    decision = evaluate(statements, Request("dynamodb:GetItem", TABLE))
    (match,) = decision.allowed_by
    assert match.actions == ("dynamodb:GetItem", "dynamodb:Get*")
    assert match.resources == (TABLE,)


@pytest.mark.parametrize(
    "statement",
    [
        {"Effect": "Maybe", "Action": "s3:GetObject", "Resource": "*"},
        {"Effect": "Allow", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:GetObject", "NotAction": "s3:PutObject", "Resource": "*"},
        {"Effect": "Allow", "Action": "s3:GetObject"},
        {"Effect": "Allow", "Action": {"Ref": "X"}, "Resource": "*"},  # an unresolved intrinsic
    ],
)
def test_a_statement_that_is_not_iam_is_an_error(statement: dict[str, Any]) -> None:
    with pytest.raises(PolicyError):
        parse_policy("bad", {"Statement": [statement]})
