"""The least-privilege check against the real templates' roles as the provisioner deploys them."""

from __future__ import annotations

import json
import shutil
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError, HTTPClientError
from moto import mock_aws

from orderflow_local import moto_compat
from orderflow_local.access import recording
from orderflow_local.access.__main__ import main
from orderflow_local.access.calls import Call
from orderflow_local.access.check import RecordedCall, check
from orderflow_local.access.enforce import client_as
from orderflow_local.access.policies import FunctionGrants, from_deployed, from_log
from orderflow_local.provisioner import DeployedStack, Provisioner
from orderflow_local.stacks import STACKS, LocalEndpoints

REPO = Path(__file__).resolve().parents[2]
ACCOUNT = "123456789012"
BUS = f"arn:aws:events:us-east-1:{ACCOUNT}:event-bus/orderflow"
ORDERS_TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orderflow-orders-OrdersTable"
EXECUTION_STATUS = "orderflow-orders-ExecutionStatusFunction"
SAGA_EXECUTION = f"arn:aws:states:us-east-1:{ACCOUNT}:execution:orderflow-orders-OrderSagaStateMachine:o-1"


@dataclass
class Deployment:
    stacks: list[DeployedStack]
    access_log: Path  # what the provisioner recorded there

    @property
    def grants(self) -> dict[str, FunctionGrants]:
        return from_deployed(self.stacks)


def deploy_everything(access_log: Path) -> list[DeployedStack]:
    """Every stack of the local system, deployed as it deploys them, in-process moto."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            recording.ACCESS_LOG_VARIABLE: str(access_log),
        }.items():
            env.setenv(name, value)
        env.delenv("AWS_ENDPOINT_URL", raising=False)
        with mock_aws():
            applied = all(fix.applied for fix in moto_compat.FIXES)
            if not applied:
                moto_compat.apply()
            try:
                provisioner = Provisioner(lambda service: boto3.client(service, region_name="us-east-1"))
                return [
                    provisioner.deploy(
                        definition.name,
                        REPO / definition.template,
                        definition.parameters(LocalEndpoints("http://127.0.0.1:1")),
                    )
                    for definition in STACKS
                ]
            finally:
                if not applied:
                    moto_compat.revert()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    access_log = tmp_path_factory.mktemp("access")
    return Deployment(deploy_everything(access_log), access_log)


def called(
    function: str, service: str, operation: str, params: dict[str, Any], **fields: Any
) -> RecordedCall:
    logical_id = function.removeprefix("orderflow-orders-")
    return RecordedCall(logical_id, function, Call(service, operation, params, **fields))


def put_events(function: str, *sources: str) -> RecordedCall:
    entries = [
        {"Source": source, "DetailType": "OrderFailed", "EventBusName": "orderflow"} for source in sources
    ]
    return called(function, "events", "PutEvents", {"Entries": entries})


def what_execution_status_does() -> list[RecordedCall]:
    return [
        called(EXECUTION_STATUS, "stepfunctions", "DescribeExecution", {"executionArn": SAGA_EXECUTION}),
        called(EXECUTION_STATUS, "dynamodb", "UpdateItem", {"TableName": "orderflow-orders-OrdersTable"}),
        put_events(EXECUTION_STATUS, "orderflow.orders"),
    ]


def test_the_calls_a_function_makes_for_its_job_are_allowed_by_its_role(deployment: Deployment) -> None:
    report = check(what_execution_status_does(), deployment.grants)
    assert report.denials == []
    assert not report.failed(), report.text()


def test_a_put_events_entry_with_another_services_source_is_denied(deployment: Deployment) -> None:
    forged = put_events(EXECUTION_STATUS, "orderflow.orders", "orderflow.payments")
    report = check([*what_execution_status_does(), forged], deployment.grants)
    (denial,) = report.denials
    assert denial.function == "orderflow-orders.ExecutionStatusFunction"
    assert (denial.request.action, denial.request.resource) == ("events:PutEvents", BUS)
    assert denial.request.context["events:source"] == "orderflow.payments"
    assert "events:source" in denial.reason
    assert "orderflow.payments" in denial.reason
    assert report.failed()
    assert "DENIED (1)" in report.text()


def test_a_put_item_on_another_services_table_is_denied(deployment: Deployment) -> None:
    other_table = called(
        EXECUTION_STATUS, "dynamodb", "PutItem", {"TableName": "orderflow-inventory-CatalogueTable"}
    )
    report = check([other_table], deployment.grants)
    (denial,) = report.denials
    assert (
        denial.request.resource
        == f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/orderflow-inventory-CatalogueTable"
    )
    assert "no statement allows" in denial.reason
    assert report.failed()


def test_a_query_of_an_index_is_checked_on_the_index(deployment: Deployment) -> None:
    index = {"TableName": "orderflow-orders-OrdersTable", "IndexName": "PendingStartIndex"}
    sweep = "orderflow-orders-StartPendingSagasFunction"
    report = check([called(sweep, "dynamodb", "Query", index)], deployment.grants)
    assert report.denials == []  # granted on table/<name>/index/PendingStartIndex
    table = {"TableName": "orderflow-orders-OrdersTable"}
    report = check(
        [called(sweep, "dynamodb", "Query", table), called(EXECUTION_STATUS, "dynamodb", "Query", index)],
        deployment.grants,
    )
    assert {(d.function, d.request.resource) for d in report.denials} == {
        ("orderflow-orders.StartPendingSagasFunction", ORDERS_TABLE),  # the index only, not the table
        ("orderflow-orders.ExecutionStatusFunction", f"{ORDERS_TABLE}/index/PendingStartIndex"),
    }


def test_an_unknown_operation_fails_the_check(deployment: Deployment) -> None:
    report = check(
        [called(EXECUTION_STATUS, "dynamodb", "DeleteTable", {"TableName": "t"})], deployment.grants
    )
    assert report.unknown_operations == {
        ("orderflow-orders.ExecutionStatusFunction", "dynamodb.DeleteTable"): 1
    }
    assert report.failed()
    assert "no IAM mapping" in report.text()


def test_calls_of_a_function_no_stack_deployed_fail_the_check(deployment: Deployment) -> None:
    report = check(
        [called("orderflow-orders-Ghost", "dynamodb", "GetItem", {"TableName": "t"})], deployment.grants
    )
    assert report.failed()
    assert any("orderflow-orders-Ghost" in problem for problem in report.problems)


def test_grants_no_call_used_are_reported_and_fail_only_when_asked(deployment: Deployment) -> None:
    report = check(what_execution_status_does(), deployment.grants)
    unused = {
        (action, resource)
        for grant in report.unused
        if grant.function == "orderflow-orders.ExecutionStatusFunction"
        for action in grant.actions
        for resource in grant.resources
    }
    assert ("states:GetExecutionHistory", SAGA_EXECUTION.rsplit(":", 1)[0] + ":*") in unused
    assert ("dynamodb:UpdateItem", ORDERS_TABLE) not in unused
    assert not any(action == "events:PutEvents" for action, _ in unused)
    # Its grants are what its code calls: no SAM policy template's Scan, batch or index grants.
    granted = {
        action
        for statement in deployment.grants[EXECUTION_STATUS].statements
        for action in statement.actions
        if action.startswith("dynamodb:")
    }
    assert granted == {"dynamodb:UpdateItem"}
    assert not report.failed()
    assert report.failed(fail_unused=True)
    # A function that never ran is named, not judged.
    assert "orderflow-payments.ProcessPaymentFunction" in report.not_run


def test_the_provisioner_records_every_role_and_policy_resolved(deployment: Deployment) -> None:
    role = json.loads(
        (deployment.access_log / "iam" / "orderflow-orders.ExecutionStatusFunctionRole.json").read_text()
    )
    text = json.dumps(role["properties"])
    assert "Fn::" not in text
    assert '"Ref"' not in text
    publish_arn = f"arn:aws:iam::{ACCOUNT}:policy/orderflow-orders-PublishOwnEventsPolicy"
    assert publish_arn in role["properties"]["ManagedPolicyArns"]  # Ref of a managed policy is its ARN
    policy = json.loads(
        (deployment.access_log / "iam" / "orderflow-orders.PublishOwnEventsPolicy.json").read_text()
    )
    assert policy["physicalId"] == publish_arn
    assert policy["properties"]["PolicyDocument"]["Statement"][0]["Resource"] == BUS


def test_the_recorded_deployment_gives_the_same_grants_as_the_deployed_stacks(deployment: Deployment) -> None:
    recorded = from_log(deployment.access_log, REPO)
    deployed = deployment.grants
    assert set(recorded) == set(deployed)
    for name, grants in deployed.items():
        assert recorded[name].statements == grants.statements, name
        assert recorded[name].role_arn == grants.role_arn


@pytest.mark.filterwarnings("ignore:A test tried to use socket")
def test_a_client_with_a_functions_credentials_is_refused_what_its_role_does_not_allow(
    deployment: Deployment,
) -> None:
    events = client_as("CustomerAlertsFunction", "events", "http://127.0.0.1:9", deployment.access_log, REPO)
    entry = {"EventBusName": "orderflow", "DetailType": "OrderPaymentFailed", "Detail": "{}"}

    with pytest.raises(ClientError) as refused:
        events.put_events(Entries=[{**entry, "Source": "orderflow.orders"}])
    with pytest.raises(HTTPClientError, match="socket"):  # allowed, so sent: this process may not connect
        events.put_events(Entries=[{**entry, "Source": "orderflow.notifications"}])

    error = refused.value.response["Error"]
    assert error["Code"] == "AccessDeniedException"
    assert error["Message"] == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/orderflow-notifications-CustomerAlertsFunctionRole/"
        "orderflow-notifications-CustomerAlertsFunction is not authorized to perform: events:PutEvents "
        f"on resource: {BUS} because no identity-based policy allows the events:PutEvents action"
    )
    assert not (deployment.access_log / recording.CALLS_DIR).exists()  # the test's calls, not the function's


def test_a_client_as_a_function_no_stack_deployed_is_refused_outright(deployment: Deployment) -> None:
    with pytest.raises(LookupError, match="Ghost"):
        client_as("GhostFunction", "events", "http://127.0.0.1:9", deployment.access_log, REPO)


def write_calls(directory: Path, *calls: RecordedCall) -> None:
    (directory / recording.CALLS_DIR).mkdir(parents=True, exist_ok=True)
    with (directory / recording.CALLS_DIR / f"{calls[0].function_name}.1.jsonl").open("a") as log:
        for recorded in calls:
            line = {
                "function": recorded.function,
                "functionName": recorded.function_name,
                "service": recorded.call.service,
                "operation": recorded.call.operation,
                "region": "us-east-1",
                "params": recorded.call.params,
            }
            log.write(json.dumps(line) + "\n")


def test_the_command_checks_a_recorded_log_directory(
    deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copytree(deployment.access_log / "iam", tmp_path / "iam")
    write_calls(tmp_path, *what_execution_status_does())
    assert main(["check", str(tmp_path), "--repo-root", str(REPO)]) == 0
    assert "least privilege: passed" in capsys.readouterr().out
    assert main(["check", str(tmp_path), "--repo-root", str(REPO), "--fail-unused"]) == 1
    assert "UNUSED GRANTS, NOT JUSTIFIED" in capsys.readouterr().out
    write_calls(tmp_path, put_events(EXECUTION_STATUS, "orderflow.inventory"))
    assert main(["check", str(tmp_path), "--repo-root", str(REPO)]) == 1
    out = capsys.readouterr().out
    assert "DENIED (1)" in out
    assert "orderflow.inventory" in out


def test_the_command_fails_without_a_recorded_deployment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(tmp_path), "--repo-root", str(REPO)]) == 1
    assert "ORDERFLOW_ACCESS_LOG" in capsys.readouterr().out


# --- a template of our own: justifications, managed and attached policies ------------------------

PROBE_TEMPLATE = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions: [{AttributeName: id, AttributeType: S}]
      KeySchema: [{AttributeName: id, KeyType: HASH}]
  Publish:
    Type: AWS::IAM::ManagedPolicy
    Properties:
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Action: events:PutEvents
            Resource: !Sub arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/default
            Condition: {StringEquals: {events:source: probe}}
  Attached:
    Type: AWS::IAM::Policy
    Properties:
      PolicyName: attached
      Roles: [!Ref FnRole]
      PolicyDocument:
        Statement: [{Effect: Allow, Action: sqs:SendMessage, Resource: "*"}]
  Fn:
    Type: AWS::Serverless::Function
    Metadata: METADATA
    Properties:
      Runtime: python3.13
      Handler: probe.handler
      CodeUri: src/
      Policies:
        - DynamoDBCrudPolicy: {TableName: !Ref Table}
        - !Ref Publish
        - POLICY
"""


@pytest.fixture
def probe(fake_aws: None, tmp_path: Path) -> Any:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "probe.py").write_text("def handler(event, context):\n    return None\n")
    provisioner = Provisioner(lambda service: boto3.client(service, region_name="us-east-1"))

    def deploy(
        metadata: Any = None, policy: str = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"
    ) -> FunctionGrants:
        template = PROBE_TEMPLATE.replace("METADATA", json.dumps(metadata or {})).replace("POLICY", policy)
        (tmp_path / "template.yaml").write_text(textwrap.dedent(template))
        stack = provisioner.deploy("probe", tmp_path / "template.yaml", {})
        return from_deployed([stack])["probe-Fn"]

    return deploy


def probe_call(service: str, operation: str, params: dict[str, Any]) -> RecordedCall:
    return RecordedCall("Fn", "probe-Fn", Call(service, operation, params))


def test_a_managed_policy_ref_and_a_policy_naming_the_role_are_the_functions_grants(probe: Any) -> None:
    grants = probe()
    calls = [
        probe_call("events", "PutEvents", {"Entries": [{"Source": "probe", "DetailType": "X"}]}),
        probe_call("sqs", "SendMessage", {"QueueUrl": f"http://localhost/{ACCOUNT}/q"}),
        probe_call("dynamodb", "GetItem", {"TableName": "probe-Table"}),
    ]
    report = check(calls, {grants.name: grants})
    assert report.denials == [], report.text()
    assert {s.policy for s in grants.statements} == {"FnRolePolicy0", "Publish", "Attached"}


def test_unused_grants_justified_in_the_template_do_not_fail(probe: Any) -> None:
    grants = probe(
        {
            "LeastPrivilege": {
                "Unexercised": {
                    "dynamodb:* on */index/*": "the CRUD policy template also grants the table's indexes",
                    "dynamodb:*": "the CRUD policy template grants more than this function does",
                    "sqs:SendMessage": "sends only on the failure path, not run here",
                    "s3:GetObject": "a grant that is no longer there",
                }
            }
        }
    )
    calls = [
        probe_call("events", "PutEvents", {"Entries": [{"Source": "probe", "DetailType": "X"}]}),
        probe_call("dynamodb", "GetItem", {"TableName": "probe-Table"}),
    ]
    report = check(calls, {grants.name: grants})
    assert report.unused
    assert report.unjustified_unused == []
    assert not report.failed(fail_unused=True), report.text(fail_unused=True)
    reasons = {grant.justification for grant in report.unused}
    assert "the CRUD policy template also grants the table's indexes" in reasons
    assert "sends only on the failure path, not run here" in reasons
    assert report.stale_justifications == ["probe.Fn: 's3:GetObject'"]


def test_an_unjustified_unused_grant_fails_with_fail_unused(probe: Any) -> None:
    grants = probe({"LeastPrivilege": {"Unexercised": {"dynamodb:Scan": "nothing scans yet"}}})
    report = check([probe_call("dynamodb", "GetItem", {"TableName": "probe-Table"})], {grants.name: grants})
    unjustified = {action for grant in report.unjustified_unused for action in grant.actions}
    assert "sqs:SendMessage" in unjustified
    assert "dynamodb:PutItem" in unjustified
    assert "dynamodb:Scan" not in unjustified
    assert report.failed(fail_unused=True)
    assert not report.failed()


@pytest.mark.parametrize(
    "metadata",
    [
        {"LeastPrivilege": {"Unexercised": {"dynamodb:Scan": ""}}},  # no reason
        {"LeastPrivilege": {"Unexercised": ["dynamodb:Scan"]}},
        {"LeastPrivilege": {"Unused": {"dynamodb:Scan": "typo in the key"}}},
    ],
)
def test_metadata_that_does_not_parse_fails_the_check(probe: Any, metadata: Any) -> None:
    grants = probe(metadata)
    report = check([probe_call("dynamodb", "GetItem", {"TableName": "probe-Table"})], {grants.name: grants})
    assert report.failed()
    assert any("LeastPrivilege" in problem for problem in report.problems)


def test_an_aws_managed_policy_the_check_does_not_know_fails_it(probe: Any) -> None:
    grants = probe(policy="arn:aws:iam::aws:policy/AdministratorAccess")
    report = check([probe_call("dynamodb", "GetItem", {"TableName": "probe-Table"})], {grants.name: grants})
    assert report.failed()
    assert any("AdministratorAccess" in problem for problem in report.problems)


def test_the_report_lists_denied_calls_first_then_unused_grants_per_function(deployment: Deployment) -> None:
    report = check(
        [*what_execution_status_does(), put_events(EXECUTION_STATUS, "orderflow.payments")], deployment.grants
    )
    text = report.text()
    assert text.index("DENIED (1)") < text.index("UNUSED GRANTS, NOT JUSTIFIED") < text.index("FAILED")
    assert "  orderflow-orders.ExecutionStatusFunction\n" in text
    assert "events.PutEvents x1" in text
    compact = report.text(compact=True)
    assert "orderflow-orders.ExecutionStatusFunction: " in compact
    assert "dynamodb:Scan" not in compact


# --- a copy of a real template: a grant its function's calls do not use fails --fail-unused ------

NOTIFICATIONS = "orderflow-notifications"
EMAIL_SENT = f"{NOTIFICATIONS}-EmailSentFunction"
SENT_EMAILS = f"{NOTIFICATIONS}-SentEmailsTable"
EMAIL_SENT_POLICIES = "      Handler: notifications.handlers.email_sent.handler\n      Policies:\n"
EMAIL_SENT_DECLARATION = "  EmailSentFunction:\n    Type: AWS::Serverless::Function\n"
UNEXERCISED = "    Metadata:\n      LeastPrivilege:\n        Unexercised:\n"


def what_email_sent_does() -> list[RecordedCall]:
    """Every call EmailSentFunction's code makes: it records an email's first report (PutItem) and
    adds a second message to it (UpdateItem)."""
    return [
        RecordedCall("EmailSentFunction", EMAIL_SENT, Call("dynamodb", operation, {"TableName": SENT_EMAILS}))
        for operation in ("PutItem", "UpdateItem")
    ]


def email_sent_grants(template: Path) -> FunctionGrants:
    """EmailSentFunction's grants as the notifications stack deploys them from `template`."""
    with pytest.MonkeyPatch.context() as env:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            env.setenv(name, value)
        env.delenv("AWS_ENDPOINT_URL", raising=False)
        env.delenv(recording.ACCESS_LOG_VARIABLE, raising=False)
        with mock_aws():
            applied = all(fix.applied for fix in moto_compat.FIXES)
            if not applied:
                moto_compat.apply()
            try:
                # Infra's buses, which the stack's rules are on, and the SSM parameters it finds them by.
                for parameter, bus in {
                    "/orderflow/event-bus/name": "orderflow",
                    "/orderflow/commands-bus/name": "orderflow-commands",
                }.items():
                    boto3.client("events", region_name="us-east-1").create_event_bus(Name=bus)
                    boto3.client("ssm", region_name="us-east-1").put_parameter(
                        Name=parameter, Value=bus, Type="String"
                    )
                provisioner = Provisioner(lambda service: boto3.client(service, region_name="us-east-1"))
                return from_deployed([provisioner.deploy(NOTIFICATIONS, template, {})])[EMAIL_SENT]
            finally:
                if not applied:
                    moto_compat.revert()


def justify(template: Path, grant: str, reason: str) -> None:
    """Adds `grant: reason` to EmailSentFunction's Metadata LeastPrivilege Unexercised in the copy."""
    text = template.read_text()
    start = text.index(EMAIL_SENT_DECLARATION) + len(EMAIL_SENT_DECLARATION)
    line = f"          {grant}: {reason}\n"
    if text.startswith(UNEXERCISED, start):
        text = text[: start + len(UNEXERCISED)] + line + text[start + len(UNEXERCISED) :]
    else:
        text = text[:start] + UNEXERCISED + line + text[start:]
    template.write_text(text)


def test_on_a_copy_of_a_template_a_grant_no_call_uses_fails_with_fail_unused_until_justified(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "notifications"
    shutil.copytree(
        REPO / "services" / "notifications", copy, ignore=shutil.ignore_patterns("tests", "__pycache__")
    )
    template = copy / "template.yaml"
    clean = email_sent_grants(template)
    assert not check(what_email_sent_does(), {EMAIL_SENT: clean}).failed(fail_unused=True)

    text = template.read_text()
    assert EMAIL_SENT_POLICIES in text
    scan = (
        "        - Statement: [{Effect: Allow, Action: dynamodb:Scan, Resource: !GetAtt SentEmailsTable.Arn}]"
    )
    template.write_text(text.replace(EMAIL_SENT_POLICIES, EMAIL_SENT_POLICIES + scan + "\n"))
    report = check(what_email_sent_does(), {EMAIL_SENT: email_sent_grants(template)})

    table_arn = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/{SENT_EMAILS}"
    assert [(grant.actions, grant.resources) for grant in report.unjustified_unused] == [
        (("dynamodb:Scan",), (table_arn,))
    ]
    assert report.failed(fail_unused=True)
    assert not report.failed()
    assert "dynamodb:Scan" in report.text(fail_unused=True)

    justify(template, "dynamodb:Scan", "a monthly report scans the table; no end-to-end test runs a month")
    justified = check(what_email_sent_does(), {EMAIL_SENT: email_sent_grants(template)})
    assert justified.unjustified_unused == []
    assert not justified.failed(fail_unused=True), justified.text(fail_unused=True)
