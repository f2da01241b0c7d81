"""Template Conditions, Fn::If and AWS::NoValue, list parameters, KMS keys and bus policies, deployed
into moto (in-process) by the local provisioner."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import boto3
import pytest

from orderflow_local.intrinsics import ResolutionScope, TemplateError
from orderflow_local.provisioner import Provisioner


@pytest.fixture
def provisioner(fake_aws: None) -> Provisioner:
    return Provisioner(lambda service: boto3.client(service, region_name="us-east-1"))


def _template(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "template.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def _queue_names() -> list[str]:
    urls = boto3.client("sqs").list_queues().get("QueueUrls", [])
    return sorted(url.rsplit("/", 1)[1] for url in urls)


ENVIRONMENTS = """
    Parameters:
      Environment: {Type: String, Default: local, AllowedValues: [local, prod]}
    Conditions:
      IsProd: !Equals [!Ref Environment, prod]
"""


def test_a_resource_whose_condition_is_false_is_not_created(provisioner: Provisioner, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "app.py").write_text("def handler(event, context):\n    return None\n")
    path = _template(
        tmp_path,
        "\n    Transform: AWS::Serverless-2016-10-31"
        + ENVIRONMENTS
        + """
    Resources:
      Orders:
        Type: AWS::SQS::Queue
      Audit:
        Type: AWS::SQS::Queue
        Condition: IsProd
      Auditor:
        Type: AWS::Serverless::Function
        Condition: IsProd
        Properties: {Runtime: python3.12, Handler: app.handler, CodeUri: src}
    """,
    )

    local = provisioner.deploy("local", path, {})
    assert local.conditions == {"IsProd": False}
    assert sorted(local.resources) == ["Orders"]
    assert local.functions == {}
    assert local.logical_ids_of_type("AWS::SQS::Queue") == ["Orders"]
    assert _queue_names() == ["local-Orders"]

    prod = provisioner.deploy("prod", path, {"Environment": "prod"})
    # The SAM translator gives the function's generated role the function's condition.
    assert sorted(prod.resources) == ["Audit", "Auditor", "AuditorRole", "Orders"]
    assert list(prod.functions) == ["Auditor"]
    assert _queue_names() == ["local-Orders", "prod-Audit", "prod-Orders"]


@pytest.mark.parametrize("reference", ["!Ref Audit", "!GetAtt Audit.Arn", "!Sub '${Audit.Arn}'"])
def test_referring_to_a_resource_left_out_names_its_false_condition(
    provisioner: Provisioner, tmp_path: Path, reference: str
) -> None:
    path = _template(
        tmp_path,
        ENVIRONMENTS
        + f"""
    Resources:
      Audit:
        Type: AWS::SQS::Queue
        Condition: IsProd
      Policy:
        Type: AWS::SQS::QueuePolicy
        Properties:
          Queues: [{reference}]
          PolicyDocument: {{}}
    """,
    )
    with pytest.raises(TemplateError, match=r"Policy: .*'Audit', which is not created: its condition IsProd"):
        provisioner.deploy("s", path, {})


def test_fn_if_picks_its_branch_and_no_value_removes_the_property(
    provisioner: Provisioner, tmp_path: Path
) -> None:
    path = _template(
        tmp_path,
        ENVIRONMENTS
        + """
    Resources:
      Orders:
        Type: AWS::SQS::Queue
        Properties:
          QueueName: !If [IsProd, orders-prod, orders-local]
          VisibilityTimeout: !If [IsProd, 60, 45]
          DelaySeconds: !If [IsProd, 5, !Ref AWS::NoValue]
    """,
    )
    sqs = boto3.client("sqs")
    for environment, name, timeout, delay in (
        ("local", "orders-local", "45", "0"),
        ("prod", "orders-prod", "60", "5"),
    ):
        stack = provisioner.deploy(environment, path, {"Environment": environment})
        attributes = sqs.get_queue_attributes(QueueUrl=stack.physical_id("Orders"), AttributeNames=["All"])
        assert (name, attributes["Attributes"]["VisibilityTimeout"]) == (name, timeout)
        assert attributes["Attributes"]["DelaySeconds"] == delay  # 0: SQS's default, nothing was sent


def test_no_value_removes_a_key_or_a_list_item_and_fails_where_a_value_is_required() -> None:
    scope = ResolutionScope("s", {"Environment": "local"})
    scope.evaluate_conditions({"IsProd": {"Fn::Equals": [{"Ref": "Environment"}, "prod"]}})
    no_value = {"Ref": "AWS::NoValue"}
    resolved = scope.resolve(
        {
            "Kept": 1,
            "Dropped": no_value,
            "Chosen": {"Fn::If": ["IsProd", no_value, "local"]},
            "List": ["a", {"Fn::If": ["IsProd", "b", no_value]}, no_value],
            "Joined": {"Fn::Join": [",", ["x", {"Fn::If": ["IsProd", "y", no_value]}]]},
        }
    )
    assert resolved == {"Kept": 1, "Chosen": "local", "List": ["a"], "Joined": "x"}
    with pytest.raises(TemplateError, match="AWS::NoValue"):
        scope.resolve({"Fn::Sub": "${AWS::NoValue}"})
    with pytest.raises(TemplateError, match="AWS::NoValue"):
        scope.resolve({"Fn::If": ["IsProd", "b", no_value]})


@pytest.mark.parametrize("function", ["Fn::FindInMap", "Fn::Length", "Fn::ImportValue"])
def test_an_intrinsic_function_the_runtime_does_not_resolve_is_an_error_not_a_dict(function: str) -> None:
    with pytest.raises(TemplateError, match=f"does not resolve {function}"):
        ResolutionScope("s", {}).resolve({"Items": [{function: ["a", "b"]}]})


def test_conditions_combine_and_refer_to_each_other() -> None:
    scope = ResolutionScope("s", {"Environment": "prod", "Replicas": "3", "Strict": "true", "Regions": []})
    scope.evaluate_conditions(
        {
            "IsProd": {"Fn::Equals": ["prod", {"Ref": "Environment"}]},
            # YAML's 3 and true are the strings CloudFormation compares.
            "ThreeReplicas": {"Fn::Equals": [{"Ref": "Replicas"}, 3]},
            "IsStrict": {"Fn::Equals": [{"Ref": "Strict"}, True]},
            "StrictProd": {
                "Fn::And": [
                    {"Condition": "IsProd"},
                    {"Condition": "IsStrict"},
                    {"Condition": "ThreeReplicas"},
                ]
            },
            "Relaxed": {"Fn::Not": [{"Condition": "StrictProd"}]},
            "AnyRegion": {"Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "Regions"}]}, ""]}]},
            "RelaxedOrRegions": {"Fn::Or": [{"Condition": "Relaxed"}, {"Condition": "AnyRegion"}]},
            "InRegion": {"Fn::Equals": [{"Ref": "AWS::Region"}, "us-east-1"]},
        }
    )
    assert scope.conditions == {
        "IsProd": True,
        "ThreeReplicas": True,
        "IsStrict": True,
        "StrictProd": True,
        "Relaxed": False,
        "AnyRegion": False,
        "RelaxedOrRegions": False,
        "InRegion": True,
    }


@pytest.mark.parametrize(
    ("conditions", "error"),
    [
        ("{IsProd: !Equals [a, b]}", "Queue: unknown condition 'Missing'"),
        ("{Other: !Not [!Condition Missing]}", "condition Other refers to unknown condition 'Missing'"),
        ("{A: !Not [!Condition B], B: !Not [!Condition A]}", "cycle: A -> B -> A"),
        ("{Bad: !Equals [a]}", r"condition Bad: .* is not Fn::Equals \[a, b\]"),
        ("{Bad: !Equals [!Ref Nope, a]}", "condition Bad: Ref to unknown or not yet created 'Nope'"),
    ],
)
def test_a_condition_that_is_unknown_or_malformed_is_an_error(
    provisioner: Provisioner, tmp_path: Path, conditions: str, error: str
) -> None:
    path = _template(
        tmp_path,
        f"""
    Conditions: {conditions}
    Resources:
      Queue:
        Type: AWS::SQS::Queue
        Condition: Missing
    """,
    )
    with pytest.raises(TemplateError, match=error):
        provisioner.deploy("s", path, {})


@pytest.mark.parametrize(
    "value",
    [
        "VisibilityTimeout: !If [Missing, 60, 30]",
        "VisibilityTimeout: !If [IsProd, 60]",
    ],
)
def test_fn_if_on_an_unknown_condition_or_without_both_branches_is_an_error(
    provisioner: Provisioner, tmp_path: Path, value: str
) -> None:
    path = _template(
        tmp_path,
        ENVIRONMENTS
        + f"""
    Resources:
      Queue:
        Type: AWS::SQS::Queue
        Properties:
          {value}
    """,
    )
    with pytest.raises(TemplateError, match="Queue: .*(unknown condition 'Missing'|Fn::If takes)"):
        provisioner.deploy("s", path, {})


ACCOUNTS = """
    Transform: AWS::Serverless-2016-10-31
    Parameters:
      BusName: {Type: String}
      Accounts:
        Type: CommaDelimitedList
        Default: ""
        Description: Accounts that may create rules on the bus.
    Conditions:
      HasAccounts: !Not [!Equals [!Join ["", !Ref Accounts], ""]]
    Resources:
      Bus:
        Type: AWS::Events::EventBus
        Properties: {Name: !Ref BusName}
      PartnersCreateRules:
        Type: AWS::Events::EventBusPolicy
        Condition: HasAccounts
        Properties:
          EventBusName: !GetAtt Bus.Name
          StatementId: PartnersCreateRules
          Statement:
            Effect: Allow
            Principal: {AWS: !Ref Accounts}
            Action: [events:PutRule, events:PutTargets]
            Resource: !Sub arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/${BusName}/*
    Outputs:
      Partners:
        Condition: HasAccounts
        Value: !Join [",", !Ref Accounts]
      FirstPartner:
        Condition: HasAccounts
        Value: !Select [0, !Ref Accounts]
      Sharing:
        Value: !If [HasAccounts, shared, private]
"""


def test_a_comma_delimited_list_parameter_drives_a_condition_on_a_bus_policy_and_outputs(
    provisioner: Provisioner, tmp_path: Path
) -> None:
    path = _template(tmp_path, ACCOUNTS)
    events = boto3.client("events")

    private = provisioner.deploy("private", path, {"BusName": "private"})
    assert private.conditions == {"HasAccounts": False}
    assert "PartnersCreateRules" not in private.resources
    assert private.outputs == {"Sharing": "private"}
    assert "Policy" not in events.describe_event_bus(Name="private")

    shared = provisioner.deploy(
        "shared", path, {"BusName": "shared", "Accounts": "111111111111, 222222222222"}
    )
    assert shared.conditions == {"HasAccounts": True}
    assert shared.outputs == {
        "Partners": "111111111111,222222222222",
        "FirstPartner": "111111111111",
        "Sharing": "shared",
    }
    [statement] = json.loads(events.describe_event_bus(Name="shared")["Policy"])["Statement"]
    assert statement["Sid"] == "PartnersCreateRules"
    assert statement["Principal"] == {"AWS": ["111111111111", "222222222222"]}
    assert statement["Resource"] == "arn:aws:events:us-east-1:123456789012:rule/shared/*"


def test_list_parameters_check_each_item_against_allowed_values(
    provisioner: Provisioner, tmp_path: Path
) -> None:
    path = _template(
        tmp_path,
        """
    Parameters:
      Stages: {Type: CommaDelimitedList, Default: "a,b", AllowedValues: [a, b]}
      Name: {Type: String, Default: "a,b"}
    Resources: {}
    Outputs:
      Stages: {Value: !Join ["+", !Ref Stages]}
      Name: {Value: !Ref Name}
    """,
    )
    assert provisioner.deploy("s", path, {}).outputs == {"Stages": "a+b", "Name": "a,b"}
    with pytest.raises(TemplateError, match=r"Stages has \['c'\]"):
        provisioner.deploy("s", path, {"Stages": "a,c"})


def test_an_output_that_is_a_list_is_an_error(provisioner: Provisioner, tmp_path: Path) -> None:
    path = _template(
        tmp_path,
        """
    Parameters:
      Stages: {Type: CommaDelimitedList, Default: "a,b"}
    Resources: {}
    Outputs:
      Stages: {Value: !Ref Stages}
    """,
    )
    with pytest.raises(TemplateError, match="output Stages: an output is a string"):
        provisioner.deploy("s", path, {})


def test_a_kms_key_and_its_alias_encrypt_and_decrypt(provisioner: Provisioner, tmp_path: Path) -> None:
    path = _template(
        tmp_path,
        """
    Resources:
      TokenKey:
        Type: AWS::KMS::Key
        Properties:
          Description: Encrypts payment tokens
          EnableKeyRotation: true
          KeyPolicy:
            Version: "2012-10-17"
            Statement:
              - Sid: AccountAdministersTheKey
                Effect: Allow
                Principal: {AWS: !Sub "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
                Action: kms:*
                Resource: "*"
      TokenKeyAlias:
        Type: AWS::KMS::Alias
        Properties:
          AliasName: !Sub alias/${AWS::StackName}-tokens
          TargetKeyId: !Ref TokenKey
    Outputs:
      KeyId: {Value: !Ref TokenKey}
      KeyArn: {Value: !GetAtt TokenKey.Arn}
      SameKeyId: {Value: !GetAtt TokenKey.KeyId}
      Alias: {Value: !Ref TokenKeyAlias}
    """,
    )
    outputs = provisioner.deploy("payments", path, {}).outputs
    assert outputs["SameKeyId"] == outputs["KeyId"]
    assert outputs["Alias"] == "alias/payments-tokens"

    kms = boto3.client("kms")
    key = kms.describe_key(KeyId=outputs["KeyId"])["KeyMetadata"]
    assert (key["Arn"], key["Description"], key["Enabled"]) == (
        outputs["KeyArn"],
        "Encrypts payment tokens",
        True,
    )
    assert kms.get_key_rotation_status(KeyId=outputs["KeyId"])["KeyRotationEnabled"] is True
    policy = json.loads(kms.get_key_policy(KeyId=outputs["KeyId"], PolicyName="default")["Policy"])
    assert policy["Statement"][0]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}

    context = {"orderId": "o-1"}
    blob = kms.encrypt(KeyId=outputs["Alias"], Plaintext=b"tok_visa", EncryptionContext=context)[
        "CiphertextBlob"
    ]
    decrypted = kms.decrypt(CiphertextBlob=blob, EncryptionContext=context)
    assert (decrypted["Plaintext"], decrypted["KeyId"]) == (b"tok_visa", outputs["KeyArn"])


def test_bus_policies_add_their_statements_to_the_bus_in_either_form(
    provisioner: Provisioner, tmp_path: Path
) -> None:
    path = _template(
        tmp_path,
        ENVIRONMENTS
        + """
    Resources:
      Bus:
        Type: AWS::Events::EventBus
        Properties: {Name: orders}
      AccountPublishes:
        Type: AWS::Events::EventBusPolicy
        Properties:
          EventBusName: !Ref Bus
          StatementId: AccountPublishes
          Action: events:PutEvents
          Principal: !Ref AWS::AccountId
      NobodyElsePublishes:
        Type: AWS::Events::EventBusPolicy
        Properties:
          EventBusName: !Ref Bus
          StatementId: NobodyElsePublishes
          Statement:
            Effect: Deny
            Principal: "*"
            Action: events:PutEvents
            Resource: !GetAtt Bus.Arn
            Condition:
              StringNotEquals:
                aws:PrincipalAccount: !Ref AWS::AccountId
                aws:SourceVpc: !If [IsProd, vpc-1, !Ref AWS::NoValue]
    """,
    )
    provisioner.deploy("s", path, {})
    policy = json.loads(boto3.client("events").describe_event_bus(Name="orders")["Policy"])
    statements = {statement["Sid"]: statement for statement in policy["Statement"]}
    assert statements["AccountPublishes"]["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert statements["AccountPublishes"]["Action"] == "events:PutEvents"
    assert statements["NobodyElsePublishes"]["Effect"] == "Deny"
    assert statements["NobodyElsePublishes"]["Condition"] == {
        "StringNotEquals": {"aws:PrincipalAccount": "123456789012"}
    }


def test_a_bus_policy_statement_missing_what_the_local_bus_stores_is_an_error(
    provisioner: Provisioner, tmp_path: Path
) -> None:
    statement: dict[str, Any] = {"Effect": "Allow", "Principal": "*", "Action": "events:PutEvents"}
    path = tmp_path / "template.json"
    path.write_text(
        json.dumps(
            {
                "Resources": {
                    "Bus": {"Type": "AWS::Events::EventBus", "Properties": {"Name": "orders"}},
                    "Policy": {
                        "Type": "AWS::Events::EventBusPolicy",
                        "Properties": {
                            "EventBusName": {"Ref": "Bus"},
                            "StatementId": "s",
                            "Statement": statement,
                        },
                    },
                }
            }
        )
    )
    with pytest.raises(TemplateError, match="Policy: .*has no Resource"):
        provisioner.deploy("s", path, {})
