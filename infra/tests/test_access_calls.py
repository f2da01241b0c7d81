"""Each AWS call the services make -> the IAM requests it is authorized as (action, resource, conditions)."""

from __future__ import annotations

from typing import Any

import pytest

from orderflow_local.access.calls import (
    Call,
    UnknownOperation,
    accesses,
    known_operations,
    recorded_params,
    recorded_response,
)

ACCOUNT = "123456789012"
TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orderflow-orders-OrdersTable"
MACHINE = f"arn:aws:states:us-east-1:{ACCOUNT}:stateMachine:orderflow-orders-OrderSagaStateMachine"
EXECUTION = f"arn:aws:states:us-east-1:{ACCOUNT}:execution:orderflow-orders-OrderSagaStateMachine:o-1"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def mapped(service: str, operation: str, params: dict[str, Any], **fields: Any) -> list[tuple[Any, ...]]:
    """The call's IAM requests, after recording kept what it keeps of the parameters and answer."""
    response = recorded_response(service, operation, fields.pop("answer", {}))
    call = Call(service, operation, recorded_params(service, operation, params), response, **fields)
    return [(r.action, r.resource, dict(r.context)) for r in accesses(call)]


@pytest.mark.parametrize(
    ("operation", "params", "expected"),
    [
        ("GetItem", {"TableName": "orderflow-orders-OrdersTable", "Key": {}}, [("dynamodb:GetItem", TABLE)]),
        ("PutItem", {"TableName": "orderflow-orders-OrdersTable", "Item": {}}, [("dynamodb:PutItem", TABLE)]),
        ("UpdateItem", {"TableName": "orderflow-orders-OrdersTable"}, [("dynamodb:UpdateItem", TABLE)]),
        ("DeleteItem", {"TableName": "orderflow-orders-OrdersTable"}, [("dynamodb:DeleteItem", TABLE)]),
        ("Query", {"TableName": "orderflow-orders-OrdersTable"}, [("dynamodb:Query", TABLE)]),
        (
            "Query",
            {"TableName": "orderflow-orders-OrdersTable", "IndexName": "PendingStartIndex"},
            [("dynamodb:Query", f"{TABLE}/index/PendingStartIndex")],
        ),
        (
            "Scan",
            {"TableName": "orderflow-orders-OrdersTable", "IndexName": "X"},
            [("dynamodb:Scan", f"{TABLE}/index/X")],
        ),
        ("GetItem", {"TableName": TABLE}, [("dynamodb:GetItem", TABLE)]),  # a table named by its ARN
        (
            "BatchGetItem",
            {"RequestItems": {"orderflow-orders-OrdersTable": {"Keys": []}, "other": {"Keys": []}}},
            [
                (
                    "dynamodb:BatchGetItem",
                    f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orderflow-orders-OrdersTable",
                ),
                ("dynamodb:BatchGetItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/other"),
            ],
        ),
        (
            "BatchWriteItem",
            {"RequestItems": {"orderflow-orders-OrdersTable": [{"PutRequest": {"Item": {}}}]}},
            [("dynamodb:BatchWriteItem", TABLE)],
        ),
        (
            "TransactWriteItems",
            {
                "TransactItems": [
                    {"Put": {"TableName": "reservations", "Item": {}}},
                    {"Update": {"TableName": "catalogue", "Key": {}}},
                    {"Delete": {"TableName": "catalogue", "Key": {}}},
                    {"ConditionCheck": {"TableName": "fences", "Key": {}}},
                ]
            },
            [
                ("dynamodb:PutItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/reservations"),
                ("dynamodb:UpdateItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/catalogue"),
                ("dynamodb:DeleteItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/catalogue"),
                ("dynamodb:ConditionCheckItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/fences"),
            ],
        ),
        (
            "TransactGetItems",
            {"TransactItems": [{"Get": {"TableName": "catalogue", "Key": {}}}]},
            [("dynamodb:GetItem", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/catalogue")],
        ),
    ],
)
def test_dynamodb(operation: str, params: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert [(action, resource) for action, resource, _ in mapped("dynamodb", operation, params)] == expected


def test_each_put_events_entry_is_its_own_request_with_its_source_on_its_bus() -> None:
    entries = [
        {
            "Source": "orderflow.orders",
            "DetailType": "OrderReceived",
            "Detail": "{}",
            "EventBusName": "orderflow",
        },
        {
            "Source": "orderflow.orders",
            "DetailType": "ReserveStock",
            "Detail": "{}",
            "EventBusName": "commands",
        },
        {
            "Source": "orderflow.orders",
            "DetailType": "X",
            "Detail": "{}",
            "EventBusName": f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/other",
        },
        {"Source": "orderflow.orders", "DetailType": "Y", "Detail": "{}"},  # the default bus
    ]
    assert mapped("events", "PutEvents", {"Entries": entries}) == [
        (
            "events:PutEvents",
            f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/{bus}",
            {"events:source": "orderflow.orders", "events:detail-type": detail_type},
        )
        for bus, detail_type in [
            ("orderflow", "OrderReceived"),
            ("commands", "ReserveStock"),
            ("other", "X"),
            ("default", "Y"),
        ]
    ]


@pytest.mark.parametrize(
    ("operation", "params", "resource"),
    [
        ("StartExecution", {"stateMachineArn": MACHINE, "name": "o-1", "input": "{}"}, MACHINE),
        ("DescribeExecution", {"executionArn": EXECUTION}, EXECUTION),
        ("GetExecutionHistory", {"executionArn": EXECUTION}, EXECUTION),
        ("StopExecution", {"executionArn": EXECUTION}, EXECUTION),
        ("RedriveExecution", {"executionArn": EXECUTION}, EXECUTION),
        # Task-token actions have no resource type in IAM.
        ("SendTaskSuccess", {"taskToken": "t", "output": "{}"}, "*"),
        ("SendTaskFailure", {"taskToken": "t", "error": "E", "cause": "c"}, "*"),
        ("SendTaskHeartbeat", {"taskToken": "t"}, "*"),
    ],
)
def test_step_functions(operation: str, params: dict[str, Any], resource: str) -> None:
    assert mapped("stepfunctions", operation, params) == [(f"states:{operation}", resource, {})]


@pytest.mark.parametrize(
    ("operation", "params", "expected"),
    [
        (
            "PutObject",
            {"Bucket": "b", "Key": "i/1.pdf", "Body": b"x"},
            [("s3:PutObject", "arn:aws:s3:::b/i/1.pdf")],
        ),
        (
            "PutObject",
            {"Bucket": "b", "Key": "k", "ACL": "private", "Tagging": "a=b"},
            [
                ("s3:PutObject", "arn:aws:s3:::b/k"),
                ("s3:PutObjectAcl", "arn:aws:s3:::b/k"),
                ("s3:PutObjectTagging", "arn:aws:s3:::b/k"),
            ],
        ),
        ("GetObject", {"Bucket": "b", "Key": "k"}, [("s3:GetObject", "arn:aws:s3:::b/k")]),
        (
            "GetObject",
            {"Bucket": "b", "Key": "k", "VersionId": "v"},
            [("s3:GetObjectVersion", "arn:aws:s3:::b/k")],
        ),
        ("HeadObject", {"Bucket": "b", "Key": "k"}, [("s3:GetObject", "arn:aws:s3:::b/k")]),
        ("DeleteObject", {"Bucket": "b", "Key": "k"}, [("s3:DeleteObject", "arn:aws:s3:::b/k")]),
        (
            "CopyObject",
            {"Bucket": "b", "Key": "k", "CopySource": {"Bucket": "a", "Key": "s"}},
            [("s3:PutObject", "arn:aws:s3:::b/k"), ("s3:GetObject", "arn:aws:s3:::a/s")],
        ),
        ("ListObjectsV2", {"Bucket": "b"}, [("s3:ListBucket", "arn:aws:s3:::b")]),
    ],
)
def test_s3(operation: str, params: dict[str, Any], expected: list[tuple[str, str]]) -> None:
    assert [(action, resource) for action, resource, _ in mapped("s3", operation, params)] == expected


def test_a_presigned_url_authorizes_what_the_call_would() -> None:
    assert mapped("s3", "GetObject", {"Bucket": "b", "Key": "k"}, presigned=True) == [
        ("s3:GetObject", "arn:aws:s3:::b/k", {})
    ]


def test_a_secret_named_by_name_is_authorized_as_its_full_arn_from_the_answer() -> None:
    full = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:orderflow-payments/api-key-AbCdEf"
    name = "orderflow-payments/api-key"
    assert mapped(
        "secretsmanager", "GetSecretValue", {"SecretId": name}, answer={"ARN": full, "SecretString": "s"}
    ) == [("secretsmanager:GetSecretValue", full, {"secretsmanager:SecretId": name})]
    # Without an answer (the call failed), only the name is known.
    assert mapped("secretsmanager", "GetSecretValue", {"SecretId": name})[0][1] == (
        f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{name}"
    )
    assert mapped("secretsmanager", "GetSecretValue", {"SecretId": full})[0][1] == full


def test_ses_v1_send_email_needs_the_identity_and_the_configuration_set() -> None:
    params = {
        "Source": "Orderflow <orders@orderflow.example>",
        "Destination": {"ToAddresses": ["a@example.com"], "BccAddresses": ["b@example.com"]},
        "Message": {"Subject": {"Data": "s"}, "Body": {"Text": {"Data": "secret body"}}},
        "ConfigurationSetName": "emails",
    }
    context = {
        "ses:ApiVersion": "1",
        "ses:FromAddress": "orders@orderflow.example",
        "ses:FromDisplayName": "Orderflow",
        "ses:Recipients": ["a@example.com", "b@example.com"],
    }
    assert mapped("ses", "SendEmail", params) == [
        ("ses:SendEmail", f"arn:aws:ses:us-east-1:{ACCOUNT}:identity/orders@orderflow.example", context),
        ("ses:SendEmail", f"arn:aws:ses:us-east-1:{ACCOUNT}:configuration-set/emails", context),
    ]


def test_ses_v2_send_email() -> None:
    params = {
        "FromEmailAddress": "orders@orderflow.example",
        "Destination": {"ToAddresses": ["a@example.com"]},
        "Content": {},
    }
    ((action, resource, context),) = mapped("sesv2", "SendEmail", params)
    assert action == "ses:SendEmail"
    assert resource == f"arn:aws:ses:us-east-1:{ACCOUNT}:identity/orders@orderflow.example"
    assert context["ses:ApiVersion"] == "2"
    assert context["ses:FromAddress"] == "orders@orderflow.example"


def test_kms_requests_carry_the_encryption_context() -> None:
    params = {"KeyId": KEY, "Plaintext": b"tok_visa", "EncryptionContext": {"orderId": "o-1"}}
    assert mapped("kms", "Encrypt", params, answer={"KeyId": KEY, "CiphertextBlob": b"x"}) == [
        (
            "kms:Encrypt",
            KEY,
            {
                "kms:CallerAccount": ACCOUNT,
                "kms:EncryptionContextKeys": ["orderId"],
                "kms:EncryptionContext:orderId": "o-1",
                "kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
            },
        )
    ]


def test_a_key_named_by_alias_or_not_at_all_is_the_key_the_answer_names() -> None:
    ((_, resource, context),) = mapped(
        "kms",
        "Encrypt",
        {"KeyId": "alias/orderflow-payment-tokens", "Plaintext": b"x"},
        answer={"KeyId": KEY},
    )
    assert resource == KEY
    assert context["kms:RequestAlias"] == "alias/orderflow-payment-tokens"
    ((_, resource, _),) = mapped("kms", "Decrypt", {"CiphertextBlob": b"x"}, answer={"KeyId": KEY})
    assert resource == KEY
    ((_, resource, _),) = mapped(
        "kms", "Decrypt", {"KeyId": "1234abcd-12ab-34cd-56ef-1234567890ab", "CiphertextBlob": b"x"}
    )
    assert resource == KEY


def test_sqs_sns_and_lambda() -> None:
    queue = f"http://127.0.0.1:4566/{ACCOUNT}/orderflow-orders-Q"
    assert mapped("sqs", "SendMessageBatch", {"QueueUrl": queue, "Entries": []}) == [
        ("sqs:SendMessage", f"arn:aws:sqs:us-east-1:{ACCOUNT}:orderflow-orders-Q", {})
    ]
    topic = f"arn:aws:sns:us-east-1:{ACCOUNT}:alerts"
    assert mapped("sns", "Publish", {"TopicArn": topic, "Message": "m"}) == [("sns:Publish", topic, {})]
    assert mapped("lambda", "Invoke", {"FunctionName": "f"}) == [
        ("lambda:InvokeFunction", f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:f", {})
    ]


def test_an_unknown_operation_is_an_error_never_allowed() -> None:
    with pytest.raises(UnknownOperation, match=r"dynamodb\.CreateTable"):
        mapped("dynamodb", "CreateTable", {"TableName": "t"})
    with pytest.raises(UnknownOperation, match=r"cognito-idp\.AdminCreateUser"):
        mapped("cognito-idp", "AdminCreateUser", {"UserPoolId": "p", "Username": "u"})
    with pytest.raises(UnknownOperation):
        mapped("dynamodb", "TransactWriteItems", {"TransactItems": [{"Frobnicate": {"TableName": "t"}}]})


def test_logs_and_x_ray_are_out_of_scope_and_get_caller_identity_needs_no_permission() -> None:
    assert mapped("logs", "PutLogEvents", {"logGroupName": "g"}) == []
    assert mapped("xray", "PutTraceSegments", {}) == []
    assert mapped("sts", "GetCallerIdentity", {}) == []


def test_the_recording_keeps_no_task_token_event_detail_item_or_body() -> None:
    assert recorded_params("stepfunctions", "SendTaskSuccess", {"taskToken": "secret", "output": "{}"}) == {}
    entry = {"Source": "s", "DetailType": "d", "Detail": '{"taskToken": "secret"}', "EventBusName": "b"}
    assert recorded_params("events", "PutEvents", {"Entries": [entry]}) == {
        "Entries": [{"Source": "s", "DetailType": "d", "EventBusName": "b"}]
    }
    assert recorded_params("dynamodb", "PutItem", {"TableName": "t", "Item": {"card": {"S": "secret"}}}) == {
        "TableName": "t"
    }
    assert recorded_params("s3", "PutObject", {"Bucket": "b", "Key": "k", "Body": b"secret"}) == {
        "Bucket": "b",
        "Key": "k",
    }
    assert recorded_params("kms", "Decrypt", {"CiphertextBlob": b"secret", "KeyId": "k"}) == {"KeyId": "k"}
    assert recorded_response("secretsmanager", "GetSecretValue", {"ARN": "a", "SecretString": "secret"}) == {
        "ARN": "a"
    }
    assert recorded_response("kms", "Decrypt", {"KeyId": "k", "Plaintext": b"secret"}) == {"KeyId": "k"}
    # An operation of a service the mapper does not know: the parameter names, not their values.
    assert recorded_params(
        "cognito-idp", "AdminCreateUser", {"UserPoolId": "p", "TemporaryPassword": "pw"}
    ) == {"unknownParams": ["TemporaryPassword", "UserPoolId"]}


def test_every_operation_the_services_call_is_known() -> None:
    called = {
        ("dynamodb", op)
        for op in (
            "GetItem",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "Query",
            "BatchGetItem",
            "TransactWriteItems",
        )
    } | {
        ("events", "PutEvents"),
        ("stepfunctions", "StartExecution"),
        ("stepfunctions", "DescribeExecution"),
        ("stepfunctions", "GetExecutionHistory"),
        ("stepfunctions", "SendTaskSuccess"),
        ("stepfunctions", "SendTaskFailure"),
        ("stepfunctions", "SendTaskHeartbeat"),
        ("s3", "PutObject"),
        ("s3", "GetObject"),
        ("secretsmanager", "GetSecretValue"),
        ("ses", "SendEmail"),
        ("kms", "GenerateDataKey"),
        ("kms", "Decrypt"),
    }
    assert called <= set(known_operations())
