"""What each AWS call asks IAM for: its actions, the resource ARN of each, and the condition keys.

Two halves that must agree, so they live together:

- ``recorded_params`` / ``recorded_response``: what the recording hook keeps of a call (in the
  function's process, on every call, so it keeps only the names that identify resources and
  conditions; never bodies, items, event details or task tokens);
- ``accesses``: a recorded call -> the IAM requests it makes. One call may make several:
  TransactWriteItems asks for each item's own action on its own table, PutEvents asks once per
  entry (with that entry's ``events:source``), CopyObject reads one object and writes another.

An operation not listed here raises ``UnknownOperation``: the check reports it as a failure,
never as allowed. Calls to CloudWatch Logs and X-Ray are out of scope (AWS managed policies
grant them), and ``sts:GetCallerIdentity`` needs no permission: they map to nothing.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orderflow_local.access.evaluate import ContextValue, Request

# boto3 client name -> IAM service prefix, where they differ.
_IAM_PREFIX = {"stepfunctions": "states", "sesv2": "ses"}

IGNORED_SERVICES = frozenset({"logs", "xray"})
_NO_PERMISSION = frozenset({("sts", "GetCallerIdentity")})


class UnknownOperation(LookupError):
    """A call the mapper has no IAM mapping for."""


@dataclass(frozen=True)
class Call:
    service: str  # the boto3 client name: dynamodb, stepfunctions, sesv2, ...
    operation: str  # the API operation: PutItem, StartExecution, ...
    params: Mapping[str, Any] = field(default_factory=dict)  # what recorded_params kept
    response: Mapping[str, Any] = field(default_factory=dict)  # what recorded_response kept
    region: str = "us-east-1"
    account: str = "123456789012"
    presigned: bool = False  # a presigned URL: no call, but what it authorizes is the call's

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"


# --- what the recording hook keeps -----------------------------------------------------------

# Top-level parameters kept as they are (strings that name resources or feed condition keys).
_KEPT: dict[str, frozenset[str]] = {
    "dynamodb": frozenset({"TableName", "IndexName"}),
    "stepfunctions": frozenset({"stateMachineArn", "executionArn"}),
    "s3": frozenset({"Bucket", "Key", "ACL", "VersionId", "CopySource", "Prefix"}),
    "secretsmanager": frozenset({"SecretId", "VersionStage"}),
    "ses": frozenset({"Source", "SourceArn", "ConfigurationSetName"}),
    "sesv2": frozenset({"FromEmailAddress", "FromEmailAddressIdentityArn", "ConfigurationSetName"}),
    "kms": frozenset(
        {
            "KeyId",
            "EncryptionContext",
            "EncryptionAlgorithm",
            "SourceKeyId",
            "DestinationKeyId",
            "SourceEncryptionContext",
            "DestinationEncryptionContext",
        }
    ),
    "sqs": frozenset({"QueueUrl", "QueueName"}),
    "sns": frozenset({"TopicArn", "TargetArn"}),
    "lambda": frozenset({"FunctionName"}),
}
_RESPONSE_KEPT: dict[tuple[str, str], tuple[str, ...]] = {
    # A secret named by its name: IAM authorizes its full ARN, which only the answer gives.
    ("secretsmanager", "GetSecretValue"): ("ARN",),
    ("secretsmanager", "DescribeSecret"): ("ARN",),
    # A key named by an alias, or no key at all (Decrypt): the answer names the key's ARN.
    ("kms", "Encrypt"): ("KeyId",),
    ("kms", "Decrypt"): ("KeyId",),
    ("kms", "GenerateDataKey"): ("KeyId",),
    ("kms", "GenerateDataKeyWithoutPlaintext"): ("KeyId",),
    ("kms", "ReEncrypt"): ("SourceKeyId", "KeyId"),
}


def recorded_params(service: str, operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
    kept = {key: params[key] for key in _KEPT.get(service, ()) if key in params}
    if service == "dynamodb":
        if "RequestItems" in params:  # BatchGetItem, BatchWriteItem: the tables only
            kept["RequestItems"] = sorted(params["RequestItems"])
        if "TransactItems" in params:  # [[kind, table], ...]
            kept["TransactItems"] = [
                [kind, body.get("TableName")]
                for item in params["TransactItems"]
                for kind, body in item.items()
            ]
    elif service == "events" and "Entries" in params:
        kept["Entries"] = [
            {key: entry[key] for key in ("Source", "DetailType", "EventBusName") if key in entry}
            for entry in params["Entries"]
        ]
    elif service in ("ses", "sesv2"):
        destination = params.get("Destination") or {}
        recipients = [
            *destination.get("ToAddresses", []),
            *destination.get("CcAddresses", []),
            *destination.get("BccAddresses", []),
            *params.get("Destinations", []),  # SendRawEmail
        ]
        if recipients:
            kept["Recipients"] = recipients
    elif service == "s3" and "Tagging" in params:
        kept["Tagging"] = True
    elif service not in _KEPT:
        kept["unknownParams"] = sorted(params)  # the names only: enough to say what was called
    return kept


def recorded_response(service: str, operation: str, parsed: Mapping[str, Any]) -> dict[str, Any]:
    return {key: parsed[key] for key in _RESPONSE_KEPT.get((service, operation), ()) if key in parsed}


def named_by_the_answer(service: str, operation: str) -> bool:
    """Whether only the answer may name the resource IAM authorizes (a secret read by name, a key by
    an alias or by its ciphertext): such a call can be judged once answered, not before."""
    return (service, operation) in _RESPONSE_KEPT


# --- recorded call -> IAM requests -------------------------------------------------------------


def accesses(call: Call) -> list[Request]:
    if call.service in IGNORED_SERVICES or (call.service, call.operation) in _NO_PERMISSION:
        return []
    mapper = _MAPPERS.get((call.service, call.operation))
    if mapper is None:
        raise UnknownOperation(
            f"no IAM mapping for {call.service}.{call.operation}: add it to orderflow_local/access/calls.py"
        )
    return mapper(call)


def _action(call: Call, name: str | None = None) -> str:
    return f"{_IAM_PREFIX.get(call.service, call.service)}:{name or call.operation}"


def _simple(resource: Callable[[Call], str], action: str | None = None) -> Callable[[Call], list[Request]]:
    return lambda call: [Request(_action(call, action), resource(call))]


# DynamoDB ---------------------------------------------------------------------------------------


def _table(call: Call, name: str) -> str:
    return name if name.startswith("arn:") else call.arn("dynamodb", f"table/{name}")


def _table_or_index(call: Call) -> str:
    table = _table(call, call.params["TableName"])
    index = call.params.get("IndexName")
    return f"{table}/index/{index}" if index else table


def _batch(call: Call) -> list[Request]:
    return [Request(_action(call), _table(call, table)) for table in call.params["RequestItems"]]


_TRANSACT_ACTIONS = {
    "Put": "PutItem",
    "Update": "UpdateItem",
    "Delete": "DeleteItem",
    "ConditionCheck": "ConditionCheckItem",
    "Get": "GetItem",
}


def _transaction(call: Call) -> list[Request]:
    # A transaction has no IAM action of its own: each item needs its own action on its table.
    requests = []
    for kind, table in call.params["TransactItems"]:
        if kind not in _TRANSACT_ACTIONS:
            raise UnknownOperation(f"dynamodb.{call.operation}: no IAM mapping for a {kind} item")
        requests.append(Request(_action(call, _TRANSACT_ACTIONS[kind]), _table(call, table)))
    return requests


# EventBridge ----------------------------------------------------------------------------------


def _bus(call: Call, name: str | None) -> str:
    name = name or "default"
    return name if name.startswith("arn:") else call.arn("events", f"event-bus/{name}")


def _put_events(call: Call) -> list[Request]:
    requests = []
    for entry in call.params["Entries"]:
        context: dict[str, ContextValue] = {}
        if "Source" in entry:
            context["events:source"] = entry["Source"]
        if "DetailType" in entry:
            context["events:detail-type"] = entry["DetailType"]
        requests.append(Request(_action(call), _bus(call, entry.get("EventBusName")), context))
    return requests


# S3 ---------------------------------------------------------------------------------------------


def _object(call: Call) -> str:
    return f"arn:aws:s3:::{call.params['Bucket']}/{call.params['Key']}"


def _bucket(call: Call) -> str:
    return f"arn:aws:s3:::{call.params['Bucket']}"


def _get_object(call: Call) -> list[Request]:
    action = "GetObjectVersion" if "VersionId" in call.params else "GetObject"
    return [Request(_action(call, action), _object(call))]


def _put_object(call: Call) -> list[Request]:
    requests = [Request(_action(call, "PutObject"), _object(call))]
    if "ACL" in call.params:
        requests.append(Request(_action(call, "PutObjectAcl"), _object(call)))
    if call.params.get("Tagging"):
        requests.append(Request(_action(call, "PutObjectTagging"), _object(call)))
    return requests


def _copy_object(call: Call) -> list[Request]:
    source = call.params["CopySource"]
    if isinstance(source, Mapping):
        source = f"{source['Bucket']}/{source['Key']}"
    return [*_put_object(call), Request(_action(call, "GetObject"), f"arn:aws:s3:::{source.split('?')[0]}")]


def _list_bucket(call: Call) -> list[Request]:
    context = {"s3:prefix": call.params["Prefix"]} if "Prefix" in call.params else {}
    return [Request(_action(call, "ListBucket"), _bucket(call), context)]


# Secrets Manager ------------------------------------------------------------------------------


def _secret(call: Call) -> list[Request]:
    secret_id = call.params["SecretId"]
    if secret_id.startswith("arn:"):
        arn = secret_id
    else:
        # By name: the answer gave the full ARN (with its random suffix) if the call succeeded.
        arn = call.response.get("ARN") or call.arn("secretsmanager", f"secret:{secret_id}")
    context: dict[str, ContextValue] = {"secretsmanager:SecretId": secret_id}
    if "VersionStage" in call.params:
        context["secretsmanager:VersionStage"] = call.params["VersionStage"]
    return [Request(_action(call), arn, context)]


# SES (v1 and v2 share the ses: actions) ---------------------------------------------------------


def _send_email(call: Call) -> list[Request]:
    v2 = call.service == "sesv2"
    sender = call.params.get("FromEmailAddress" if v2 else "Source", "")
    display_name, address = email.utils.parseaddr(sender)
    identity_arn = call.params.get("FromEmailAddressIdentityArn" if v2 else "SourceArn")
    context: dict[str, ContextValue] = {"ses:ApiVersion": "2" if v2 else "1"}
    if address:
        context["ses:FromAddress"] = address
    if display_name:
        context["ses:FromDisplayName"] = display_name
    if call.params.get("Recipients"):
        context["ses:Recipients"] = [email.utils.parseaddr(r)[1] for r in call.params["Recipients"]]
    action = _action(call, "SendEmail" if v2 else call.operation)
    # The sending identity; AWS checks the address's own identity or its domain's, whichever is
    # verified, so a grant must cover the address (identity/* or identity/<address>).
    requests = [Request(action, identity_arn or call.arn("ses", f"identity/{address}"), context)]
    if "ConfigurationSetName" in call.params:
        configuration_set = call.arn("ses", f"configuration-set/{call.params['ConfigurationSetName']}")
        requests.append(Request(action, configuration_set, context))
    return requests


# KMS ------------------------------------------------------------------------------------------


def _key(call: Call, key_id: str | None, answered: str | None) -> tuple[str, dict[str, ContextValue]]:
    context: dict[str, ContextValue] = {}
    if key_id and (key_id.startswith("alias/") or ":alias/" in key_id):
        context["kms:RequestAlias"] = key_id.rsplit(":", 1)[-1] if key_id.startswith("arn:") else key_id
    if answered and answered.startswith("arn:"):
        return answered, context
    if not key_id:
        return call.arn("kms", "key/*"), context  # a Decrypt that failed before naming its key
    if key_id.startswith("arn:"):
        return key_id, context
    return call.arn("kms", key_id if key_id.startswith("alias/") else f"key/{key_id}"), context


def _encryption_context(encryption_context: Mapping[str, str] | None) -> dict[str, ContextValue]:
    context: dict[str, ContextValue] = {}
    if encryption_context:
        context["kms:EncryptionContextKeys"] = sorted(encryption_context)
        for key, value in encryption_context.items():
            context[f"kms:EncryptionContext:{key}"] = value
    return context


def _kms(call: Call) -> list[Request]:
    if call.operation == "ReEncrypt":
        source, source_context = _key(call, call.params.get("SourceKeyId"), call.response.get("SourceKeyId"))
        target, target_context = _key(call, call.params.get("DestinationKeyId"), call.response.get("KeyId"))
        common = {"kms:CallerAccount": call.account}
        return [
            Request(
                "kms:ReEncryptFrom",
                source,
                {
                    **common,
                    **source_context,
                    **_encryption_context(call.params.get("SourceEncryptionContext")),
                },
            ),
            Request(
                "kms:ReEncryptTo",
                target,
                {
                    **common,
                    **target_context,
                    **_encryption_context(call.params.get("DestinationEncryptionContext")),
                },
            ),
        ]
    resource, context = _key(call, call.params.get("KeyId"), call.response.get("KeyId"))
    context = {
        "kms:CallerAccount": call.account,
        **context,
        **_encryption_context(call.params.get("EncryptionContext")),
    }
    if call.operation in ("Encrypt", "Decrypt"):
        context["kms:EncryptionAlgorithm"] = call.params.get("EncryptionAlgorithm", "SYMMETRIC_DEFAULT")
    return [Request(_action(call), resource, context)]


# SQS, SNS, Lambda -------------------------------------------------------------------------------


def _queue(call: Call) -> str:
    if "QueueUrl" in call.params:
        account, name = call.params["QueueUrl"].rstrip("/").split("/")[-2:]
        return f"arn:aws:sqs:{call.region}:{account}:{name}"
    return call.arn("sqs", call.params["QueueName"])


def _function(call: Call) -> str:
    name = call.params["FunctionName"]
    return name if name.startswith("arn:") else call.arn("lambda", f"function:{name}")


_MAPPERS: dict[tuple[str, str], Callable[[Call], list[Request]]] = {
    **{
        ("dynamodb", op): _simple(lambda call: _table(call, call.params["TableName"]))
        for op in ("GetItem", "PutItem", "UpdateItem", "DeleteItem", "DescribeTable")
    },
    ("dynamodb", "Query"): _simple(_table_or_index),
    ("dynamodb", "Scan"): _simple(_table_or_index),
    ("dynamodb", "BatchGetItem"): _batch,
    ("dynamodb", "BatchWriteItem"): _batch,
    ("dynamodb", "TransactWriteItems"): _transaction,
    ("dynamodb", "TransactGetItems"): _transaction,
    ("events", "PutEvents"): _put_events,
    ("stepfunctions", "StartExecution"): _simple(lambda call: call.params["stateMachineArn"]),
    ("stepfunctions", "StartSyncExecution"): _simple(lambda call: call.params["stateMachineArn"]),
    ("stepfunctions", "DescribeStateMachine"): _simple(lambda call: call.params["stateMachineArn"]),
    ("stepfunctions", "ListExecutions"): _simple(lambda call: call.params["stateMachineArn"]),
    **{
        ("stepfunctions", op): _simple(lambda call: call.params["executionArn"])
        for op in ("DescribeExecution", "GetExecutionHistory", "StopExecution", "RedriveExecution")
    },
    # Task-token actions have no resource type: IAM grants them on "*" only.
    **{
        ("stepfunctions", op): _simple(lambda call: "*")
        for op in ("SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat")
    },
    ("s3", "GetObject"): _get_object,
    ("s3", "HeadObject"): _get_object,
    ("s3", "PutObject"): _put_object,
    ("s3", "DeleteObject"): _simple(_object),
    ("s3", "CopyObject"): _copy_object,
    ("s3", "ListObjects"): _list_bucket,
    ("s3", "ListObjectsV2"): _list_bucket,
    ("s3", "HeadBucket"): _list_bucket,
    ("secretsmanager", "GetSecretValue"): _secret,
    ("secretsmanager", "DescribeSecret"): _secret,
    ("ses", "SendEmail"): _send_email,
    ("ses", "SendRawEmail"): _send_email,
    ("ses", "SendTemplatedEmail"): _send_email,
    ("sesv2", "SendEmail"): _send_email,
    **{
        ("kms", op): _kms
        for op in (
            "Encrypt",
            "Decrypt",
            "GenerateDataKey",
            "GenerateDataKeyWithoutPlaintext",
            "ReEncrypt",
            "DescribeKey",
        )
    },
    **{
        ("sqs", op): _simple(_queue)
        for op in ("SendMessage", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility")
    },
    ("sqs", "SendMessageBatch"): _simple(_queue, "SendMessage"),
    ("sqs", "DeleteMessageBatch"): _simple(_queue, "DeleteMessage"),
    ("sqs", "ChangeMessageVisibilityBatch"): _simple(_queue, "ChangeMessageVisibility"),
    ("sqs", "GetQueueAttributes"): _simple(_queue),
    ("sqs", "GetQueueUrl"): _simple(_queue),
    ("sns", "Publish"): _simple(lambda call: call.params.get("TopicArn") or call.params["TargetArn"]),
    ("lambda", "Invoke"): _simple(_function, "InvokeFunction"),
}


def known_operations() -> list[tuple[str, str]]:
    return sorted(_MAPPERS)
