"""orderflow's house rules for templates, checked on the SAM-translated CloudFormation.

E9001: every grant of events:PutEvents carries an `events:source` condition naming the template's
own service (`orderflow.<POWERTOOLS_SERVICE_NAME>`), so no service's credentials can publish another
service's events. E9002: no IAM statement allows the action `*` (or `<service>:*`). E9003: every SQS
queue has a dead-letter queue, unless it is one (of a queue, or of an event bus). E9004: every table,
queue, bucket, log group and secret is encrypted at rest, said in the template rather than left to a
default. E9005: every function and state machine logs to a log group of the template that keeps its
logs for a stated time. E9006: the tables that hold orders, payments, stock and invoices
(RETAINED_TABLES) can be restored to any second of the last 35 days and outlive their stack. E9007: no
template imports another stack's outputs, and no service template names another service's stack, its
resources or, outside an EventPattern, its events source, so that each service deploys alone. E9008:
every dead-letter queue has an alarm on its depth, and every function an alarm on its errors, so that
nothing fails where no one is told (docs/operations.md has each alarm's runbook).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from typing import Any, ClassVar

from cfnlint.rules import CloudFormationLintRule, RuleMatch

from orderflow_iac.stacks import SERVICES

_POLICY_HOLDERS = ("AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy")
_PUT_EVENTS = {"events:putevents", "events:*", "*"}


def _statements(cfn: Any) -> Iterator[tuple[list[Any], dict[str, Any]]]:
    """(path, statement) for every statement of every identity policy in the template."""
    for name, resource in cfn.get_resources(list(_POLICY_HOLDERS)).items():
        properties = resource.get("Properties", {})
        documents: list[tuple[list[Any], Any]] = []
        if "PolicyDocument" in properties:
            documents.append(
                (["Resources", name, "Properties", "PolicyDocument"], properties["PolicyDocument"])
            )
        for index, policy in enumerate(properties.get("Policies", []) or []):
            if isinstance(policy, dict):
                path = ["Resources", name, "Properties", "Policies", index, "PolicyDocument"]
                documents.append((path, policy.get("PolicyDocument", {})))
        for path, document in documents:
            statements = document.get("Statement", []) if isinstance(document, dict) else []
            for index, statement in enumerate(statements if isinstance(statements, list) else [statements]):
                if isinstance(statement, dict):
                    yield [*path, "Statement", index], statement


def _actions(statement: dict[str, Any]) -> list[str]:
    actions = statement.get("Action", [])
    return [a for a in (actions if isinstance(actions, list) else [actions]) if isinstance(a, str)]


def _declared_services(cfn: Any) -> dict[str, str]:
    """Each function's POWERTOOLS_SERVICE_NAME: the service the template says it is."""
    declared: dict[str, str] = {}
    for name, resource in cfn.get_resources(["AWS::Lambda::Function"]).items():
        variables = resource.get("Properties", {}).get("Environment", {}).get("Variables", {})
        if isinstance(variables, dict) and isinstance(variables.get("POWERTOOLS_SERVICE_NAME"), str):
            declared[name] = str(variables["POWERTOOLS_SERVICE_NAME"])
    return declared


def _own_source(cfn: Any) -> str | None:
    """The events source of the service the template says it is (its first function's name)."""
    service = next(iter(_declared_services(cfn).values()), None)
    return f"orderflow.{service}" if service is not None else None


class PutEventsNamesItsOwnSource(CloudFormationLintRule):
    id = "E9001"
    shortdesc = "PutEvents only with the service's own events:source"
    description = (
        "Every Allow of events:PutEvents has Condition StringEquals events:source = orderflow.<service>"
    )
    source_url = "docs/security.md"
    tags: ClassVar[list[str]] = ["orderflow", "iam", "events"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        expected = _own_source(cfn)
        found = []
        for path, statement in _statements(cfn):
            if (
                statement.get("Effect") != "Allow"
                or not {a.lower() for a in _actions(statement)} & _PUT_EVENTS
            ):
                continue
            source = statement.get("Condition", {}).get("StringEquals", {}).get("events:source")
            sources = source if isinstance(source, list) else [source]
            if source is None or len(sources) != 1 or (expected is not None and sources != [expected]):
                wanted = expected or "orderflow.<service>"
                found.append(RuleMatch(path, f"PutEvents must be granted with events:source = {wanted}"))
        return found


class NoWildcardAction(CloudFormationLintRule):
    id = "E9002"
    shortdesc = "No wildcard IAM action"
    description = "No IAM statement allows '*' or '<service>:*'"
    source_url = "docs/security.md"
    tags: ClassVar[list[str]] = ["orderflow", "iam"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        return [
            RuleMatch(path, f"action {action!r} allows every action; name the ones needed")
            for path, statement in _statements(cfn)
            if statement.get("Effect") == "Allow"
            for action in _actions(statement)
            if action == "*" or action.endswith(":*")
        ]


def _dead_letter_queues(cfn: Any) -> set[str]:
    """The queues of the template that are a queue's DLQ (its RedrivePolicy) or an event bus's."""
    targets = [
        queue.get("Properties", {}).get("RedrivePolicy", {}).get("deadLetterTargetArn")
        for queue in cfn.get_resources(["AWS::SQS::Queue"]).values()
    ]
    # An event bus under a customer managed key sends the events it cannot encrypt or decrypt there.
    targets += [
        bus.get("Properties", {}).get("DeadLetterConfig", {}).get("Arn")
        for bus in cfn.get_resources(["AWS::Events::EventBus"]).values()
    ]
    return {name for name in map(_referenced, targets) if name is not None}


class EveryQueueHasADeadLetterQueue(CloudFormationLintRule):
    id = "E9003"
    shortdesc = "Every SQS queue has a DLQ"
    description = (
        "Every AWS::SQS::Queue has a RedrivePolicy, unless another queue names it as its DLQ or an event "
        "bus as its DeadLetterConfig"
    )
    source_url = "docs/reliability.md"
    tags: ClassVar[list[str]] = ["orderflow", "sqs"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        queues = cfn.get_resources(["AWS::SQS::Queue"])
        dead_letter_queues = _dead_letter_queues(cfn)
        return [
            RuleMatch(["Resources", name], f"queue {name} has no dead-letter queue (RedrivePolicy)")
            for name, queue in queues.items()
            if name not in dead_letter_queues and "RedrivePolicy" not in queue.get("Properties", {})
        ]


def _encrypted_table(properties: dict[str, Any]) -> bool:
    return properties.get("SSESpecification", {}).get("SSEEnabled") is True


def _encrypted_queue(properties: dict[str, Any]) -> bool:
    return properties.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in properties


def _encrypted_bucket(properties: dict[str, Any]) -> bool:
    rules = properties.get("BucketEncryption", {}).get("ServerSideEncryptionConfiguration", [])
    return bool(rules) and all("ServerSideEncryptionByDefault" in rule for rule in rules)


def _kms_key(properties: dict[str, Any]) -> bool:
    return "KmsKeyId" in properties


_AT_REST = {
    "AWS::DynamoDB::Table": (_encrypted_table, "SSESpecification: {SSEEnabled: true}"),
    "AWS::SQS::Queue": (_encrypted_queue, "SqsManagedSseEnabled: true or a KmsMasterKeyId"),
    "AWS::S3::Bucket": (_encrypted_bucket, "BucketEncryption with a default"),
    # CloudWatch Logs and Secrets Manager always encrypt, with a key of AWS's: the template names its own.
    "AWS::Logs::LogGroup": (_kms_key, "KmsKeyId"),
    "AWS::SecretsManager::Secret": (_kms_key, "KmsKeyId"),
}


class DataAtRestIsEncrypted(CloudFormationLintRule):
    id = "E9004"
    shortdesc = "Every table, queue, bucket, log group and secret is encrypted at rest"
    description = (
        "Tables, queues, buckets, log groups and secrets state their encryption at rest (SSE or a KMS key)"
    )
    source_url = "docs/security.md"
    tags: ClassVar[list[str]] = ["orderflow", "encryption"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        found = []
        for resource_type, (encrypted, how) in _AT_REST.items():
            for name, resource in cfn.get_resources([resource_type]).items():
                if not encrypted(resource.get("Properties", {}) or {}):
                    found.append(
                        RuleMatch(["Resources", name], f"{name} is not encrypted at rest: set {how}")
                    )
        return found


def _referenced(value: Any) -> str | None:
    """The logical id a `Ref` or `Fn::GetAtt` names, else None."""
    if not isinstance(value, dict):
        return None
    if isinstance(value.get("Ref"), str):
        return str(value["Ref"])
    target = value.get("Fn::GetAtt")
    if isinstance(target, list) and target:
        return str(target[0])
    if isinstance(target, str):
        return target.split(".")[0]
    return None


def _sub_names(value: Any) -> set[str]:
    """The resources a `Fn::Sub` string names (``${Name}`` or ``${Name.Attribute}``)."""
    text = value.get("Fn::Sub") if isinstance(value, dict) else None
    text = text[0] if isinstance(text, list) and text else text
    return set(re.findall(r"\$\{([A-Za-z0-9]+)[.}]", text)) if isinstance(text, str) else set()


class EveryFunctionAndStateMachineLogsWithRetention(CloudFormationLintRule):
    id = "E9005"
    shortdesc = "Every function and state machine logs to a log group with retention"
    description = (
        "Every Lambda function's LoggingConfig.LogGroup (or a log group named /aws/lambda/<its name>) and "
        "every state machine's LoggingConfiguration destination is a log group of the template with "
        "RetentionInDays"
    )
    source_url = "docs/security.md"
    tags: ClassVar[list[str]] = ["orderflow", "logs"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        groups = cfn.get_resources(["AWS::Logs::LogGroup"])
        kept = {name for name, group in groups.items() if "RetentionInDays" in group.get("Properties", {})}
        # A log group named after the function (/aws/lambda/${Fn}) is where Lambda writes by default.
        named_after = {
            function
            for name in kept
            for function in _sub_names(groups[name].get("Properties", {}).get("LogGroupName"))
        }
        found = []
        for name, function in cfn.get_resources(["AWS::Lambda::Function"]).items():
            config = function.get("Properties", {}).get("LoggingConfig", {})
            target = _referenced(config.get("LogGroup")) if isinstance(config, dict) else None
            if target not in kept and name not in named_after:
                found.append(
                    RuleMatch(
                        ["Resources", name],
                        f"function {name} has no log group with retention: set LoggingConfig.LogGroup to a "
                        "LogGroup of this template with RetentionInDays",
                    )
                )
        for name, machine in cfn.get_resources(["AWS::StepFunctions::StateMachine"]).items():
            logging = machine.get("Properties", {}).get("LoggingConfiguration", {})
            destinations = logging.get("Destinations", []) if isinstance(logging, dict) else []
            targets = {
                _referenced(destination.get("CloudWatchLogsLogGroup", {}).get("LogGroupArn"))
                for destination in destinations
                if isinstance(destination, dict)
            }
            if not targets & kept or logging.get("Level", "OFF") == "OFF":
                found.append(
                    RuleMatch(
                        ["Resources", name],
                        f"state machine {name} does not log to a log group with retention: set "
                        "LoggingConfiguration (Level, Destinations) to a LogGroup with RetentionInDays",
                    )
                )
        return found


# Logical ids of the tables whose loss would lose orders, payments, stock or invoices.
RETAINED_TABLES = frozenset(
    {
        "OrdersTable",
        "PaymentsTable",
        "CatalogueTable",
        "ReservationsTable",
        "AdjustmentsTable",
        "InvoicesTable",
    }
)


class RecordsOfValueAreRecoverableAndRetained(CloudFormationLintRule):
    id = "E9006"
    shortdesc = "Tables of orders, payments, stock and invoices are recoverable and retained"
    description = (
        "Every table in RETAINED_TABLES has point-in-time recovery, and DeletionPolicy and "
        "UpdateReplacePolicy Retain"
    )
    source_url = "docs/security.md"
    tags: ClassVar[list[str]] = ["orderflow", "dynamodb", "backup"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        found = []
        for name, table in cfn.get_resources(["AWS::DynamoDB::Table"]).items():
            if name not in RETAINED_TABLES:
                continue
            recovery = table.get("Properties", {}).get("PointInTimeRecoverySpecification", {})
            if not isinstance(recovery, dict) or recovery.get("PointInTimeRecoveryEnabled") is not True:
                found.append(
                    RuleMatch(
                        ["Resources", name],
                        f"{name} holds records of value: set PointInTimeRecoverySpecification: "
                        "{PointInTimeRecoveryEnabled: true}",
                    )
                )
            for policy in ("DeletionPolicy", "UpdateReplacePolicy"):
                if table.get(policy) != "Retain":
                    found.append(
                        RuleMatch(["Resources", name], f"{name} holds records of value: set {policy}: Retain")
                    )
        return found


def _nodes(value: Any, path: list[Any]) -> Iterator[tuple[list[Any], Any]]:
    """(path, node) for the value and everything in it."""
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _nodes(item, [*path, key])
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nodes(item, [*path, index])


# The stacks are named orderflow-<service> (infra's OrdersStackName and PaymentsStackName defaults,
# orderflow_local.stacks) and name their resources `${AWS::StackName}-...`; a service's events carry
# the source orderflow.<service>. A name may be a pattern (`orderflow-*` in an ARN names every stack).
_STACK_NAME = re.compile(r"(?<![A-Za-z0-9])orderflow-([A-Za-z0-9*?]+)", re.IGNORECASE)
_EVENTS_SOURCE = re.compile(r"(?<![A-Za-z0-9])orderflow\.([A-Za-z0-9*?]+)", re.IGNORECASE)

# services/<service>/template.yaml or infra/template.yaml, as cfn-lint is given the source, or as
# orderflow_iac.check names its translation (the repository path with "__" for "/", then ".json").
_TEMPLATE_PATH = re.compile(
    r"(?:^|[/\\])(?:services(?:/|__)(?P<service>[a-z0-9-]+)|(?P<infra>infra))(?:/|__)template\.ya?ml(?:\.json)?$"
)


def _named(segment: str, services: list[str]) -> list[str]:
    return [service for service in services if fnmatch.fnmatchcase(service, segment.lower())]


class NoStackPinnedToAnother(CloudFormationLintRule):
    id = "E9007"
    shortdesc = "No template imports another stack's outputs or names another service's resources"
    description = (
        "No Fn::ImportValue; no string of a service template names another service's stack "
        "(orderflow-<service>, its resources' prefix) or, outside an EventPattern, its events source"
    )
    source_url = "docs/security.md"
    tags: ClassVar[list[str]] = ["orderflow", "stacks"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        template = cfn.template if isinstance(cfn.template, dict) else {}
        found = [
            RuleMatch(
                [*path, "Fn::ImportValue"],
                f"Fn::ImportValue {node['Fn::ImportValue']!r} pins this stack to the one exporting it: "
                "take the value as a parameter",
            )
            for path, node in _nodes(template, [])
            if isinstance(node, dict) and "Fn::ImportValue" in node
        ]
        # The shared template names the services whose roles alone may use its keys and buses
        # (OrdersStackName, PaymentsStackName) and registers every service's event schemas: it
        # is held to the import check only.
        location = _TEMPLATE_PATH.search(str(cfn.filename or ""))
        if location and location["infra"]:
            return found
        # The path decides which stack a template is (services/<service>/template.yaml deploys as
        # orderflow-<service>), so it comes first; a copy outside the repository has only the name the
        # template gives itself, its functions' POWERTOOLS_SERVICE_NAME. E9001 trusts that name to
        # check events:source, so a function naming another service is flagged: a template copied
        # from payments into services/shipping would otherwise still publish as payments.
        declared = _declared_services(cfn)
        own = location["service"] if location else next(iter(declared.values()), None)
        for name, service in declared.items():
            if service != own and service in SERVICES:
                variables = ["Resources", name, "Properties", "Environment", "Variables"]
                found.append(
                    RuleMatch(
                        [*variables, "POWERTOOLS_SERVICE_NAME"],
                        f"function {name} says it is the {service} service, in the template of {own}",
                    )
                )
        others = [service for service in SERVICES if service != own]
        for path, text in _nodes(template, []):
            if not isinstance(text, str) or "Fn::ImportValue" in path:
                continue
            for stack in _STACK_NAME.finditer(text):
                if named := _named(stack[1], others):
                    found.append(
                        RuleMatch(
                            path,
                            f"{stack[0]!r} names another service's stack or resources ({', '.join(named)}): "
                            "take what is shared from infra as a parameter",
                        )
                    )
            # Subscribing to another service's facts names its source in the rule's EventPattern; a
            # source in a policy's events:source is E9001's to judge.
            if "EventPattern" in path or "events:source" in path:
                continue
            for source in _EVENTS_SOURCE.finditer(text):
                if named := _named(source[1], others):
                    found.append(
                        RuleMatch(
                            path,
                            f"{source[0]!r} names another service's events source ({', '.join(named)}): only "
                            "an EventPattern may",
                        )
                    )
        return found


def _watched_metrics(alarm: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(namespace, metric name, {dimension: value}) of every metric the alarm watches: its own, or each
    one of its metric math."""
    properties = alarm.get("Properties", {}) or {}
    metrics = [properties] if "MetricName" in properties else []
    for query in properties.get("Metrics", []) or []:
        if isinstance(query, dict) and isinstance(query.get("MetricStat", {}).get("Metric"), dict):
            metrics.append(query["MetricStat"]["Metric"])
    for metric in metrics:
        dimensions = metric.get("Dimensions", []) or []
        yield (
            str(metric.get("Namespace")),
            str(metric.get("MetricName")),
            {str(d.get("Name")): d.get("Value") for d in dimensions if isinstance(d, dict)},
        )


class EveryDeadLetterQueueAndFunctionHasAnAlarm(CloudFormationLintRule):
    id = "E9008"
    shortdesc = "Every DLQ has a depth alarm and every function an errors alarm"
    description = (
        "Every dead-letter queue has an AWS::CloudWatch::Alarm on AWS/SQS ApproximateNumberOfMessagesVisible "
        "with QueueName its GetAtt QueueName, and every Lambda function one on AWS/Lambda Errors with "
        "FunctionName its Ref, each with an AlarmActions"
    )
    source_url = "docs/operations.md"
    tags: ClassVar[list[str]] = ["orderflow", "alarms"]

    def match(self, cfn: Any) -> list[RuleMatch]:
        # (namespace, metric) -> the dimension naming the resource -> the resources an alarm watches
        wanted = {
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible"): "QueueName",
            ("AWS/Lambda", "Errors"): "FunctionName",
        }
        watched: dict[str, set[str]] = {"QueueName": set(), "FunctionName": set()}
        for alarm in cfn.get_resources(["AWS::CloudWatch::Alarm"]).values():
            if not alarm.get("Properties", {}).get("AlarmActions"):
                continue  # an alarm that tells no one is not an alarm
            for namespace, metric, dimensions in _watched_metrics(alarm):
                dimension = wanted.get((namespace, metric))
                if dimension and (name := _referenced(dimensions.get(dimension))):
                    watched[dimension].add(name)
        watched_queues, watched_functions = watched["QueueName"], watched["FunctionName"]
        found = [
            RuleMatch(
                ["Resources", name],
                f"dead-letter queue {name} has no alarm on its depth: add an AWS::CloudWatch::Alarm on "
                "AWS/SQS ApproximateNumberOfMessagesVisible (QueueName: !GetAtt <queue>.QueueName) with "
                "AlarmActions, and its runbook entry in docs/operations.md",
            )
            for name in sorted(_dead_letter_queues(cfn) - watched_queues)
        ]
        found += [
            RuleMatch(
                ["Resources", name],
                f"function {name} has no errors alarm: add an AWS::CloudWatch::Alarm on AWS/Lambda "
                "Errors (FunctionName: !Ref <function>) with AlarmActions, and its runbook entry in "
                "docs/operations.md",
            )
            for name in sorted(set(cfn.get_resources(["AWS::Lambda::Function"])) - watched_functions)
        ]
        return found
