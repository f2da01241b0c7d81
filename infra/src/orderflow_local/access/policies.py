"""Each function's grants: its role's policies as deployed, and the grants its template justifies.

SAM expands a function's ``Policies:`` into an ``AWS::IAM::Role`` with inline ``Policies`` and
``ManagedPolicyArns``; a managed policy ARN may be the ``Ref`` of an ``AWS::IAM::ManagedPolicy`` in
a deployed stack (resolved to it here), or an AWS managed policy. The AWS managed policies SAM
attaches (basic execution, X-Ray, SQS polling) are outside the check: their statements take
part in decisions (so a call they allow is allowed) but are never reported as unused. Any other
AWS managed policy is a problem the check reports: its grants are unknown here.

A function may justify grants no call exercises, in its template:

```yaml
MyFunction:
  Type: AWS::Serverless::Function
  Metadata:
    LeastPrivilege:
      Unexercised:
        dynamodb:Scan: DynamoDBCrudPolicy grants it; nothing here scans
        "dynamodb:* on */index/*": the CRUD policy also grants every action on the table's indexes
```

A key is an action pattern (IAM wildcards, case-insensitive), optionally followed by `` on `` and
a resource pattern matched against the resolved ARN; the value says why.

Two sources: ``from_deployed`` (stacks the provisioner deployed in this process, e.g. in tests)
and ``from_log`` (what a running local system recorded under ``ORDERFLOW_ACCESS_LOG``, with the
templates translated again for each function's role and metadata). ``role_grants`` reads one
function's from the recorded roles alone, by its role's ARN: what its own process judges its calls
with when they are made (``enforce``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orderflow_local.access.evaluate import PolicyError, Statement, parse_policy
from orderflow_local.access.recording import IAM_DIR
from orderflow_local.settings import ACCOUNT_ID

if TYPE_CHECKING:
    from orderflow_local.provisioner import DeployedStack

METADATA_KEY = "LeastPrivilege"
UNEXERCISED_KEY = "Unexercised"

_LOGS = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
_XRAY = [
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "xray:GetSamplingStatisticSummaries",
]

# The AWS managed policies SAM attaches to function roles, as AWS publishes them.
AWS_MANAGED_POLICIES: dict[str, dict[str, Any]] = {
    "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole": {
        "Statement": [{"Effect": "Allow", "Action": _LOGS, "Resource": "*"}]
    },
    "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess": {
        "Statement": [{"Effect": "Allow", "Action": _XRAY, "Resource": "*"}]
    },
    "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess": {
        "Statement": [{"Effect": "Allow", "Action": _XRAY, "Resource": "*"}]
    },
    "arn:aws:iam::aws:policy/service-role/AWSLambdaSQSQueueExecutionRole": {
        # What the event source mapping needs to poll; the function's own code does not poll.
        "Statement": [
            {
                "Effect": "Allow",
                "Action": ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", *_LOGS],
                "Resource": "*",
            }
        ]
    },
}


@dataclass(frozen=True)
class IamRecord:
    """A deployed IAM role, inline policy or managed policy with its resolved properties."""

    stack: str
    logical_id: str
    type: str
    physical_id: str
    properties: Mapping[str, Any]


@dataclass
class FunctionGrants:
    stack: str
    logical_id: str
    name: str  # the function's physical name, as its process records it
    role_arn: str = ""
    statements: tuple[Statement, ...] = ()  # checked: reported when unused
    aws_managed: tuple[Statement, ...] = ()  # part of every decision, never reported
    justifications: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)  # what keeps its calls from being checked

    @property
    def label(self) -> str:
        return f"{self.stack}.{self.logical_id}"

    @property
    def all_statements(self) -> tuple[Statement, ...]:
        return self.statements + self.aws_managed


def from_deployed(stacks: Iterable[DeployedStack]) -> dict[str, FunctionGrants]:
    """The grants of every function of stacks deployed by a Provisioner in this process."""
    from orderflow_local.resources import IamResource

    stacks = list(stacks)
    iam = {
        (stack.name, logical_id): IamRecord(
            stack.name, logical_id, resource.resource_type, resource.physical_id, resource.properties
        )
        for stack in stacks
        for logical_id, resource in stack.resources.items()
        if isinstance(resource, IamResource)
    }
    return {
        spec.name: function_grants(
            stack.name, logical_id, spec.name, stack.template.resources[logical_id], iam
        )
        for stack in stacks
        for logical_id, spec in stack.functions.items()
    }


def load_iam_records(directory: Path) -> dict[tuple[str, str], IamRecord]:
    records = {}
    for path in sorted((directory / IAM_DIR).glob("*.json")):
        document = json.loads(path.read_text())
        record = IamRecord(
            document["stack"],
            document["logicalId"],
            document["type"],
            document["physicalId"],
            document["properties"],
        )
        records[record.stack, record.logical_id] = record
    return records


def from_log(directory: Path, repo_root: Path) -> dict[str, FunctionGrants]:
    """The grants of every function a running local system deployed with ORDERFLOW_ACCESS_LOG set.

    The roles and policies are the ones it recorded (resolved when deployed); which role each
    function has and what its metadata justifies come from translating the same templates
    (``stacks.STACKS``) again. A function whose role was not deployed (a false Condition) is left out.
    """
    from orderflow_local.stacks import STACKS
    from orderflow_local.templates import translate

    iam = load_iam_records(directory)
    deployed_stacks = {stack for stack, _ in iam}
    grants: dict[str, FunctionGrants] = {}
    for definition in STACKS:
        if definition.name not in deployed_stacks:
            continue
        template = translate(repo_root / definition.template)
        for logical_id, resource in template.resources.items():
            if resource.get("Type") != "AWS::Lambda::Function":
                continue
            role = _role_logical_id(resource.get("Properties", {}).get("Role"))
            if role is not None and (definition.name, role) not in iam:
                continue  # not deployed
            name = function_name(definition.name, logical_id, resource.get("Properties", {}))
            grants[name] = function_grants(definition.name, logical_id, name, resource, iam)
    return grants


def function_name(stack: str, logical_id: str, properties: Mapping[str, Any]) -> str:
    """A function's physical name as the provisioner gives it (resources.StackContext.physical_name)."""
    explicit = properties.get("FunctionName")
    return explicit if isinstance(explicit, str) else f"{stack}-{logical_id}"[:64]


def function_grants(
    stack: str,
    logical_id: str,
    name: str,
    function_resource: Mapping[str, Any],
    iam: Mapping[tuple[str, str], IamRecord],
) -> FunctionGrants:
    grants = FunctionGrants(stack, logical_id, name)
    grants.justifications = _justifications(function_resource.get("Metadata", {}), grants.problems)
    role_id = _role_logical_id(function_resource.get("Properties", {}).get("Role"))
    role = iam.get((stack, role_id)) if role_id else None
    if role is None or role.type != "AWS::IAM::Role":
        grants.problems.append(f"its Role is not a role deployed by stack {stack}: its grants are unknown")
        return grants
    _read_role(grants, role, iam)
    return grants


def role_grants(
    logical_id: str, name: str, role_arn: str, iam: Mapping[tuple[str, str], IamRecord]
) -> FunctionGrants:
    """The grants of a function known by its role's ARN (a deployed function's resolved ``Role``), as
    ``function_grants`` reads them from its template, without the template's justifications."""
    role_name = role_arn.rsplit("/", 1)[-1]
    roles = [r for r in iam.values() if r.type == "AWS::IAM::Role" and r.physical_id == role_name]
    grants = FunctionGrants(roles[0].stack if roles else "", logical_id, name)
    if len(roles) != 1:
        grants.problems.append(
            f"its role {role_arn or '(none)'} is not a role deployed here: its grants are unknown"
        )
        return grants
    _read_role(grants, roles[0], iam)
    return grants


def _read_role(grants: FunctionGrants, role: IamRecord, iam: Mapping[tuple[str, str], IamRecord]) -> None:
    grants.role_arn = f"arn:aws:iam::{ACCOUNT_ID}:role/{role.physical_id}"
    checked: list[Statement] = []
    managed: list[Statement] = []
    try:
        for policy in role.properties.get("Policies", []):
            checked += parse_policy(policy["PolicyName"], policy["PolicyDocument"])
        for arn in role.properties.get("ManagedPolicyArns", []):
            if arn in AWS_MANAGED_POLICIES:
                managed += parse_policy(arn.rsplit("/", 1)[1], AWS_MANAGED_POLICIES[arn])
                continue
            found = [r for r in iam.values() if r.type == "AWS::IAM::ManagedPolicy" and r.physical_id == arn]
            if not found:
                grants.problems.append(
                    f"managed policy {arn} is not known to the check: its grants are unknown"
                )
                continue
            checked += parse_policy(found[0].logical_id, found[0].properties["PolicyDocument"])
        # Policies that name the role themselves (AWS::IAM::Policy, or a managed policy's Roles).
        for record in iam.values():
            if record.type in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy") and role.physical_id in (
                record.properties.get("Roles") or []
            ):
                checked += parse_policy(record.logical_id, record.properties["PolicyDocument"])
    except (PolicyError, KeyError, TypeError) as error:
        grants.problems.append(f"its role's policies cannot be read: {error}")
    if "PermissionsBoundary" in role.properties:
        grants.problems.append("its role has a PermissionsBoundary, which the check does not evaluate")
    grants.statements, grants.aws_managed = tuple(checked), tuple(managed)


def _role_logical_id(role: Any) -> str | None:
    if isinstance(role, Mapping) and "Fn::GetAtt" in role:
        target = role["Fn::GetAtt"]
        parts = target.split(".", 1) if isinstance(target, str) else list(target)
        if len(parts) == 2 and parts[1] == "Arn":
            return str(parts[0])
    return None


def _justifications(metadata: Any, problems: list[str]) -> dict[str, str]:
    section = metadata.get(METADATA_KEY) if isinstance(metadata, Mapping) else None
    if section is None:
        return {}
    if not isinstance(section, Mapping) or set(section) - {UNEXERCISED_KEY}:
        problems.append(f"Metadata {METADATA_KEY} must be {{{UNEXERCISED_KEY}: {{grant: reason}}}}")
        return {}
    unexercised = section.get(UNEXERCISED_KEY) or {}
    if not isinstance(unexercised, Mapping) or not all(
        isinstance(key, str) and isinstance(reason, str) and reason.strip()
        for key, reason in unexercised.items()
    ):
        problems.append(f"Metadata {METADATA_KEY}.{UNEXERCISED_KEY} must map each grant to a reason")
        return {}
    return dict(unexercised)
