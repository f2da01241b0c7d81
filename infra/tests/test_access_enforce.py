"""A call the function's role does not allow is refused when it is made, as AWS refuses it."""

from __future__ import annotations

import json
import textwrap
from dataclasses import replace
from pathlib import Path
from typing import Any

import boto3
import boto3.session
import pytest
from botocore.exceptions import ClientError

from orderflow_local.access import recording
from orderflow_local.access.check import RecordedCall, check, load_calls
from orderflow_local.access.policies import load_iam_records, role_grants
from orderflow_local.lambda_runtime import LocalFunction
from orderflow_local.provisioner import DeployedStack, Provisioner
from orderflow_local.resources import FunctionSpec

REGION = "us-east-1"
ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/probe-FnRole"
PRINCIPAL = f"arn:aws:sts::{ACCOUNT}:assumed-role/probe-FnRole/probe-Fn"

# A function that may read and write its table (but never delete from it), publish as "probe"
# only, and read its own secret; the other table and secret exist but are not its.
TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  Other:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  Secret:
    Type: AWS::SecretsManager::Secret
    Properties: {Name: probe/own, SecretString: own-value}
  OtherSecret:
    Type: AWS::SecretsManager::Secret
    Properties: {Name: probe/other, SecretString: other-value}
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: python3.13
      Handler: enforce_probe.handler
      CodeUri: src/
      Policies:
        - Statement:
            - Effect: Allow
              Action: [dynamodb:GetItem, dynamodb:PutItem, dynamodb:DeleteItem]
              Resource: !GetAtt Table.Arn
            - Effect: Deny
              Action: dynamodb:DeleteItem
              Resource: "*"
            - Effect: Allow
              Action: events:PutEvents
              Resource: !Sub arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default
              Condition: {StringEquals: {events:source: probe}}
            - Effect: Allow
              Action: secretsmanager:GetSecretValue
              Resource: !Ref Secret
"""

# The function's code: it tries each call it is asked for and answers what came back.
HANDLER = textwrap.dedent(
    """
    import boto3
    from botocore.exceptions import ClientError

    DYNAMODB = boto3.client("dynamodb")  # made at INIT, before the first invocation

    def handler(event, context):
        answers = {}
        for table in event["tables"]:
            try:
                DYNAMODB.put_item(TableName=table, Item={"id": {"S": "o-1"}})
                answers[table] = "stored"
            except ClientError as error:
                answers[table] = error.response["Error"]
        return answers
    """
)


def deploy(root: Path, clients: Any, access_log: Path, monkeypatch: pytest.MonkeyPatch) -> DeployedStack:
    """The probe stack, recording its role's policies under access_log as the local system does."""
    (root / "src").mkdir(parents=True, exist_ok=True)
    (root / "src" / "enforce_probe.py").write_text(HANDLER)
    (root / "template.yaml").write_text(TEMPLATE)
    with monkeypatch.context() as env:
        env.setenv(recording.ACCESS_LOG_VARIABLE, str(access_log))
        return Provisioner(clients).deploy("probe", root / "template.yaml", {})


def lines(access_log: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted((access_log / recording.CALLS_DIR).glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]


def refused_error(raised: pytest.ExceptionInfo[ClientError]) -> dict[str, str]:
    return dict(raised.value.response["Error"])


# --- in this process, as a function's process installs it ---------------------------------------


@pytest.fixture
def guarded(fake_aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Any]:
    """The probe stack deployed, then this process's calls recorded and judged as its function's;
    also a client made before, which nothing judges (the test's own view of the account)."""
    access_log = tmp_path / "access"
    stack = deploy(
        tmp_path, lambda service: boto3.client(service, region_name=REGION), access_log, monkeypatch
    )
    assert stack.functions["Fn"].role == ROLE
    unjudged = boto3.client("dynamodb", region_name=REGION)
    monkeypatch.setattr(boto3.session.Session, "__init__", boto3.session.Session.__init__)
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    recording.install(access_log, "Fn", "probe-Fn", stack.functions["Fn"].role)
    return access_log, unjudged


def test_a_call_the_role_allows_is_sent_and_one_it_does_not_is_refused_before_it_is_sent(
    guarded: tuple[Path, Any],
) -> None:
    access_log, unjudged = guarded
    dynamodb = boto3.client("dynamodb", region_name=REGION)

    dynamodb.put_item(TableName="probe-Table", Item={"id": {"S": "o-1"}})
    with pytest.raises(ClientError) as raised:
        dynamodb.put_item(TableName="probe-Other", Item={"id": {"S": "o-1"}})

    assert refused_error(raised) == {
        "Code": "AccessDeniedException",
        "Message": (
            f"User: {PRINCIPAL} is not authorized to perform: dynamodb:PutItem on resource: "
            f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/probe-Other because no identity-based policy "
            "allows the dynamodb:PutItem action"
        ),
    }
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert unjudged.scan(TableName="probe-Table")["Count"] == 1
    assert unjudged.scan(TableName="probe-Other")["Count"] == 0  # never sent
    allowed, refused = lines(access_log)
    assert (allowed["status"], "refused" in allowed) == (200, False)
    assert refused["params"] == {"TableName": "probe-Other"}
    assert (refused["status"], refused["error"], refused["refused"]) == (400, "AccessDeniedException", True)


def test_an_explicit_deny_is_named_in_the_refusal(guarded: tuple[Path, Any]) -> None:
    _, unjudged = guarded
    unjudged.put_item(TableName="probe-Table", Item={"id": {"S": "o-1"}})
    with pytest.raises(ClientError) as raised:
        boto3.client("dynamodb", region_name=REGION).delete_item(
            TableName="probe-Table", Key={"id": {"S": "o-1"}}
        )
    assert refused_error(raised)["Message"].endswith("with an explicit deny in an identity-based policy")
    assert unjudged.scan(TableName="probe-Table")["Count"] == 1


def test_put_events_is_refused_for_an_entry_with_a_source_the_role_may_not_publish_as(
    guarded: tuple[Path, Any],
) -> None:
    events = boto3.client("events", region_name=REGION)
    own = {"Source": "probe", "DetailType": "Happened", "Detail": "{}"}
    forged = {"Source": "orderflow.orders", "DetailType": "OrderPaymentFailed", "Detail": "{}"}

    assert events.put_events(Entries=[own])["FailedEntryCount"] == 0
    with pytest.raises(ClientError) as raised:
        events.put_events(Entries=[own, forged])  # one entry refused: the whole call is

    error = refused_error(raised)
    assert error["Code"] == "AccessDeniedException"
    assert "is not authorized to perform: events:PutEvents on resource: " in error["Message"]
    assert ":event-bus/default " in error["Message"]


def test_a_secret_read_by_name_is_judged_on_its_arn_and_a_refused_one_is_not_handed_over(
    guarded: tuple[Path, Any],
) -> None:
    access_log, _ = guarded
    secrets = boto3.client("secretsmanager", region_name=REGION)

    assert secrets.get_secret_value(SecretId="probe/own")["SecretString"] == "own-value"
    with pytest.raises(ClientError) as raised:
        secrets.get_secret_value(SecretId="probe/other")

    error = refused_error(raised)
    assert error["Code"] == "AccessDeniedException"
    assert f":secretsmanager:{REGION}:{ACCOUNT}:secret:probe/other-" in error["Message"]
    assert "other-value" not in json.dumps(raised.value.response)
    refused = lines(access_log)[-1]
    assert refused["refused"] is True
    assert refused["response"]["ARN"].startswith(
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:probe/other-"
    )


def test_a_refused_call_is_reported_by_the_check_after_the_run(guarded: tuple[Path, Any]) -> None:
    access_log, _ = guarded
    with pytest.raises(ClientError):
        boto3.client("dynamodb", region_name=REGION).get_item(TableName="probe-Other", Key={"id": {"S": "x"}})
    grants = role_grants("Fn", "probe-Fn", ROLE, load_iam_records(access_log))
    calls: list[RecordedCall] = list(load_calls(access_log))
    report = check(calls, {grants.name: grants})
    (denial,) = report.denials
    assert (denial.request.action, denial.refused) == ("dynamodb:GetItem", 1)
    assert "refused when made" in report.text()
    assert report.failed()


# --- in a function's own process ---------------------------------------------------------------


@pytest.mark.enable_socket
def test_a_function_process_recording_its_calls_is_refused_what_its_role_does_not_allow(
    moto_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def clients(service: str) -> Any:
        return boto3.client(
            service,
            endpoint_url=moto_server,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    access_log = tmp_path / "access"
    stack = deploy(tmp_path / "probe", clients, access_log, monkeypatch)
    spec: FunctionSpec = stack.functions["Fn"]
    environment = {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": moto_server,
        recording.ACCESS_LOG_VARIABLE: str(access_log),
    }
    function = LocalFunction(replace(spec, timeout=30), environment)
    function.start()
    try:
        function.wait_ready(timeout=60)
        answers = function.invoke({"tables": ["probe-Table", "probe-Other"]})
    finally:
        function.stop()

    assert answers["probe-Table"] == "stored"
    assert answers["probe-Other"]["Code"] == "AccessDeniedException"
    assert answers["probe-Other"]["Message"].startswith(
        f"User: {PRINCIPAL} is not authorized to perform: dynamodb:PutItem on resource: "
    )
    assert clients("dynamodb").scan(TableName="probe-Other")["Count"] == 0
    assert clients("dynamodb").scan(TableName="probe-Table")["Count"] == 1
    assert [line.get("refused", False) for line in lines(access_log)] == [False, True]
