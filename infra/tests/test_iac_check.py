"""The offline IaC check passes on the repository and catches the errors it exists for."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from orderflow_iac.check import lint_state_machines, lint_templates
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
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Runtime: {runtime}
      Handler: app.handler
      CodeUri: src/
      Events:
        Work:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            BatchSize: {batch_size}
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
    "unencrypted-table": ("      SSESpecification: {SSEEnabled: true}\n", ""),
    "unencrypted-queue": ("      SqsManagedSseEnabled: true\n", ""),
    "queue-without-dlq": (
        "      RedrivePolicy:\n        deadLetterTargetArn: !GetAtt OrderStatusDeadLetterQueue.Arn\n"
        "        maxReceiveCount: 5\n",
        "",
    ),
}


@pytest.mark.parametrize("broken", BROKEN_HOUSE_RULES)
def test_a_copy_of_the_orders_template_breaking_a_house_rule_fails(tmp_path: Path, broken: str) -> None:
    copy = tmp_path / "orders"
    shutil.copytree(
        REPO_ROOT / "services" / "orders", copy, ignore=shutil.ignore_patterns("tests", "__pycache__")
    )
    template = copy / "template.yaml"
    assert lint_templates([template])  # the unchanged copy passes
    original, replacement = BROKEN_HOUSE_RULES[broken]
    text = template.read_text()
    assert original in text
    template.write_text(text.replace(original, replacement, 1))
    assert not lint_templates([template])
