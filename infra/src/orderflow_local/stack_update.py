"""Updating a deployed stack in moto in place, as a CloudFormation stack update does.

The provisioner (``Provisioner.update``) compares each resource of the new template with the one
deployed under the same logical id and type: a resource that is new is created, one that is gone is
deleted, one whose resolved properties are the same is kept as it is (a table keeps its items, a
queue its messages), and one whose properties changed is updated here, in place. What cannot be
changed in place locally (a table's key schema, a bucket's name, a secret's value) is an error that
names the resource before anything is changed: CloudFormation would replace the resource, and a
replaced table or queue loses what it holds.

Types whose creator only records something the runtime itself plays (functions, event source
mappings, API routes, IAM, accepted control-plane types) are simply created again: their creator
calls no AWS API, so running it twice is harmless and gives the new specs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from orderflow_local.intrinsics import ResolvedResource, TemplateError
from orderflow_local.resources import _QUEUE_ATTRIBUTES, CREATORS, StackContext, _aws_string, iam_arn

# Created again on every update: their creators call no AWS API (or only idempotent ones) and record
# what the runtime plays itself, so the new function specs, event sources and routes come from them.
RECREATED: frozenset[str] = frozenset(
    {
        "AWS::Lambda::Function",
        "AWS::Lambda::EventSourceMapping",
        "AWS::Lambda::Permission",
        "AWS::Lambda::Version",
        "AWS::Lambda::Alias",
        "AWS::CodeDeploy::Application",
        "AWS::CodeDeploy::DeploymentGroup",
        "AWS::ApiGateway::RestApi",
        "AWS::ApiGateway::Deployment",
        "AWS::ApiGateway::Stage",
        "AWS::IAM::Role",
        "AWS::IAM::Policy",
        "AWS::IAM::ManagedPolicy",
        "AWS::SQS::QueuePolicy",
        "AWS::S3::BucketPolicy",
        "AWS::WAFv2::WebACL",
        "AWS::WAFv2::WebACLAssociation",
        "AWS::CloudWatch::Alarm",
        "AWS::XRay::SamplingRule",
    }
)


@dataclass
class StackChanges:
    """What an update did, by logical id."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, list[str]]:
        return {
            "created": sorted(self.created),
            "updated": sorted(self.updated),
            "deleted": sorted(self.deleted),
            "kept": sorted(self.kept),
        }


Updater = Callable[[StackContext, str, ResolvedResource, dict[str, Any], dict[str, Any]], ResolvedResource]
Deleter = Callable[[StackContext, ResolvedResource, dict[str, Any]], None]


def _changed(old: Mapping[str, Any], new: Mapping[str, Any]) -> set[str]:
    return {key for key in {*old, *new} if old.get(key) != new.get(key)}


def _refuse(logical_id: str, resource_type: str, properties: set[str]) -> TemplateError:
    return TemplateError(
        f"{logical_id} ({resource_type}): changing {', '.join(sorted(properties))} replaces the resource, "
        "which the local redeploy does not do (it would lose what the resource holds); restart `make run`"
    )


def replaced_properties(resource_type: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> set[str]:
    """The changed properties of a resource that cannot change in place here (empty: it can)."""
    changed = _changed(old, new)
    if resource_type in RECREATED or not changed:
        return set()
    in_place = _IN_PLACE.get(resource_type)
    if in_place is None:
        return changed
    return changed - in_place


def update(
    ctx: StackContext,
    resource_type: str,
    logical_id: str,
    deployed: ResolvedResource,
    old: dict[str, Any],
    new: dict[str, Any],
) -> ResolvedResource:
    """The resource changed from ``old`` to ``new`` properties, in place."""
    if resource_type in RECREATED:
        return CREATORS[resource_type](ctx, logical_id, new)
    refused = replaced_properties(resource_type, old, new)
    if refused:
        raise _refuse(logical_id, resource_type, refused)
    return _UPDATERS[resource_type](ctx, logical_id, deployed, old, new)


def can_delete(resource_type: str) -> bool:
    return resource_type in RECREATED or resource_type in _DELETERS


def delete(ctx: StackContext, resource_type: str, deployed: ResolvedResource, old: dict[str, Any]) -> None:
    if resource_type in RECREATED:
        return  # nothing of it lives in the local AWS: the runtime drops it with the old specs
    _DELETERS[resource_type](ctx, deployed, old)


# --- in place ----------------------------------------------------------------------------------


def _queue(
    ctx: StackContext, logical_id: str, deployed: ResolvedResource, old: dict[str, Any], new: dict[str, Any]
) -> ResolvedResource:
    attributes = {key: _aws_string(new[key]) for key in _QUEUE_ATTRIBUTES if key in new}
    for policy in ("RedrivePolicy", "RedriveAllowPolicy"):
        if policy in new:
            attributes[policy] = json.dumps(new[policy])
        elif policy in old:
            attributes[policy] = ""  # removed
    for key in _QUEUE_ATTRIBUTES:
        if key in old and key not in new and key in _QUEUE_DEFAULTS:
            attributes[key] = _QUEUE_DEFAULTS[key]
    ctx.clients("sqs").set_queue_attributes(QueueUrl=deployed.physical_id, Attributes=attributes)
    return deployed


_QUEUE_DEFAULTS = {
    "DelaySeconds": "0",
    "MaximumMessageSize": "262144",
    "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0",
    "VisibilityTimeout": "30",
}


def _rule(
    ctx: StackContext, logical_id: str, deployed: ResolvedResource, old: dict[str, Any], new: dict[str, Any]
) -> ResolvedResource:
    # PutRule and PutTargets replace a rule's pattern, state and targets of the same ids; targets the
    # new template no longer has are removed.
    resolved = CREATORS["AWS::Events::Rule"](ctx, logical_id, new)
    kept = {target["Id"] for target in new.get("Targets", [])}
    gone = [target["Id"] for target in old.get("Targets", []) if target["Id"] not in kept]
    if gone:
        ctx.clients("events").remove_targets(
            Rule=deployed.physical_id, EventBusName=old.get("EventBusName", "default"), Ids=gone
        )
    return resolved


def _table(
    ctx: StackContext, logical_id: str, deployed: ResolvedResource, old: dict[str, Any], new: dict[str, Any]
) -> ResolvedResource:
    dynamodb = ctx.clients("dynamodb")
    name = deployed.physical_id
    old_indexes = {index["IndexName"]: index for index in old.get("GlobalSecondaryIndexes", [])}
    new_indexes = {index["IndexName"]: index for index in new.get("GlobalSecondaryIndexes", [])}
    updates: list[dict[str, Any]] = []
    for index_name in old_indexes.keys() - new_indexes.keys():
        updates.append({"Delete": {"IndexName": index_name}})
    for index_name, index in new_indexes.items():
        if index_name in old_indexes and old_indexes[index_name] != index:
            raise _refuse(logical_id, "AWS::DynamoDB::Table", {f"GlobalSecondaryIndexes {index_name}"})
        if index_name not in old_indexes:
            updates.append({"Create": index})
    # One index change per UpdateTable, as DynamoDB allows.
    for change in updates:
        dynamodb.update_table(
            TableName=name,
            AttributeDefinitions=new["AttributeDefinitions"],
            GlobalSecondaryIndexUpdates=[change],
        )
    if old.get("BillingMode", "PROVISIONED") != new.get("BillingMode", "PROVISIONED"):
        throughput = (
            {"ProvisionedThroughput": new["ProvisionedThroughput"]} if "ProvisionedThroughput" in new else {}
        )
        dynamodb.update_table(TableName=name, BillingMode=new.get("BillingMode", "PROVISIONED"), **throughput)
    if old.get("TimeToLiveSpecification") != new.get("TimeToLiveSpecification"):
        ttl = new.get("TimeToLiveSpecification") or {
            "Enabled": False,
            "AttributeName": old["TimeToLiveSpecification"]["AttributeName"],
        }
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    if old.get("PointInTimeRecoverySpecification") != new.get("PointInTimeRecoverySpecification"):
        enabled = str(
            (new.get("PointInTimeRecoverySpecification") or {}).get("PointInTimeRecoveryEnabled", False)
        ).lower()
        dynamodb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": enabled == "true"}
        )
    return deployed


def _state_machine(
    ctx: StackContext, logical_id: str, deployed: ResolvedResource, old: dict[str, Any], new: dict[str, Any]
) -> ResolvedResource:
    # The new definition goes on the deployed machine: running executions keep the one they started
    # with, as on AWS.
    definition = _state_machine_definition(ctx, new)
    name = deployed.attributes["Name"]
    ctx.clients("stepfunctions").update_state_machine(
        stateMachineArn=deployed.physical_id,
        definition=definition,
        roleArn=new.get("RoleArn") or iam_arn(f"role/{name}"),
    )
    return deployed


def _state_machine_definition(ctx: StackContext, props: dict[str, Any]) -> str:
    if "DefinitionS3Location" in props:
        definition = ctx.artifact(props["DefinitionS3Location"]).read_text()
    elif "DefinitionString" in props:
        definition = str(props["DefinitionString"])
    else:
        definition = json.dumps(props["Definition"])
    for key, value in props.get("DefinitionSubstitutions", {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    return definition


def _ssm_parameter(
    ctx: StackContext, logical_id: str, deployed: ResolvedResource, old: dict[str, Any], new: dict[str, Any]
) -> ResolvedResource:
    value = _aws_string(new["Value"])
    request = {"Name": deployed.physical_id, "Type": new["Type"], "Value": value, "Overwrite": True}
    request |= {key: new[key] for key in ("Description", "AllowedPattern", "DataType", "Tier") if key in new}
    ctx.clients("ssm").put_parameter(**request)
    return ResolvedResource(deployed.physical_id, {"Type": new["Type"], "Value": value})


def _log_group(
    ctx: StackContext, logical_id: str, deployed: ResolvedResource, old: dict[str, Any], new: dict[str, Any]
) -> ResolvedResource:
    logs = ctx.clients("logs")
    if "RetentionInDays" in new:
        logs.put_retention_policy(
            logGroupName=deployed.physical_id, retentionInDays=int(new["RetentionInDays"])
        )
    else:
        logs.delete_retention_policy(logGroupName=deployed.physical_id)
    return deployed


def _tags_only(
    ctx: StackContext, logical_id: str, deployed: ResolvedResource, old: dict[str, Any], new: dict[str, Any]
) -> ResolvedResource:
    return deployed  # tags and descriptions have no local effect


# The properties each type changes in place; any other changed property would replace the resource.
_IN_PLACE: dict[str, frozenset[str]] = {
    "AWS::SQS::Queue": frozenset(
        {
            "DelaySeconds",
            "MaximumMessageSize",
            "MessageRetentionPeriod",
            "ReceiveMessageWaitTimeSeconds",
            "VisibilityTimeout",
            "ContentBasedDeduplication",
            "SqsManagedSseEnabled",
            "KmsMasterKeyId",
            "RedrivePolicy",
            "RedriveAllowPolicy",
            "Tags",
        }
    ),
    "AWS::Events::Rule": frozenset({"EventPattern", "ScheduleExpression", "State", "Targets", "Description"}),
    "AWS::DynamoDB::Table": frozenset(
        {
            "GlobalSecondaryIndexes",
            "AttributeDefinitions",
            "BillingMode",
            "ProvisionedThroughput",
            "TimeToLiveSpecification",
            "PointInTimeRecoverySpecification",
            "Tags",
            "DeletionProtectionEnabled",
        }
    ),
    "AWS::StepFunctions::StateMachine": frozenset(
        {
            "Definition",
            "DefinitionString",
            "DefinitionS3Location",
            "DefinitionSubstitutions",
            "RoleArn",
            "LoggingConfiguration",
            "TracingConfiguration",
            "Tags",
        }
    ),
    "AWS::SSM::Parameter": frozenset({"Value", "Description", "AllowedPattern", "DataType", "Tier", "Tags"}),
    "AWS::Logs::LogGroup": frozenset({"RetentionInDays", "Tags"}),
    "AWS::SecretsManager::Secret": frozenset({"Description", "Tags"}),
    "AWS::S3::Bucket": frozenset({"Tags", "LifecycleConfiguration"}),
    "AWS::KMS::Key": frozenset({"Description", "Tags", "PendingWindowInDays"}),
}

_UPDATERS: dict[str, Updater] = {
    "AWS::SQS::Queue": _queue,
    "AWS::Events::Rule": _rule,
    "AWS::DynamoDB::Table": _table,
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::SSM::Parameter": _ssm_parameter,
    "AWS::Logs::LogGroup": _log_group,
    "AWS::SecretsManager::Secret": _tags_only,
    "AWS::S3::Bucket": _tags_only,
    "AWS::KMS::Key": _tags_only,
}


# --- deletion ----------------------------------------------------------------------------------


def _ignore_missing(call: Callable[[], Any]) -> None:
    try:
        call()
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        if "NotFound" not in code and "NonExistent" not in code:
            raise


def _delete_queue(ctx: StackContext, deployed: ResolvedResource, old: dict[str, Any]) -> None:
    _ignore_missing(lambda: ctx.clients("sqs").delete_queue(QueueUrl=deployed.physical_id))


def _delete_rule(ctx: StackContext, deployed: ResolvedResource, old: dict[str, Any]) -> None:
    events = ctx.clients("events")
    bus = old.get("EventBusName", "default")
    ids = [target["Id"] for target in old.get("Targets", [])]
    if ids:
        _ignore_missing(lambda: events.remove_targets(Rule=deployed.physical_id, EventBusName=bus, Ids=ids))
    _ignore_missing(lambda: events.delete_rule(Name=deployed.physical_id, EventBusName=bus))


def _delete_table(ctx: StackContext, deployed: ResolvedResource, old: dict[str, Any]) -> None:
    _ignore_missing(lambda: ctx.clients("dynamodb").delete_table(TableName=deployed.physical_id))


def _delete_state_machine(ctx: StackContext, deployed: ResolvedResource, old: dict[str, Any]) -> None:
    ctx.clients("stepfunctions").delete_state_machine(stateMachineArn=deployed.physical_id)


def _delete_ssm_parameter(ctx: StackContext, deployed: ResolvedResource, old: dict[str, Any]) -> None:
    _ignore_missing(lambda: ctx.clients("ssm").delete_parameter(Name=deployed.physical_id))


def _delete_log_group(ctx: StackContext, deployed: ResolvedResource, old: dict[str, Any]) -> None:
    _ignore_missing(lambda: ctx.clients("logs").delete_log_group(logGroupName=deployed.physical_id))


def _delete_secret(ctx: StackContext, deployed: ResolvedResource, old: dict[str, Any]) -> None:
    ctx.clients("secretsmanager").delete_secret(
        SecretId=deployed.physical_id, ForceDeleteWithoutRecovery=True
    )


_DELETERS: dict[str, Deleter] = {
    "AWS::SQS::Queue": _delete_queue,
    "AWS::Events::Rule": _delete_rule,
    "AWS::DynamoDB::Table": _delete_table,
    "AWS::StepFunctions::StateMachine": _delete_state_machine,
    "AWS::SSM::Parameter": _delete_ssm_parameter,
    "AWS::Logs::LogGroup": _delete_log_group,
    "AWS::SecretsManager::Secret": _delete_secret,
}
