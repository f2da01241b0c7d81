"""A service's template.yaml read as data, and the conventions every service's template keeps.

The conventions are those of docs/service-conventions.md that a reader of one template can check:
handlers that exist, and every subscription shaped rule -> the service's own queue (with a DLQ)
-> a function that reports partial batch failures. Tests also provision moto's tables from it, so
key schemas are written once, in the template.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orderflow_shared.contracts import ALL_EVENTS

FUNCTION = "AWS::Serverless::Function"
QUEUE = "AWS::SQS::Queue"
RULE = "AWS::Events::Rule"
TABLE = "AWS::DynamoDB::Table"

# AWS advises a queue VisibilityTimeout of at least six times its function's Timeout, leaving room
# for Lambda to retry a batch whose function was throttled before a message reappears.
VISIBILITY_TIMEOUT_FACTOR = 6

_CONTRACT_SOURCES = {model.DETAIL_TYPE: model.SOURCE for model in ALL_EVENTS}


@dataclass(frozen=True)
class SamTemplate:
    document: dict[str, Any]

    @classmethod
    def load(cls, path: Path) -> SamTemplate:
        # cfn_flip reads the short-form tags (!Ref, !GetAtt); only tests need it.
        from cfn_flip import to_json

        return cls(json.loads(to_json(path.read_text())))

    @property
    def resources(self) -> dict[str, Any]:
        resources: dict[str, Any] = self.document["Resources"]
        return resources

    def properties(self, resource_type: str) -> dict[str, dict[str, Any]]:
        """Logical id -> Properties of every resource of that type."""
        return {
            logical_id: resource.get("Properties", {})
            for logical_id, resource in self.resources.items()
            if resource["Type"] == resource_type
        }

    def function_setting(self, function: str, name: str) -> Any:
        """The function's own setting, else the one Globals gives every function."""
        own = self.properties(FUNCTION)[function]
        return own[name] if name in own else self.document.get("Globals", {}).get("Function", {}).get(name)

    def sqs_events(self, function: str) -> list[dict[str, Any]]:
        """The Properties of the function's SQS events."""
        events = self.properties(FUNCTION)[function].get("Events", {}).values()
        return [event["Properties"] for event in events if event["Type"] == "SQS"]

    def queue_feeding(self, function: str) -> str:
        """The logical id of the queue of the function's only SQS event."""
        [event] = self.sqs_events(function)
        return logical_id(event["Queue"])

    def rule_feeding(self, function: str) -> dict[str, Any]:
        """The Properties of the only rule that sends to the function's queue."""
        queue = self.queue_feeding(function)
        [rule] = [rule for rule in self.properties(RULE).values() if queue in _rule_targets(rule)]
        return rule

    def table_environment(self) -> dict[str, str]:
        """Environment variable -> table logical id, as Globals and each function wire them."""
        tables = self.properties(TABLE)
        settings = [self.document.get("Globals", {}).get("Function", {})]
        settings += self.properties(FUNCTION).values()
        return {
            name: value["Ref"]
            for setting in settings
            for name, value in setting.get("Environment", {}).get("Variables", {}).items()
            if isinstance(value, dict) and value.get("Ref") in tables
        }

    def create_tables(self, dynamodb: Any) -> None:
        """Creates every table as declared, named by its logical id (as ``table_environment`` names it)."""
        for logical_id, table in self.properties(TABLE).items():
            index_kinds = ("GlobalSecondaryIndexes", "LocalSecondaryIndexes")
            indexes = {kind: table[kind] for kind in index_kinds if kind in table}
            dynamodb.create_table(
                TableName=logical_id,
                KeySchema=table["KeySchema"],
                AttributeDefinitions=table["AttributeDefinitions"],
                BillingMode=table["BillingMode"],
                **indexes,
            )


def convention_problems(template: SamTemplate) -> list[str]:
    """What in the template breaks the service conventions, one line each; [] when nothing does."""
    return [*_handler_problems(template), *_consumer_problems(template), *_rule_problems(template)]


def _handler_problems(template: SamTemplate) -> Iterator[str]:
    for function, properties in template.properties(FUNCTION).items():
        module, _, attribute = properties["Handler"].rpartition(".")
        try:
            handler = getattr(importlib.import_module(module), attribute, None)
        except ImportError as error:
            yield f"{function}: Handler {properties['Handler']} does not import: {error}"
            continue
        if not callable(handler):
            yield f"{function}: Handler {properties['Handler']} is not a function of its module"


def _consumer_problems(template: SamTemplate) -> Iterator[str]:
    queues = template.properties(QUEUE)
    for function in template.properties(FUNCTION):
        for event in template.sqs_events(function):
            if event.get("FunctionResponseTypes") != ["ReportBatchItemFailures"]:
                yield f"{function}: its SQS event lacks FunctionResponseTypes [ReportBatchItemFailures]"
            queue = logical_id(event["Queue"])
            if queue not in queues:
                yield f"{function}: its SQS event reads {queue!r}, not a queue of this template"
                continue
            redrive = queues[queue].get("RedrivePolicy", {})
            if logical_id(redrive.get("deadLetterTargetArn")) not in queues:
                yield f"{queue}: no RedrivePolicy to a dead-letter queue of this template"
            timeout = template.function_setting(function, "Timeout") or 3  # Lambda's default
            needed = VISIBILITY_TIMEOUT_FACTOR * timeout
            if queues[queue].get("VisibilityTimeout", 30) < needed:
                yield f"{queue}: VisibilityTimeout under {needed} s, too short for {function}"


def _rule_problems(template: SamTemplate) -> Iterator[str]:
    queues = template.properties(QUEUE)
    for rule, properties in template.properties(RULE).items():
        for target in _rule_targets(properties):
            if target not in queues:
                yield f"{rule}: targets {target!r}, not a queue of this template"
        pattern = properties.get("EventPattern", {})
        if all(str(source).startswith("aws.") for source in pattern.get("source", [])):
            continue  # AWS's own events (e.g. Step Functions status changes), not orderflow contracts
        for detail_type in pattern.get("detail-type", []):
            if _CONTRACT_SOURCES.get(detail_type) not in pattern.get("source", []):
                yield f"{rule}: no contract event {detail_type!r} comes from its sources"


def _rule_targets(rule: dict[str, Any]) -> list[str]:
    return [logical_id(target["Arn"]) for target in rule.get("Targets", [])]


def logical_id(value: Any) -> str:
    """The resource named by ``!GetAtt Id.Arn`` (long form: a list or "Id.Arn"); "" for anything else."""
    get_att = value.get("Fn::GetAtt") if isinstance(value, dict) else None
    if isinstance(get_att, list):
        return str(get_att[0])
    if isinstance(get_att, str):
        return get_att.split(".")[0]
    return ""
