"""What the local runtime makes of the templates' data protection: keys, log groups, recovery,
the bucket's encryption and policy, and the web ACLs it accepts without emulating them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from orderflow_local.intrinsics import TemplateError
from orderflow_local.provisioner import DeployedStack, Provisioner
from orderflow_local.stacks import STACKS, LocalEndpoints

REPO = Path(__file__).resolve().parents[2]


def deploy(provisioner: Provisioner, infra: DeployedStack, service: str) -> DeployedStack:
    (definition,) = [stack for stack in STACKS if stack.name == f"orderflow-{service}"]
    local = definition.parameters(LocalEndpoints("http://127.0.0.1:1"))
    return provisioner.deploy(definition.name, REPO / definition.template, local)


def key_arn(stack: DeployedStack) -> str:
    return stack.resources["DataKey"].attributes["Arn"]


def test_every_function_logs_to_a_log_group_kept_30_days_under_the_services_key(
    provisioner: Provisioner, infra: DeployedStack
) -> None:
    stack = deploy(provisioner, infra, "orders")
    groups = {
        group["logGroupName"]: group for group in boto3.client("logs").describe_log_groups()["logGroups"]
    }
    expected = [f"/aws/lambda/orderflow-orders-{function}" for function in stack.functions]
    expected += [
        "/aws/vendedlogs/states/orderflow-orders-OrderSaga",
        "/aws/apigateway/orderflow-orders-access",
    ]
    for name in expected:
        assert groups[name]["retentionInDays"] == 30
        assert groups[name]["kmsKeyId"] == key_arn(stack)


def test_tables_queues_and_the_secret_are_encrypted_with_the_services_key(
    provisioner: Provisioner, infra: DeployedStack
) -> None:
    stack = deploy(provisioner, infra, "payments")
    key_id = stack.physical_id("DataKey")
    dynamodb, sqs = boto3.client("dynamodb"), boto3.client("sqs")
    for table in stack.logical_ids_of_type("AWS::DynamoDB::Table"):
        description = dynamodb.describe_table(TableName=stack.physical_id(table))["Table"]
        assert description["SSEDescription"]["SSEType"] == "KMS"
        # moto reports the key as the template names it (its id); AWS reports its ARN.
        assert description["SSEDescription"]["KMSMasterKeyArn"].rsplit("/", 1)[-1] == key_id
    for queue in stack.logical_ids_of_type("AWS::SQS::Queue"):
        attributes = sqs.get_queue_attributes(QueueUrl=stack.physical_id(queue), AttributeNames=["All"])
        assert attributes["Attributes"]["KmsMasterKeyId"] == key_id
    (secret,) = stack.logical_ids_of_type("AWS::SecretsManager::Secret")
    described = boto3.client("secretsmanager").describe_secret(SecretId=stack.physical_id(secret))
    assert described["KmsKeyId"] == key_id
    rotation = boto3.client("kms").get_key_rotation_status(KeyId=key_id)
    assert rotation["KeyRotationEnabled"] is True


def statement(key_id: str, sid: str) -> dict[str, Any]:
    policy = json.loads(boto3.client("kms").get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
    (found,) = [s for s in policy["Statement"] if s.get("Sid") == sid]
    return found


def test_the_buses_their_dead_letter_queues_and_the_archive_are_under_the_event_data_key(
    infra: DeployedStack,
) -> None:
    key_id, key = infra.physical_id("EventDataKey"), infra.resources["EventDataKey"].attributes["Arn"]
    events, sqs = boto3.client("events"), boto3.client("sqs")
    buses = {"EventBus": "EventBusDeadLetterQueue", "CommandsBus": "CommandsBusDeadLetterQueue"}
    for bus, dead_letters in buses.items():
        described = events.describe_event_bus(Name=infra.physical_id(bus))
        assert described["KmsKeyIdentifier"] == key
        assert described["DeadLetterConfig"] == {"Arn": infra.resources[dead_letters].attributes["Arn"]}
        attributes = sqs.get_queue_attributes(
            QueueUrl=infra.physical_id(dead_letters), AttributeNames=["KmsMasterKeyId"]
        )
        assert attributes["Attributes"]["KmsMasterKeyId"] == key_id
    # moto ignores an archive's key (the runtime does not send it): the template names it.
    archive = infra.template.resources["EventArchive"]["Properties"]
    assert archive["KmsKeyIdentifier"] == {"Fn::GetAtt": ["EventDataKey", "Arn"]}
    assert "KmsKeyIdentifier" not in events.describe_archive(ArchiveName=infra.physical_id("EventArchive"))
    assert boto3.client("kms").get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is True
    # The key policy's ARNs (written out: the buses and queues name the key) are the deployed ones.
    bus_arns = [infra.resources[bus].attributes["Arn"] for bus in buses]
    conditions = statement(key_id, "EventBridgeEncryptsTheBuses")["Condition"]["StringEquals"]
    assert conditions["aws:SourceArn"] == bus_arns
    assert conditions["kms:EncryptionContext:aws:events:event-bus:arn"] == bus_arns
    archive_context = statement(key_id, "EventBridgeEncryptsTheArchive")["Condition"]["StringEquals"]
    assert archive_context == {"kms:EncryptionContext:aws:events:event-bus:arn": bus_arns[0]}
    queue_context = statement(key_id, "EventBridgeSendsToTheDeadLetterQueues")["Condition"]["StringEquals"]
    assert queue_context["kms:EncryptionContext:aws:sqs:arn"] == [
        infra.resources[dead_letters].attributes["Arn"] for dead_letters in buses.values()
    ]


def test_the_order_sagas_execution_data_is_under_the_orders_key(
    provisioner: Provisioner, infra: DeployedStack
) -> None:
    orders = deploy(provisioner, infra, "orders")
    machine_arn = orders.physical_id("OrderSagaStateMachine")
    described = boto3.client("stepfunctions").describe_state_machine(stateMachineArn=machine_arn)
    assert described["encryptionConfiguration"] == {
        "type": "CUSTOMER_MANAGED_KMS_KEY",
        "kmsKeyId": key_arn(orders),
        "kmsDataKeyReusePeriodSeconds": 300,
    }
    # The role's grant (written out: the state machine names the role) is for this state machine.
    role = orders.resources["OrderSagaStateMachineRole"].properties
    (policy,) = [p for p in role["Policies"] if p["PolicyName"] == "ExecutionDataKey"]
    execution_data = policy["PolicyDocument"]["Statement"][0]
    assert execution_data["Resource"] == key_arn(orders)
    assert execution_data["Condition"]["StringEquals"] == {
        "kms:EncryptionContext:aws:states:stateMachineArn": machine_arn
    }


def test_the_ledger_has_point_in_time_recovery(provisioner: Provisioner, infra: DeployedStack) -> None:
    stack = deploy(provisioner, infra, "payments")
    backups = boto3.client("dynamodb").describe_continuous_backups(
        TableName=stack.physical_id("PaymentsTable")
    )
    recovery = backups["ContinuousBackupsDescription"]["PointInTimeRecoveryDescription"]
    assert recovery["PointInTimeRecoveryStatus"] == "ENABLED"


def test_invoices_are_stored_with_sse_kms_and_a_presigned_download_still_reads_them(
    provisioner: Provisioner, infra: DeployedStack
) -> None:
    invoicing = deploy(provisioner, infra, "invoicing")
    bucket = invoicing.physical_id("InvoicesBucket")
    s3 = boto3.client("s3")
    [rule] = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"] == {
        "SSEAlgorithm": "aws:kms",
        "KMSMasterKeyID": key_arn(invoicing),
    }
    assert rule["BucketKeyEnabled"] is True
    stored = s3.put_object(Bucket=bucket, Key="invoices/o-1/invoice.pdf", Body=b"%PDF-1.4")
    assert stored["ServerSideEncryption"] == "aws:kms"
    assert s3.get_object(Bucket=bucket, Key="invoices/o-1/invoice.pdf")["Body"].read() == b"%PDF-1.4"


def test_the_tls_only_bucket_policy_is_not_put_on_motos_bucket(
    provisioner: Provisioner, infra: DeployedStack
) -> None:
    invoicing = deploy(provisioner, infra, "invoicing")
    bucket = invoicing.physical_id("InvoicesBucket")
    s3 = boto3.client("s3")
    with pytest.raises(ClientError, match="NoSuchBucketPolicy"):
        s3.get_bucket_policy(Bucket=bucket)


def test_moto_would_refuse_every_request_under_the_tls_only_policy(fake_aws: None) -> None:
    """Why the bucket policy stays AWS's to enforce: moto 5.2.5 applies a Deny without its condition.
    When this fails, moto evaluates aws:SecureTransport and the policy can be put on the bucket."""
    template = (REPO / "services" / "invoicing" / "template.yaml").read_text()
    assert "aws:SecureTransport" in template
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="tls-only")
    statement = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": ["arn:aws:s3:::tls-only", "arn:aws:s3:::tls-only/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    s3.put_bucket_policy(
        Bucket="tls-only", Policy=json.dumps({"Version": "2012-10-17", "Statement": [statement]})
    )
    with pytest.raises(ClientError, match="403|AccessDenied"):
        s3.put_object(Bucket="tls-only", Key="k", Body=b"x")


def _write(tmp_path: Path, resources: dict[str, Any]) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(json.dumps({"Resources": resources}))
    return path


def web_acl(scope: str) -> dict[str, Any]:
    return {
        "Type": "AWS::WAFv2::WebACL",
        "Properties": {
            "Scope": scope,
            "DefaultAction": {"Allow": {}},
            "VisibilityConfig": {
                "SampledRequestsEnabled": True,
                "CloudWatchMetricsEnabled": True,
                "MetricName": "acl",
            },
        },
    }


def test_a_web_acl_is_accepted_for_an_api_stage_without_being_emulated(
    provisioner: Provisioner, tmp_path: Path
) -> None:
    stage = "arn:aws:apigateway:us-east-1::/restapis/api/stages/Prod"
    path = _write(
        tmp_path,
        {
            "Acl": web_acl("REGIONAL"),
            "Association": {
                "Type": "AWS::WAFv2::WebACLAssociation",
                "Properties": {"WebACLArn": {"Fn::GetAtt": ["Acl", "Arn"]}, "ResourceArn": stage},
            },
        },
    )
    stack = provisioner.deploy("s", path, {})
    assert stack.resources["Acl"].attributes["Arn"].startswith("arn:aws:wafv2:us-east-1:")
    assert stack.physical_id("Association").startswith(stage)


def test_a_web_acl_an_api_stage_cannot_use_is_an_error(provisioner: Provisioner, tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="REGIONAL"):
        provisioner.deploy("s", _write(tmp_path, {"Acl": web_acl("CLOUDFRONT")}), {})
