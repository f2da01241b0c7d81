"""The offline IaC check passes on the repository and catches the errors it exists for."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from orderflow_iac.check import lint_state_machines, lint_templates, lint_translated, translated_copy
from orderflow_iac.checkov import CHECKOV, extend_api_skips, scan_templates
from orderflow_iac.stacks import REPO_ROOT, state_machines, templates

SAM_FUNCTION = """
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  DeadLetterQueue:
    Type: AWS::SQS::Queue
    Properties:
      SqsManagedSseEnabled: true
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      SqsManagedSseEnabled: true
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DeadLetterQueue.Arn
        maxReceiveCount: 3
  Logs:
    Type: AWS::Logs::LogGroup
    Properties:
      RetentionInDays: 30
      KmsKeyId: arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: {runtime}
      Handler: app.handler
      CodeUri: src/
      MemorySize: 512
      Timeout: 30
      Tracing: Active
      LoggingConfig: {{LogGroup: !Ref Logs}}
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            BatchSize: {batch_size}
  Topic:
    Type: AWS::SNS::Topic
    Properties:
      KmsMasterKeyId: alias/alarms
  DeadLetterQueueDepthAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: AWS/SQS
      MetricName: ApproximateNumberOfMessagesVisible
      Dimensions: [{{Name: QueueName, Value: !GetAtt DeadLetterQueue.QueueName}}]
      Statistic: Maximum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
      AlarmActions: [!Ref Topic]
  FnErrorsAlarm:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: AWS/Lambda
      MetricName: Errors
      Dimensions: [{{Name: FunctionName, Value: !Ref Fn}}]
      Statistic: Sum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 0
      ComparisonOperator: GreaterThanThreshold
      AlarmActions: [!Ref Topic]
"""


def sam_template(tmp_path: Path, runtime: str = "python3.13", batch_size: int = 10) -> Path:
    (tmp_path / "src").mkdir(exist_ok=True)
    path = tmp_path / "template.yaml"
    path.write_text(SAM_FUNCTION.format(runtime=runtime, batch_size=batch_size))
    return path


def test_the_repository_passes() -> None:
    assert lint_templates(templates())
    assert lint_state_machines(state_machines())


def test_a_valid_sam_template_passes(tmp_path: Path) -> None:
    assert lint_templates([sam_template(tmp_path)])


@pytest.mark.parametrize(("runtime", "batch_size"), [("python3.99", 10), ("python3.13", 20000)])
def test_errors_inside_sam_resources_are_caught(tmp_path: Path, runtime: str, batch_size: int) -> None:
    assert not lint_templates([sam_template(tmp_path, runtime, batch_size)])


def test_an_invalid_state_machine_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "bad.asl.json"
    path.write_text(json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Missing"}}}))
    assert not lint_state_machines([path])


ONE_GRANT = "        - !Ref PublishOwnEventsPolicy\n"
BROKEN_HOUSE_RULES = {
    # A function allowed to publish with any source (SAM's own policy template has no condition).
    "put-events-without-source": (
        ONE_GRANT,
        "        - EventBridgePutEventsPolicy:\n            EventBusName: !Ref EventBusName\n",
    ),
    "put-events-as-another-service": ("events:source: orderflow.orders", "events:source: orderflow.payments"),
    "wildcard-action": (
        ONE_GRANT,
        ONE_GRANT
        + '        - Statement:\n            - {Effect: Allow, Action: "dynamodb:*", Resource: "*"}\n',
    ),
    "unencrypted-table": (
        "      SSESpecification: {SSEEnabled: true, SSEType: KMS, KMSMasterKeyId: !Ref DataKey}\n",
        "",
    ),
    "unencrypted-queue": ("      KmsMasterKeyId: !Ref DataKey\n", ""),
    "unencrypted-log-group": ("      KmsKeyId: !GetAtt DataKey.Arn\n", ""),
    # E9005: a function, or the state machine, without a log group that keeps its logs for a stated time.
    "function-without-log-group": ("      LoggingConfig: {LogGroup: !Ref OrdersApiFunctionLogs}\n", ""),
    "state-machine-log-group-without-retention": (
        "-OrderSaga\n      RetentionInDays: !Ref LogRetentionDays\n",
        "-OrderSaga\n",
    ),
    "state-machine-not-logging": ("        Level: ERROR\n", '        Level: "OFF"\n'),
    # E9006: the orders table without point-in-time recovery, or deleted with its stack.
    "orders-table-without-point-in-time-recovery": (
        "      PointInTimeRecoverySpecification: {PointInTimeRecoveryEnabled: true}\n",
        "",
    ),
    "orders-table-deleted-with-its-stack": ("    DeletionPolicy: Retain\n", ""),
    "orders-table-replaced-without-retaining-it": ("    UpdateReplacePolicy: Retain\n", ""),
    "queue-without-dlq": (
        "      RedrivePolicy:\n        deadLetterTargetArn: !GetAtt OrderStatusDeadLetterQueue.Arn\n"
        "        maxReceiveCount: 5\n",
        "",
    ),
}


@pytest.fixture(scope="module")
def unchanged_copy_lints_clean(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Once for every broken copy below: each then fails for its one change alone.
    assert lint_templates([orders_copy(tmp_path_factory.mktemp("unchanged"))])


@pytest.mark.usefixtures("unchanged_copy_lints_clean")
@pytest.mark.parametrize("broken", BROKEN_HOUSE_RULES)
def test_a_copy_of_the_orders_template_breaking_a_house_rule_fails(tmp_path: Path, broken: str) -> None:
    template = orders_copy(tmp_path)
    found = write_broken(template, template, *BROKEN_HOUSE_RULES[broken])
    assert found
    assert not lint_templates([template])


def orders_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "orders"
    shutil.copytree(
        REPO_ROOT / "services" / "orders", copy, ignore=shutil.ignore_patterns("tests", "__pycache__")
    )
    return copy / "template.yaml"


def write_broken(source: Path, target: Path, original: str, replacement: str) -> int:
    """Writes ``source``'s text to ``target`` with its first ``original`` replaced; answers how many
    times ``original`` occurred (a seeded break that finds nothing to replace breaks nothing)."""
    text = source.read_text()
    target.write_text(text.replace(original, replacement, 1))
    return text.count(original)


def reported_rules(capfd: pytest.CaptureFixture[str]) -> set[str]:
    """The ids of the rules cfn-lint reported since the last call."""
    return set(re.findall(r"^([EWI]\d{4}) ", capfd.readouterr().out, re.MULTILINE))


API_ENVIRONMENT = "          PAYMENT_TOKEN_KEY_ARN: !Ref PaymentTokenKeyArn\n"
API_POLICY = "              Resource: !GetAtt OrdersIdempotencyTable.Arn\n"


def api_grant(action: str, resource: str) -> tuple[str, str]:
    statement = (
        f"            - Effect: Allow\n              Action: {action}\n              Resource: {resource}\n"
    )
    return API_POLICY, API_POLICY + statement


# E9007: the orders template reaching into another service's stack, by an import or by a name.
CROSS_SERVICE_REFERENCES = {
    "import-of-another-stacks-output": (
        API_ENVIRONMENT,
        f"{API_ENVIRONMENT}          PAYMENTS_TABLE_ARN: !ImportValue orderflow-payments-PaymentsTableArn\n",
    ),
    "another-services-tables-by-arn": api_grant(
        "dynamodb:GetItem", "arn:aws:dynamodb:*:*:table/orderflow-inventory-*"
    ),
    "another-services-table-in-a-sub": api_grant(
        "dynamodb:GetItem",
        "!Sub arn:${AWS::Partition}:dynamodb:${AWS::Region}:${AWS::AccountId}:table/"
        "orderflow-payments-PaymentsTable-*",
    ),
    # A pattern over every stack's names reaches the other services' resources too.
    "every-stacks-tables-by-a-pattern": api_grant(
        "dynamodb:GetItem", "arn:aws:dynamodb:*:*:table/orderflow-*"
    ),
    # Another service's source is for its rules' EventPatterns only; here it names payments' schema.
    "another-services-source-in-a-resource": api_grant(
        "schemas:DescribeSchema",
        "!Sub arn:${AWS::Partition}:schemas:${AWS::Region}:${AWS::AccountId}:schema/orderflow/"
        "orderflow.payments@PaymentSucceeded-v1",
    ),
}


@pytest.mark.usefixtures("unchanged_copy_lints_clean")
@pytest.mark.parametrize("broken", CROSS_SERVICE_REFERENCES)
def test_a_copy_of_the_orders_template_naming_another_service_fails(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], broken: str
) -> None:
    template = orders_copy(tmp_path)
    found = write_broken(template, template, *CROSS_SERVICE_REFERENCES[broken])
    assert found
    assert not lint_templates([template])
    assert reported_rules(capfd) == {"E9007"}


DLQ_ALARM_TAIL = (
    "StartPendingSagasDeadLetterQueue.QueueName}\n      Statistic: Maximum\n      Period: 60\n"
    "      EvaluationPeriods: 1\n      Threshold: 0\n      ComparisonOperator: GreaterThanThreshold\n"
    "      TreatMissingData: notBreaching\n"
)
# E9008: a dead-letter queue whose depth no alarm watches, or a function whose errors none does.
UNWATCHED = {
    "dlq-alarm-on-another-queue": (
        "Value: !GetAtt OrderStatusDeadLetterQueue.QueueName}",
        "Value: !GetAtt OrderStatusQueue.QueueName}",
    ),
    "dlq-alarm-telling-no-one": (
        DLQ_ALARM_TAIL + "      AlarmActions: [!Ref AlarmTopic]\n",
        DLQ_ALARM_TAIL,
    ),
    "errors-alarm-on-another-function": (
        "- {Name: FunctionName, Value: !Ref OrdersApiFunction}",
        "- {Name: FunctionName, Value: !Ref ExecutionStatusFunction}",
    ),
    "function-throttles-but-no-errors-alarm": (
        "      Namespace: AWS/Lambda\n      MetricName: Errors\n"
        "      Dimensions:\n        - {Name: FunctionName, Value: !Ref StartPendingSagasFunction}",
        "      Namespace: AWS/Lambda\n      MetricName: Throttles\n"
        "      Dimensions:\n        - {Name: FunctionName, Value: !Ref StartPendingSagasFunction}",
    ),
}


@pytest.mark.usefixtures("unchanged_copy_lints_clean")
@pytest.mark.parametrize("broken", UNWATCHED)
def test_a_copy_of_the_orders_template_with_an_unwatched_dlq_or_function_fails(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], broken: str
) -> None:
    template = orders_copy(tmp_path)
    found = write_broken(template, template, *UNWATCHED[broken])
    assert found == 1
    assert not lint_templates([template])
    assert reported_rules(capfd) == {"E9008"}


def test_the_shared_templates_bus_dead_letter_queues_are_watched(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    template = tmp_path / "infra" / "template.yaml"
    template.parent.mkdir()
    original = "Value: !GetAtt CommandsBusDeadLetterQueue.QueueName}"
    replacement = "Value: !GetAtt EventBusDeadLetterQueue.QueueName}"
    assert write_broken(REPO_ROOT / "infra" / "template.yaml", template, original, replacement) == 1
    assert not lint_as(template, "infra/template.yaml", tmp_path)
    assert reported_rules(capfd) == {"E9008"}


def lint_as(template: Path, repository_path: str, tmp_path: Path) -> bool:
    """cfn-lint on the template as if it were the repository's file at repository_path."""
    translated = translated_copy(template, tmp_path)
    return lint_translated([translated.rename(tmp_path / (repository_path.replace("/", "__") + ".json"))])


def test_a_template_that_is_not_the_service_its_path_names_fails(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # The orders template in the payments service's place: its functions say they are orders.
    assert not lint_as(
        REPO_ROOT / "services" / "orders" / "template.yaml", "services/payments/template.yaml", tmp_path
    )
    assert reported_rules(capfd) == {"E9007"}


def test_the_shared_template_importing_a_services_output_fails(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # infra may name the orders and payments stacks (its key policies' principals), never import from them.
    template = tmp_path / "infra" / "template.yaml"
    template.parent.mkdir()
    original = (
        "!Sub arn:${AWS::Partition}:iam::${AWS::AccountId}:role/${OrdersStackName}-OrdersApiFunctionRole*"
    )
    replacement = "!ImportValue orderflow-orders-OrdersApiFunctionRoleArn"
    assert write_broken(REPO_ROOT / "infra" / "template.yaml", template, original, replacement)
    assert not lint_as(template, "infra/template.yaml", tmp_path)
    assert reported_rules(capfd) == {"E9007"}


needs_checkov = pytest.mark.skipif(
    not CHECKOV.exists(), reason="`make lint` installs checkov (.tools/checkov)"
)


@needs_checkov
def test_checkov_finds_nothing_in_the_repository() -> None:
    assert scan_templates(templates())


API_CACHE_SKIP = """    Metadata:
      checkov:
        skip:
          - id: CKV_AWS_120
"""
BROKEN_FOR_CHECKOV = {
    # CKV_AWS_27: SQS's own key is encryption at rest, but not under a key the service controls.
    "queue-under-sqs-managed-key": (
        "      KmsMasterKeyId: !Ref DataKey\n",
        "      SqsManagedSseEnabled: true\n",
    ),
    "untraced-api": ("      TracingEnabled: true\n", ""),
    # The skip on the Api holds for the stage SAM generates from it, and only there.
    "api-cache-not-justified": (
        API_CACHE_SKIP,
        "    Metadata:\n      checkov:\n        skip:\n          - id: CKV_AWS_0\n",
    ),
}


@pytest.fixture(scope="module")
def unchanged_copy_scans_clean(tmp_path_factory: pytest.TempPathFactory) -> None:
    assert scan_templates([orders_copy(tmp_path_factory.mktemp("unchanged"))])


@needs_checkov
@pytest.mark.usefixtures("unchanged_copy_scans_clean")
@pytest.mark.parametrize("broken", BROKEN_FOR_CHECKOV)
def test_a_copy_of_the_orders_template_checkov_objects_to_fails(tmp_path: Path, broken: str) -> None:
    template = orders_copy(tmp_path)
    found = write_broken(template, template, *BROKEN_FOR_CHECKOV[broken])
    assert found
    assert not scan_templates([template])


def test_an_apis_checkov_skips_hold_for_the_stage_sam_generates_from_it() -> None:
    skips = {"skip": [{"id": "CKV_AWS_120", "comment": "why"}]}
    resources = {
        "Api": {"Type": "AWS::ApiGateway::RestApi", "Metadata": {"checkov": skips}},
        "ApiProdStage": {"Type": "AWS::ApiGateway::Stage", "Properties": {"RestApiId": {"Ref": "Api"}}},
        "OtherStage": {"Type": "AWS::ApiGateway::Stage", "Properties": {"RestApiId": {"Ref": "Other"}}},
    }
    extend_api_skips(resources)
    assert resources["ApiProdStage"]["Metadata"] == {"checkov": skips}
    assert "Metadata" not in resources["OtherStage"]
