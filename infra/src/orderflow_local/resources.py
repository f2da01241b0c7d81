"""Creating each CloudFormation resource type in moto, the way CloudFormation would.

One function per resource type. Each gets the resource's resolved properties and returns its
physical id and the attributes that Ref/GetAtt expose. Types that only matter to AWS's control
plane (IAM, Lambda permissions, API deployments) are accepted without effect: moto does not
enforce IAM, and the local gateway and pollers play Lambda and API Gateway.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orderflow_local.access.recording import record_iam_resource
from orderflow_local.cognito import CognitoAuthorizer, UnsupportedAuthorizer, route_authorizer
from orderflow_local.intrinsics import ResolvedResource, TemplateError
from orderflow_local.schema_store import SchemaStore, SchemaStoreError
from orderflow_local.settings import ACCOUNT_ID, REGION


@dataclass(frozen=True)
class FunctionSpec:
    logical_id: str
    name: str
    handler: str
    code_dir: Path
    timeout: int
    memory: int
    environment: dict[str, str]
    role: str = ""  # the execution role's ARN: the function's calls are judged against its policies


@dataclass(frozen=True)
class EventSourceSpec:
    logical_id: str
    function_logical_id: str
    queue_arn: str
    batch_size: int
    report_batch_item_failures: bool
    enabled: bool
    # MaximumBatchingWindowInSeconds: how long the poller may gather a batch before invoking.
    maximum_batching_window_seconds: int = 0


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str
    function_logical_id: str
    authorizer: CognitoAuthorizer | None = None


@dataclass
class StackContext:
    """What one stack's deployment has produced so far, beyond plain AWS resources."""

    stack_name: str
    clients: Callable[[str], Any]
    artifact: Callable[[dict[str, str]], Path]
    schema_store: SchemaStore = field(default_factory=SchemaStore)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    event_sources: list[EventSourceSpec] = field(default_factory=list)
    routes: list[ApiRoute] = field(default_factory=list)

    def physical_name(self, logical_id: str, max_length: int, lower: bool = False) -> str:
        # CloudFormation names resources "<stack>-<logical id>-<suffix>"; a fresh local AWS has no
        # earlier stack to collide with, so the suffix is left out and names stay readable.
        name = f"{self.stack_name}-{logical_id}"[:max_length]
        return name.lower() if lower else name


def arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{resource}"


def iam_arn(resource: str) -> str:
    return f"arn:aws:iam::{ACCOUNT_ID}:{resource}"  # IAM is global: no region in its ARNs


def _dynamodb_table(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    name = props.get("TableName") or ctx.physical_name(logical_id, 255)
    request: dict[str, Any] = {
        "TableName": name,
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    for optional in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes", "ProvisionedThroughput"):
        if optional in props:
            request[optional] = props[optional]
    if "SSESpecification" in props:
        # CloudFormation spells the API's "Enabled" as "SSEEnabled".
        sse = dict(props["SSESpecification"])
        request["SSESpecification"] = {"Enabled": sse.pop("SSEEnabled", False), **sse}
    if "StreamSpecification" in props:
        request["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
    dynamodb = ctx.clients("dynamodb")
    description = dynamodb.create_table(**request)["TableDescription"]
    dynamodb.get_waiter("table_exists").wait(TableName=name)
    ttl = props.get("TimeToLiveSpecification")
    if ttl and ttl.get("Enabled"):
        dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
    recovery = props.get("PointInTimeRecoverySpecification")
    if recovery and _aws_string(recovery.get("PointInTimeRecoveryEnabled", False)) == "true":
        # Recorded (DescribeContinuousBackups says ENABLED); moto keeps no history to restore from.
        dynamodb.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
    attributes = {"Arn": description["TableArn"]}
    if "LatestStreamArn" in description:
        attributes["StreamArn"] = description["LatestStreamArn"]
    return ResolvedResource(name, attributes)


_QUEUE_ATTRIBUTES = (
    "DelaySeconds",
    "MaximumMessageSize",
    "MessageRetentionPeriod",
    "ReceiveMessageWaitTimeSeconds",
    "VisibilityTimeout",
    "FifoQueue",
    "ContentBasedDeduplication",
    "SqsManagedSseEnabled",
    "KmsMasterKeyId",
)


def _sqs_queue(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    fifo = str(props.get("FifoQueue", "false")).lower() == "true"
    name = props.get("QueueName") or ctx.physical_name(logical_id, 75 if fifo else 80) + (
        ".fifo" if fifo else ""
    )
    attributes = {key: _aws_string(props[key]) for key in _QUEUE_ATTRIBUTES if key in props}
    for policy in ("RedrivePolicy", "RedriveAllowPolicy"):
        if policy in props:
            attributes[policy] = json.dumps(props[policy])
    url = ctx.clients("sqs").create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    return ResolvedResource(url, {"Arn": arn("sqs", name), "QueueName": name, "QueueUrl": url})


def _sqs_queue_policy(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    for url in props["Queues"]:
        ctx.clients("sqs").set_queue_attributes(
            QueueUrl=url, Attributes={"Policy": json.dumps(props["PolicyDocument"])}
        )
    return ResolvedResource(ctx.physical_name(logical_id, 255))


def _event_bus(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    """A bus in moto's EventBridge, with its key and dead-letter queue: recorded, not applied.

    moto stores `KmsKeyIdentifier` and `DeadLetterConfig` (DescribeEventBus returns both) and
    neither encrypts events with the key nor ever fails one, so nothing reaches the bus's DLQ.
    """
    name = props["Name"]
    request = _present(props, "Description", "KmsKeyIdentifier", "DeadLetterConfig")
    if "Tags" in props:
        request["Tags"] = props["Tags"]
    bus_arn = ctx.clients("events").create_event_bus(Name=name, **request)["EventBusArn"]
    return ResolvedResource(name, {"Arn": bus_arn, "Name": name})


def _event_bus_policy(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    """One statement of a bus's resource policy, put with PutPermission as CloudFormation does.

    With `Statement`, the statement joins the bus's current policy under the id StatementId, as
    CloudFormation merges it. moto's PutPermission with a Policy replaces every earlier statement
    with the same principal, so the whole policy, with this statement added or replaced, is put back.
    The older form (Action, Principal and Condition's Type/Key/Value) is PutPermission's own
    parameters. moto stores the policy (DescribeEventBus returns it) but never enforces it.
    """
    bus = props.get("EventBusName", "default")
    statement_id = props["StatementId"]
    events = ctx.clients("events")
    if "Statement" not in props:
        events.put_permission(
            EventBusName=bus,
            StatementId=statement_id,
            **_present(props, "Action", "Principal", "Condition"),
        )
        return ResolvedResource(statement_id)
    statement = props["Statement"]
    statement = json.loads(statement) if isinstance(statement, str) else statement
    missing = [key for key in ("Effect", "Principal", "Action", "Resource") if key not in statement]
    if missing:
        raise TemplateError(f"{logical_id}: the statement has no {', '.join(missing)}")
    current = events.describe_event_bus(Name=bus).get("Policy")
    kept = [s for s in (json.loads(current)["Statement"] if current else []) if s.get("Sid") != statement_id]
    policy = {"Version": "2012-10-17", "Statement": [*kept, {**statement, "Sid": statement_id}]}
    events.put_permission(EventBusName=bus, Policy=json.dumps(policy))
    return ResolvedResource(statement_id)


def _event_archive(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    """An archive of a bus in moto's EventBridge. Its `KmsKeyIdentifier` is not sent: moto 5.2.5
    ignores it in CreateArchive and DescribeArchive never returns it, so the archive's key is
    AWS's alone (the translated template names it; nothing local encrypts with it)."""
    name = props.get("ArchiveName") or ctx.physical_name(logical_id, 48)
    request = {"ArchiveName": name, "EventSourceArn": props["SourceArn"]}
    if "EventPattern" in props:
        request["EventPattern"] = json.dumps(props["EventPattern"])
    if "RetentionDays" in props:
        request["RetentionDays"] = int(props["RetentionDays"])
    archive_arn = ctx.clients("events").create_archive(**request)["ArchiveArn"]
    return ResolvedResource(name, {"Arn": archive_arn})


def _event_rule(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    name = props.get("Name") or ctx.physical_name(logical_id, 64)
    bus = props.get("EventBusName", "default")
    request: dict[str, Any] = {"Name": name, "EventBusName": bus, "State": props.get("State", "ENABLED")}
    if "EventPattern" in props:
        request["EventPattern"] = json.dumps(props["EventPattern"])
    if "ScheduleExpression" in props:
        request["ScheduleExpression"] = props["ScheduleExpression"]
    events = ctx.clients("events")
    rule_arn = events.put_rule(**request)["RuleArn"]
    targets = props.get("Targets", [])
    for target in targets:
        if ":sqs:" not in target["Arn"] and ":events:" not in target["Arn"]:
            # moto answers PutEvents with HTTP 500 for every event matching a Lambda or Step
            # Functions target, so the architecture routes every subscription through SQS.
            raise TemplateError(
                f"{logical_id}: only SQS and event-bus targets are supported, got {target['Arn']}"
            )
    if targets:
        events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
    return ResolvedResource(name, {"Arn": rule_arn})


def _s3_bucket(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    name = props.get("BucketName") or ctx.physical_name(logical_id, 63, lower=True)
    s3 = ctx.clients("s3")
    s3.create_bucket(Bucket=name)
    if "BucketEncryption" in props:
        # CloudFormation's ServerSideEncryptionByDefault is the API's ApplyServerSideEncryptionByDefault.
        rules = [
            {
                ("ApplyServerSideEncryptionByDefault" if k == "ServerSideEncryptionByDefault" else k): v
                for k, v in rule.items()
            }
            for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        ]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if "OwnershipControls" in props:
        s3.put_bucket_ownership_controls(Bucket=name, OwnershipControls=props["OwnershipControls"])
    if "VersioningConfiguration" in props:
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration=props["VersioningConfiguration"])
    if "PublicAccessBlockConfiguration" in props:
        s3.put_public_access_block(
            Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
        )
    return ResolvedResource(
        name,
        {
            "Arn": f"arn:aws:s3:::{name}",
            "DomainName": f"{name}.s3.amazonaws.com",
            "RegionalDomainName": f"{name}.s3.{REGION}.amazonaws.com",
        },
    )


def _secret(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    name = props.get("Name") or ctx.physical_name(logical_id, 512)
    value = props.get("SecretString")
    if value is None:
        value = _generate_secret(props.get("GenerateSecretString", {}))
    # moto records the key (DescribeSecret) and does not encrypt with it.
    secret_arn = ctx.clients("secretsmanager").create_secret(
        Name=name, SecretString=value, **_present(props, "KmsKeyId")
    )["ARN"]
    return ResolvedResource(secret_arn, {"Id": secret_arn})


def _generate_secret(spec: dict[str, Any]) -> str:
    alphabet = string.ascii_letters + string.digits
    excluded = set(spec.get("ExcludeCharacters", ""))
    alphabet = "".join(c for c in alphabet if c not in excluded)
    password = "".join(secrets.choice(alphabet) for _ in range(int(spec.get("PasswordLength", 32))))
    if "SecretStringTemplate" in spec:
        document = json.loads(spec["SecretStringTemplate"])
        document[spec["GenerateStringKey"]] = password
        return json.dumps(document)
    return password


def _bucket_policy(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    """A bucket's resource policy: checked, and not put on moto's bucket.

    moto 5.2.5 evaluates a bucket policy's Deny statements without their conditions, so the
    templates' TLS-only statement (Deny everything when aws:SecureTransport is false) would refuse
    every request to the bucket, over TLS or not; and every local request is plain HTTP. The policy is
    AWS's to enforce: locally the bucket has none (GetBucketPolicy answers NoSuchBucketPolicy).
    """
    document = props["PolicyDocument"]
    document = json.loads(document) if isinstance(document, str) else document
    statements = document.get("Statement") if isinstance(document, dict) else None
    if not statements:
        raise TemplateError(f"{logical_id}: the policy document has no Statement")
    ctx.clients("s3").head_bucket(Bucket=props["Bucket"])  # the bucket it names exists
    return ResolvedResource(props["Bucket"])


def _log_group(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    """A log group in moto's CloudWatch Logs, with its retention and key (recorded, not applied:
    the functions' logs go to the runtime's terminal, and moto encrypts nothing)."""
    name = props.get("LogGroupName") or ctx.physical_name(logical_id, 512)
    logs = ctx.clients("logs")
    logs.create_log_group(
        logGroupName=name,
        **({"kmsKeyId": props["KmsKeyId"]} if "KmsKeyId" in props else {}),
        **({"tags": _tags(props)} if "Tags" in props else {}),
    )
    if "RetentionInDays" in props:
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(props["RetentionInDays"]))
    return ResolvedResource(name, {"Arn": arn("logs", f"log-group:{name}:*")})


def _web_acl(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    """An AWS WAF web ACL: accepted, not emulated (moto has no WAF the gateway could consult).

    The local gateway applies none of its rules: no managed rule group, no rate limit per client IP,
    no body size limit. Only its shape is checked here, so that an ACL the API could not use
    (CLOUDFRONT scope, no default action) fails locally as it would on AWS.
    """
    if props.get("Scope") != "REGIONAL":
        raise TemplateError(f"{logical_id}: an API Gateway stage takes a REGIONAL web ACL only")
    for required in ("DefaultAction", "VisibilityConfig"):
        if required not in props:
            raise TemplateError(f"{logical_id}: a web ACL needs {required}")
    name = props.get("Name") or ctx.physical_name(logical_id, 128)
    acl_id = ctx.physical_name(logical_id, 36, lower=True)
    acl_arn = arn("wafv2", f"regional/webacl/{name}/{acl_id}")
    return ResolvedResource(f"{name}|{acl_id}|REGIONAL", {"Arn": acl_arn, "Id": acl_id})


def _web_acl_association(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    """A web ACL's association with an API stage: accepted, not emulated (see ``_web_acl``)."""
    if ":wafv2:" not in props["WebACLArn"] or ":apigateway:" not in props["ResourceArn"]:
        raise TemplateError(f"{logical_id}: only a web ACL on an API Gateway stage is accepted locally")
    return ResolvedResource(f"{props['ResourceArn']}|{props['WebACLArn']}")


def _email_identity(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    identity = props["EmailIdentity"]
    ses = ctx.clients("ses")
    if "@" in identity:
        ses.verify_email_identity(EmailAddress=identity)
    else:
        ses.verify_domain_identity(Domain=identity)
    return ResolvedResource(identity)


def _ses_configuration_set(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    name = props.get("Name") or ctx.physical_name(logical_id, 64)
    ctx.clients("sesv2").create_configuration_set(ConfigurationSetName=name)
    return ResolvedResource(name)


# The only destination emulated: moto_compat's EmailSentEvents publishes to EventBridge, and
# nothing locally would receive SNS, Firehose, CloudWatch or Pinpoint deliveries.
_EVENT_DESTINATION_FIELDS = frozenset({"Name", "Enabled", "MatchingEventTypes", "EventBridgeDestination"})
_CAMEL_WORD = re.compile(r"(?<!^)(?=[A-Z])")


def _ses_event_destination(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    destination = props["EventDestination"]
    unknown = sorted(set(destination) - _EVENT_DESTINATION_FIELDS)
    if unknown or "EventBridgeDestination" not in destination:
        raise TemplateError(
            f"{logical_id}: only an EventBridgeDestination is emulated locally"
            + (f"; not {', '.join(unknown)}" if unknown else "")
        )
    set_name = props["ConfigurationSetName"]
    name = destination.get("Name") or ctx.physical_name(logical_id, 64)
    ctx.clients("sesv2").create_configuration_set_event_destination(
        ConfigurationSetName=set_name,
        EventDestinationName=name,
        EventDestination={
            # CloudFormation leaves a destination disabled unless it says otherwise, as SES does.
            "Enabled": str(destination.get("Enabled", False)).lower() == "true",
            # CloudFormation spells the types as SES v1 does (send, renderingFailure), v2 in
            # capitals with underscores (SEND, RENDERING_FAILURE).
            "MatchingEventTypes": [
                _CAMEL_WORD.sub("_", event_type).upper() for event_type in destination["MatchingEventTypes"]
            ],
            "EventBridgeDestination": destination["EventBridgeDestination"],
        },
    )
    return ResolvedResource(f"{set_name}|{name}", {"Id": f"{set_name}|{name}"})


def _kms_key(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    request = _present(props, "Description", "KeySpec", "KeyUsage")
    if "KeyPolicy" in props:
        policy = props["KeyPolicy"]
        request["Policy"] = policy if isinstance(policy, str) else json.dumps(policy)
    if "Tags" in props:
        request["Tags"] = [{"TagKey": key, "TagValue": value} for key, value in _tags(props).items()]
    kms = ctx.clients("kms")
    key = kms.create_key(**request)["KeyMetadata"]
    if _aws_string(props.get("EnableKeyRotation", False)) == "true":
        period = (
            {"RotationPeriodInDays": int(props["RotationPeriodInDays"])}
            if "RotationPeriodInDays" in props
            else {}
        )
        kms.enable_key_rotation(KeyId=key["KeyId"], **period)
    if _aws_string(props.get("Enabled", True)) == "false":
        kms.disable_key(KeyId=key["KeyId"])
    return ResolvedResource(key["KeyId"], {"Arn": key["Arn"], "KeyId": key["KeyId"]})


def _kms_alias(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    ctx.clients("kms").create_alias(AliasName=props["AliasName"], TargetKeyId=props["TargetKeyId"])
    return ResolvedResource(props["AliasName"])


def _ssm_parameter(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    """A parameter in moto's SSM Parameter Store (`Ref` is its name, `GetAtt` gives `Type` and `Value`).

    A name already taken is an error, as it is on AWS: a stack never takes over another's parameter.
    CloudFormation creates no SecureString, and neither does this.
    """
    name = props.get("Name") or ctx.physical_name(logical_id, 2048)
    if props["Type"] not in ("String", "StringList"):
        raise TemplateError(f"{logical_id}: Type {props['Type']!r} is not String or StringList")
    request = {"Name": name, "Type": props["Type"], "Value": _aws_string(props["Value"])}
    request |= _present(props, "Description", "AllowedPattern", "DataType", "Tier")
    if "Tags" in props:
        # A map here, a list of Key/Value pairs in the API.
        request["Tags"] = [{"Key": key, "Value": str(value)} for key, value in props["Tags"].items()]
    ctx.clients("ssm").put_parameter(**request)
    return ResolvedResource(name, {"Type": request["Type"], "Value": request["Value"]})


# CloudFormation spells a state machine's EncryptionConfiguration in PascalCase, the API in camelCase.
_ENCRYPTION_FIELDS = {
    "Type": "type",
    "KmsKeyId": "kmsKeyId",
    "KmsDataKeyReusePeriodSeconds": "kmsDataKeyReusePeriodSeconds",
}


def _state_machine(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    """A state machine in moto's executing Step Functions backend.

    Its `EncryptionConfiguration` is passed to moto, which validates and stores it
    (DescribeStateMachine returns it) and encrypts nothing with the key: executions, their input and
    history read the same as under AWS's own key, and nobody's KMS permissions are checked for them.
    `LoggingConfiguration`, `TracingConfiguration` and `Tags` have no local effect: the runtime logs
    to the terminal and nothing traces.
    """
    name = props.get("StateMachineName") or ctx.physical_name(logical_id, 80)
    if "DefinitionS3Location" in props:
        definition = ctx.artifact(props["DefinitionS3Location"]).read_text()
    elif "DefinitionString" in props:
        definition = props["DefinitionString"]
    else:
        definition = json.dumps(props["Definition"])
    # CloudFormation substitutes ${Name} in the definition text; doing the same on the raw file
    # keeps the running definition byte for byte the ASL file after substitution.
    for key, value in props.get("DefinitionSubstitutions", {}).items():
        definition = definition.replace("${" + key + "}", str(value))
    encryption: dict[str, Any] = {}
    if "EncryptionConfiguration" in props:
        config = props["EncryptionConfiguration"]
        unknown = sorted(set(config) - set(_ENCRYPTION_FIELDS))
        if unknown:
            raise TemplateError(f"{logical_id}: EncryptionConfiguration has no {', '.join(unknown)}")
        encryption["encryptionConfiguration"] = {
            _ENCRYPTION_FIELDS[key]: int(value) if key == "KmsDataKeyReusePeriodSeconds" else str(value)
            for key, value in config.items()
        }
    machine_arn = ctx.clients("stepfunctions").create_state_machine(
        name=name,
        definition=definition,
        roleArn=props.get("RoleArn") or iam_arn(f"role/{name}"),
        type=props.get("StateMachineType", "STANDARD"),
        **encryption,
    )["stateMachineArn"]
    return ResolvedResource(machine_arn, {"Arn": machine_arn, "Name": name})


def _lambda_function(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    name = props.get("FunctionName") or ctx.physical_name(logical_id, 64)
    variables = props.get("Environment", {}).get("Variables", {})
    environment = {key: str(value) for key, value in variables.items()}
    environment.update(_advanced_logging_variables(props.get("LoggingConfig", {})))
    ctx.functions[logical_id] = FunctionSpec(
        logical_id=logical_id,
        name=name,
        handler=props["Handler"],
        code_dir=ctx.artifact(props["Code"]),
        timeout=int(props.get("Timeout", 3)),
        memory=int(props.get("MemorySize", 128)),
        environment=environment,
        role=str(props.get("Role", "")),
    )
    return ResolvedResource(name, {"Arn": arn("lambda", f"function:{name}")})


def _advanced_logging_variables(logging_config: dict[str, Any]) -> dict[str, str]:
    """What Lambda tells a function of its LoggingConfig: with the JSON format, its application log
    level as ``AWS_LAMBDA_LOG_LEVEL``, which Powertools' logger obeys before its own setting.
    (The system log level filters the platform's START/END/REPORT lines, which the local runtime
    does not write.)"""
    if logging_config.get("LogFormat") != "JSON":
        return {}
    variables = {"AWS_LAMBDA_LOG_FORMAT": "JSON"}
    if "ApplicationLogLevel" in logging_config:
        variables["AWS_LAMBDA_LOG_LEVEL"] = str(logging_config["ApplicationLogLevel"])
    return variables


_QUALIFIED_FUNCTION = re.compile(r"^arn:aws[\w-]*:lambda:[^:]+:\d+:function:([^:]+)(?::[^:]+)?$")


def unqualified_function_name(reference: str) -> str:
    """The function a FunctionName names: a name, a function ARN, or a version's or alias's ARN
    (``arn:...:function:NAME:live``), each of which invokes the one local function NAME."""
    match = _QUALIFIED_FUNCTION.match(reference)
    if match:
        return match.group(1)
    return reference.split(":", 1)[0]  # NAME:live, a qualified name


def local_function(ctx: StackContext, logical_id: str, reference: Any) -> FunctionSpec:
    name = unqualified_function_name(str(reference))
    function = next((f for f in ctx.functions.values() if f.name == name), None)
    if function is None:
        raise TemplateError(f"{logical_id}: function {reference} is not defined in this stack")
    return function


def _lambda_version(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    """A published version (AutoPublishAlias). Locally each function runs one code, so a version is
    the function itself: its ARN, qualified by "1", maps back to the function wherever it is used."""
    function = local_function(ctx, logical_id, props["FunctionName"])
    version_arn = arn("lambda", f"function:{function.name}:1")
    return ResolvedResource(version_arn, {"Version": "1", "FunctionArn": version_arn})


def _lambda_alias(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    """An alias (AutoPublishAlias: live), which event sources, API integrations and permissions
    name. Locally it invokes the function itself: there is one version, and no traffic shifting."""
    function = local_function(ctx, logical_id, props["FunctionName"])
    alias_arn = arn("lambda", f"function:{function.name}:{props['Name']}")
    return ResolvedResource(alias_arn, {"AliasArn": alias_arn})


MAX_LOCAL_BATCH_SIZE = 10


def _event_source_mapping(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    source = props["EventSourceArn"]
    if ":sqs:" not in source:
        raise TemplateError(f"{logical_id}: only SQS event sources run locally, got {source}")
    function = local_function(ctx, logical_id, props["FunctionName"])
    batch_size = int(props.get("BatchSize", 10))
    if batch_size > MAX_LOCAL_BATCH_SIZE:
        # Lambda takes up to 10,000 with a batching window, cut short by its 6 MB payload limit;
        # the poller neither gathers past 10 nor models that limit, so it refuses rather than
        # deliver smaller batches than AWS would.
        raise TemplateError(
            f"{logical_id}: BatchSize {batch_size}: the local poller delivers at most "
            f"{MAX_LOCAL_BATCH_SIZE} messages per invocation"
        )
    ctx.event_sources.append(
        EventSourceSpec(
            logical_id=logical_id,
            function_logical_id=function.logical_id,
            queue_arn=source,
            batch_size=batch_size,
            report_batch_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", []),
            enabled=bool(props.get("Enabled", True)),
            maximum_batching_window_seconds=int(props.get("MaximumBatchingWindowInSeconds", 0)),
        )
    )
    return ResolvedResource(ctx.physical_name(logical_id, 64))


_INTEGRATION_FUNCTION = re.compile(r"function:([^/:]+)(?::[^/]*)?/invocations$")


def _rest_api(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    for path, methods in props.get("Body", {}).get("paths", {}).items():
        for method, operation in methods.items():
            uri = operation.get("x-amazon-apigateway-integration", {}).get("uri", "")
            match = _INTEGRATION_FUNCTION.search(uri)
            function = match and next((f for f in ctx.functions.values() if f.name == match.group(1)), None)
            if not function:
                raise TemplateError(f"{logical_id} {method.upper()} {path}: no local function behind {uri!r}")
            try:
                authorizer = route_authorizer(props["Body"], operation)
            except UnsupportedAuthorizer as error:
                raise TemplateError(f"{logical_id} {method.upper()} {path}: {error}") from error
            ctx.routes.append(ApiRoute(method.upper(), path, function.logical_id, authorizer))
    api_id = ctx.physical_name(logical_id, 64)
    return ResolvedResource(api_id, {"RootResourceId": "root"})


def _schema_registry(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    name = props.get("RegistryName") or ctx.physical_name(logical_id, 64)
    try:
        registry = ctx.schema_store.create_registry(name, props.get("Description"), _tags(props))
    except SchemaStoreError as error:
        raise TemplateError(str(error)) from error
    return ResolvedResource(registry.arn, {"RegistryArn": registry.arn, "RegistryName": registry.name})


def _schema(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    if not isinstance(props["Content"], str):
        raise TemplateError("Content must be the schema document as a string (JSON text)")
    try:
        schema = ctx.schema_store.create_schema(
            registry_name=props["RegistryName"],
            name=props.get("SchemaName") or ctx.physical_name(logical_id, 385),
            schema_type=props["Type"],
            content=props["Content"],
            description=props.get("Description"),
            tags=_tags(props),
        )
    except SchemaStoreError as error:
        raise TemplateError(str(error)) from error
    return ResolvedResource(
        schema.arn,
        {"SchemaArn": schema.arn, "SchemaName": schema.name, "SchemaVersion": schema.latest.version},
    )


def _user_pool(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    passed_on = ("Policies", "Schema", "AdminCreateUserConfig", "MfaConfiguration", "UserPoolAddOns")
    pool = ctx.clients("cognito-idp").create_user_pool(
        PoolName=props.get("UserPoolName") or ctx.physical_name(logical_id, 128),
        **_present(props, *passed_on),
    )["UserPool"]
    return ResolvedResource(
        pool["Id"],
        {
            "Arn": pool["Arn"],
            "UserPoolId": pool["Id"],
            "ProviderName": f"cognito-idp.{REGION}.amazonaws.com/{pool['Id']}",
            "ProviderURL": f"https://cognito-idp.{REGION}.amazonaws.com/{pool['Id']}",
        },
    )


def _user_pool_group(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    name = props.get("GroupName") or ctx.physical_name(logical_id, 128)
    request = {"GroupName": name, "UserPoolId": props["UserPoolId"]}
    ctx.clients("cognito-idp").create_group(**request, **_present(props, "Description", "Precedence"))
    return ResolvedResource(name)


def _user_pool_client(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    passed_on = (
        "GenerateSecret",
        "ExplicitAuthFlows",
        "ReadAttributes",
        "WriteAttributes",
        "PreventUserExistenceErrors",
        "IdTokenValidity",
        "AccessTokenValidity",
        "RefreshTokenValidity",
        "TokenValidityUnits",
    )
    client = ctx.clients("cognito-idp").create_user_pool_client(
        UserPoolId=props["UserPoolId"],
        ClientName=props.get("ClientName") or ctx.physical_name(logical_id, 128),
        **_present(props, *passed_on),
    )["UserPoolClient"]
    return ResolvedResource(
        client["ClientId"], {"ClientId": client["ClientId"], "Name": client["ClientName"]}
    )


def _present(props: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: props[key] for key in keys if key in props}


def _tags(props: dict[str, Any]) -> dict[str, str]:
    return {tag["Key"]: str(tag["Value"]) for tag in props.get("Tags", [])}


def _accepted(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    name = ctx.physical_name(logical_id, 64)
    return ResolvedResource(name, {"Arn": iam_arn(f"role/{name}"), "RoleId": name})


@dataclass
class IamResource(ResolvedResource):
    """A deployed IAM role or policy. moto does not enforce IAM, but the least-privilege check
    (``orderflow_local.access``) evaluates every call of a function against its role's policies as
    deployed here: resolved, so every resource is a concrete ARN."""

    resource_type: str = ""
    properties: dict[str, Any] = field(default_factory=dict)


def _iam(resource_type: str) -> ResourceCreator:
    def create(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
        if resource_type == "AWS::IAM::ManagedPolicy":
            # Ref of a managed policy is its ARN, the form a role's ManagedPolicyArns lists.
            name = props.get("ManagedPolicyName") or ctx.physical_name(logical_id, 128)
            policy_arn = iam_arn(f"policy/{name}")
            resource = IamResource(policy_arn, {"PolicyArn": policy_arn}, resource_type, props)
        elif resource_type == "AWS::IAM::Role":
            name = props.get("RoleName") or ctx.physical_name(logical_id, 64)
            attributes = {"Arn": iam_arn(f"role/{name}"), "RoleId": name}
            resource = IamResource(name, attributes, resource_type, props)
        else:
            accepted = _accepted(ctx, logical_id, props)
            resource = IamResource(accepted.physical_id, accepted.attributes, resource_type, props)
        record_iam_resource(
            ctx.stack_name, logical_id, resource_type, resource.physical_id, resource.attributes, props
        )
        return resource

    return create


def _sns_topic(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    """A topic in moto's SNS, with its key (recorded: moto encrypts nothing). Locally nothing publishes
    to it: the alarms that do on AWS are accepted without effect (moto evaluates no alarm)."""
    name = props.get("TopicName") or ctx.physical_name(logical_id, 256)
    attributes = _present(props, "DisplayName", "KmsMasterKeyId")
    topic_arn = ctx.clients("sns").create_topic(
        Name=name,
        Attributes={key: str(value) for key, value in attributes.items()},
        **({"Tags": props["Tags"]} if "Tags" in props else {}),
    )["TopicArn"]
    return ResolvedResource(topic_arn, {"TopicArn": topic_arn, "TopicName": name})


def _sns_subscription(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    subscription_arn = ctx.clients("sns").subscribe(
        TopicArn=props["TopicArn"],
        Protocol=props["Protocol"],
        Endpoint=props["Endpoint"],
        ReturnSubscriptionArn=True,
    )["SubscriptionArn"]
    return ResolvedResource(subscription_arn)


def _dashboard(ctx: StackContext, logical_id: str, props: dict[str, Any]) -> ResolvedResource:
    """A dashboard in moto's CloudWatch (its metrics stay empty locally: nothing reports to it)."""
    name = props.get("DashboardName") or ctx.physical_name(logical_id, 255)
    body = props["DashboardBody"]
    if not isinstance(json.loads(body).get("widgets"), list):  # CloudWatch refuses a body without widgets
        raise TemplateError(f"{logical_id}: the dashboard body has no widgets list")
    ctx.clients("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=body)
    return ResolvedResource(name)


def _aws_string(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


ResourceCreator = Callable[[StackContext, str, dict[str, Any]], ResolvedResource]

CREATORS: dict[str, ResourceCreator] = {
    "AWS::DynamoDB::Table": _dynamodb_table,
    "AWS::SQS::Queue": _sqs_queue,
    "AWS::SQS::QueuePolicy": _sqs_queue_policy,
    "AWS::Events::EventBus": _event_bus,
    "AWS::Events::EventBusPolicy": _event_bus_policy,
    "AWS::Events::Archive": _event_archive,
    "AWS::Events::Rule": _event_rule,
    "AWS::S3::Bucket": _s3_bucket,
    "AWS::S3::BucketPolicy": _bucket_policy,
    "AWS::SecretsManager::Secret": _secret,
    "AWS::KMS::Key": _kms_key,
    "AWS::KMS::Alias": _kms_alias,
    "AWS::SSM::Parameter": _ssm_parameter,
    "AWS::SES::EmailIdentity": _email_identity,
    "AWS::SES::ConfigurationSet": _ses_configuration_set,
    "AWS::SES::ConfigurationSetEventDestination": _ses_event_destination,
    "AWS::StepFunctions::StateMachine": _state_machine,
    "AWS::Lambda::Function": _lambda_function,
    "AWS::Lambda::EventSourceMapping": _event_source_mapping,
    "AWS::Lambda::Version": _lambda_version,
    "AWS::Lambda::Alias": _lambda_alias,
    "AWS::ApiGateway::RestApi": _rest_api,
    "AWS::Cognito::UserPool": _user_pool,
    "AWS::Cognito::UserPoolGroup": _user_pool_group,
    "AWS::Cognito::UserPoolClient": _user_pool_client,
    # moto has no Schemas API: these go to the local registry the gateway serves read-only.
    "AWS::EventSchemas::Registry": _schema_registry,
    "AWS::EventSchemas::Schema": _schema,
    # Control-plane only: moto does not enforce IAM, and the local gateway serves the API itself.
    # IAM resources keep their resolved properties for the least-privilege check.
    "AWS::IAM::Role": _iam("AWS::IAM::Role"),
    "AWS::IAM::Policy": _iam("AWS::IAM::Policy"),
    "AWS::IAM::ManagedPolicy": _iam("AWS::IAM::ManagedPolicy"),
    "AWS::Lambda::Permission": _accepted,
    "AWS::ApiGateway::Deployment": _accepted,
    "AWS::ApiGateway::Stage": _accepted,
    "AWS::ApiGateway::Account": _accepted,
    "AWS::Logs::LogGroup": _log_group,
    # Not emulated: the local gateway applies no WAF rule (docs/local-runtime.md).
    "AWS::WAFv2::WebACL": _web_acl,
    "AWS::WAFv2::WebACLAssociation": _web_acl_association,
    # Not emulated: moto evaluates no alarm, and nothing locally reports the metrics they watch.
    "AWS::CloudWatch::Alarm": _accepted,
    "AWS::CloudWatch::Dashboard": _dashboard,
    "AWS::SNS::Topic": _sns_topic,
    "AWS::SNS::Subscription": _sns_subscription,
    # Not emulated: the local runtime records no traces.
    "AWS::XRay::SamplingRule": _accepted,
    # Not emulated: a local redeploy replaces a function's code at once, with no traffic shifting.
    "AWS::CodeDeploy::Application": _accepted,
    "AWS::CodeDeploy::DeploymentGroup": _accepted,
}


# Properties each creator understands. One outside this list is an error that names it, so a
# template change the local runtime would silently ignore is caught the first time it runs.
# The ones marked "no local effect" are accepted because they change nothing observable here.
KNOWN_PROPERTIES: dict[str, frozenset[str]] = {
    "AWS::DynamoDB::Table": frozenset(
        {
            "TableName",
            "KeySchema",
            "AttributeDefinitions",
            "BillingMode",
            "GlobalSecondaryIndexes",
            "LocalSecondaryIndexes",
            "ProvisionedThroughput",
            "SSESpecification",
            "StreamSpecification",
            "TimeToLiveSpecification",
            "PointInTimeRecoverySpecification",
            "Tags",
            "DeletionProtectionEnabled",  # no local effect
        }
    ),
    "AWS::SQS::Queue": frozenset(
        {"QueueName", "RedrivePolicy", "RedriveAllowPolicy", "Tags", *_QUEUE_ATTRIBUTES}
    ),
    "AWS::SQS::QueuePolicy": frozenset({"Queues", "PolicyDocument"}),
    "AWS::Events::EventBus": frozenset(
        {"Name", "Description", "Tags", "KmsKeyIdentifier", "DeadLetterConfig"}  # both recorded only
    ),
    "AWS::Events::EventBusPolicy": frozenset(
        {"EventBusName", "StatementId", "Statement", "Action", "Principal", "Condition"}
    ),
    "AWS::Events::Archive": frozenset(
        {
            "ArchiveName",
            "SourceArn",
            "EventPattern",
            "RetentionDays",
            "Description",
            "KmsKeyIdentifier",  # not sent: moto ignores it (see _event_archive)
        }
    ),
    "AWS::Events::Rule": frozenset(
        {"Name", "EventBusName", "EventPattern", "ScheduleExpression", "State", "Targets", "Description"}
    ),
    "AWS::S3::Bucket": frozenset(
        {
            "BucketName",
            "BucketEncryption",
            "VersioningConfiguration",
            "PublicAccessBlockConfiguration",
            "OwnershipControls",
            "LifecycleConfiguration",
            "Tags",  # no local effect: nothing lives long enough locally
        }
    ),
    "AWS::S3::BucketPolicy": frozenset({"Bucket", "PolicyDocument"}),
    "AWS::SecretsManager::Secret": frozenset(
        {"Name", "Description", "SecretString", "GenerateSecretString", "KmsKeyId", "Tags"}
    ),
    "AWS::Logs::LogGroup": frozenset({"LogGroupName", "RetentionInDays", "KmsKeyId", "Tags"}),
    # No local effect: the gateway applies no WAF rule.
    "AWS::WAFv2::WebACL": frozenset(
        {"Name", "Description", "Scope", "DefaultAction", "Rules", "VisibilityConfig", "Tags"}
    ),
    "AWS::WAFv2::WebACLAssociation": frozenset({"WebACLArn", "ResourceArn"}),
    "AWS::KMS::Key": frozenset(
        {
            "Description",
            "KeyPolicy",
            "EnableKeyRotation",
            "RotationPeriodInDays",
            "Enabled",
            "KeySpec",
            "KeyUsage",
            "Tags",
            "PendingWindowInDays",  # no local effect: nothing deletes the key locally
        }
    ),
    "AWS::KMS::Alias": frozenset({"AliasName", "TargetKeyId"}),
    "AWS::SSM::Parameter": frozenset(
        {"Name", "Type", "Value", "Description", "AllowedPattern", "DataType", "Tier", "Tags"}
    ),
    "AWS::StepFunctions::StateMachine": frozenset(
        {
            "StateMachineName",
            "StateMachineType",
            "Definition",
            "DefinitionString",
            "DefinitionS3Location",
            "DefinitionSubstitutions",
            "RoleArn",
            "EncryptionConfiguration",  # recorded, not applied (see _state_machine)
            "LoggingConfiguration",  # no local effect: the runtime logs to the terminal
            "TracingConfiguration",  # no local effect
            "Tags",  # no local effect
        }
    ),
    "AWS::Lambda::Version": frozenset(
        {"FunctionName", "Description", "CodeSha256"}  # the last two: no local effect
    ),
    "AWS::Lambda::Alias": frozenset(
        {"FunctionName", "FunctionVersion", "Name", "Description"}  # FunctionVersion: one locally
    ),
    "AWS::SNS::Topic": frozenset({"TopicName", "DisplayName", "KmsMasterKeyId", "Tags"}),
    "AWS::SNS::Subscription": frozenset({"TopicArn", "Protocol", "Endpoint"}),
    "AWS::CloudWatch::Dashboard": frozenset({"DashboardName", "DashboardBody"}),
    "AWS::SES::EmailIdentity": frozenset({"EmailIdentity"}),
    "AWS::SES::ConfigurationSet": frozenset({"Name"}),
    "AWS::SES::ConfigurationSetEventDestination": frozenset({"ConfigurationSetName", "EventDestination"}),
    "AWS::EventSchemas::Registry": frozenset({"RegistryName", "Description", "Tags"}),
    "AWS::EventSchemas::Schema": frozenset(
        {"RegistryName", "SchemaName", "Type", "Content", "Description", "Tags"}
    ),
}
