"""Recording every AWS call a function makes: one JSON line per call, from a botocore hook."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import boto3
import boto3.session
import pytest
from botocore.exceptions import ClientError

from orderflow_local.access import recording
from orderflow_local.access.calls import Call, accesses
from orderflow_local.lambda_runtime import LocalFunction
from orderflow_local.resources import FunctionSpec


def lines(directory: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted((directory / recording.CALLS_DIR).glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


@pytest.fixture
def recorded(fake_aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """This process records its calls into tmp_path, as a function's process does; undone after."""
    monkeypatch.setattr(boto3.session.Session, "__init__", boto3.session.Session.__init__)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    recording.install(tmp_path, "ProbeFunction", "stack-ProbeFunction")
    return tmp_path


def test_each_call_of_a_real_client_is_one_line_with_what_its_iam_request_needs(recorded: Path) -> None:
    dynamodb = boto3.client("dynamodb", region_name="us-east-1")  # made after install, like a handler's
    dynamodb.create_table(
        TableName="orders",
        KeySchema=[{"AttributeName": "orderId", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "orderId", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb.put_item(TableName="orders", Item={"orderId": {"S": "o-1"}, "card": {"S": "4242"}})
    boto3.resource("dynamodb", region_name="us-east-1").Table("orders").get_item(Key={"orderId": "o-1"})
    boto3.client("events", region_name="us-east-1").put_events(
        Entries=[
            {"Source": "orderflow.orders", "DetailType": "OrderReceived", "Detail": '{"taskToken": "t"}'}
        ]
    )

    put_item, get_item, put_events = lines(recorded)[1:]
    assert put_item == {
        "function": "ProbeFunction",
        "functionName": "stack-ProbeFunction",
        "service": "dynamodb",
        "operation": "PutItem",
        "region": "us-east-1",
        "params": {"TableName": "orders"},
        "status": 200,
    }
    assert (get_item["operation"], get_item["params"]) == ("GetItem", {"TableName": "orders"})
    assert put_events["params"] == {
        "Entries": [{"Source": "orderflow.orders", "DetailType": "OrderReceived"}]
    }
    assert "4242" not in json.dumps(lines(recorded))  # items are never recorded
    (request,) = accesses(Call(put_events["service"], put_events["operation"], put_events["params"]))
    assert (request.action, request.context["events:source"]) == ("events:PutEvents", "orderflow.orders")


def test_a_call_that_fails_is_recorded_with_its_error(recorded: Path) -> None:
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    with pytest.raises(ClientError):
        sfn.describe_execution(executionArn="arn:aws:states:us-east-1:123456789012:execution:m:o-1")
    (line,) = lines(recorded)
    assert line["operation"] == "DescribeExecution"
    assert line["status"] >= 400
    assert line["error"] == "ExecutionDoesNotExist"


def test_a_secret_read_by_name_records_the_full_arn_from_the_answer(recorded: Path) -> None:
    secrets = boto3.client("secretsmanager", region_name="us-east-1")
    arn = secrets.create_secret(Name="payments/api-key", SecretString="sk_test")["ARN"]
    secrets.get_secret_value(SecretId="payments/api-key")
    line = lines(recorded)[-1]
    assert line["params"] == {"SecretId": "payments/api-key"}
    assert line["response"] == {"ARN": arn}
    assert "sk_test" not in json.dumps(lines(recorded))


def test_a_presigned_url_is_recorded_as_the_call_it_authorizes(recorded: Path) -> None:
    s3 = boto3.session.Session().client("s3", region_name="us-east-1")  # a session of its own
    s3.generate_presigned_url("get_object", Params={"Bucket": "invoices", "Key": "o-1/invoice.pdf"})
    (line,) = lines(recorded)
    assert (line["service"], line["operation"], line["presigned"]) == ("s3", "GetObject", True)
    assert line["params"] == {"Bucket": "invoices", "Key": "o-1/invoice.pdf"}


def test_a_call_is_recorded_once_however_many_sessions_exist(recorded: Path) -> None:
    client = boto3.client("sqs", region_name="us-east-1")
    boto3.session.Session()  # another session must not add the handlers a second time
    client.create_queue(QueueName="q")
    assert [line["operation"] for line in lines(recorded)] == ["CreateQueue"]


PROBE_HANDLER = textwrap.dedent(
    """
    import boto3

    S3 = boto3.client("s3")  # made at INIT, before the first invocation

    def handler(event, context):
        return S3.generate_presigned_url("get_object", Params={"Bucket": "invoices", "Key": event["key"]})
    """
)


def test_a_function_process_records_its_calls_when_the_access_log_is_set(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "access_probe.py").write_text(PROBE_HANDLER)
    spec = FunctionSpec(
        "ProbeFunction", "orderflow-probe-ProbeFunction", "access_probe.handler", code, 30, 128, {}
    )
    environment = {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": "us-east-1",
        recording.ACCESS_LOG_VARIABLE: str(tmp_path / "access"),
    }
    function = LocalFunction(spec, environment)
    function.start()
    try:
        function.wait_ready(timeout=60)
        function.invoke({"key": "o-1/invoice.pdf"})
        (path,) = (tmp_path / "access" / recording.CALLS_DIR).iterdir()
        (line,) = lines(tmp_path / "access")
    finally:
        function.stop()
    assert path.name.startswith("orderflow-probe-ProbeFunction.")
    assert line["function"] == "ProbeFunction"
    assert (line["operation"], line["params"]["Key"], line["presigned"]) == (
        "GetObject",
        "o-1/invoice.pdf",
        True,
    )


def test_without_the_access_log_a_function_records_nothing(tmp_path: Path) -> None:
    code = tmp_path / "code"
    code.mkdir()
    (code / "access_probe.py").write_text(PROBE_HANDLER)
    spec = FunctionSpec("ProbeFunction", "probe", "access_probe.handler", code, 30, 128, {})
    function = LocalFunction(
        spec, {"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    function.start()
    try:
        function.wait_ready(timeout=60)
        function.invoke({"key": "k"})
    finally:
        function.stop()
    assert list(tmp_path.iterdir()) == [code]
