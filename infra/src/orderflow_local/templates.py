"""Reading a service's SAM template and translating it offline into plain CloudFormation.

The SAM translator refuses local paths in CodeUri/DefinitionUri (it wants what `sam package`
produces), so local paths are first rewritten to placeholder S3 URIs, exactly as packaging would,
and remembered: the provisioner maps them back to the folder or file they name. A plain
`AWS::StepFunctions::StateMachine`'s `DefinitionS3Location` given as a local file is packaged the
same way, into the `{Bucket, Key}` object packaging writes there.

Offline, the translator puts a parameter's default wherever it resolves a `Ref` itself (an API's
authorizer, for one). For a parameter of type `AWS::SSM::Parameter::Value<...>` the default is the
name of an SSM parameter, not a value, so the translator never sees that default: its `Ref`s stay in
the translated template for the provisioner to resolve from SSM, as CloudFormation resolves them.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cfn_flip import to_json
from samtranslator.translator.transform import transform

from orderflow_local.settings import REGION

ARTIFACT_BUCKET = "orderflow-local-artifacts"
# The prefix of every parameter type whose value CloudFormation reads from SSM Parameter Store.
SSM_PARAMETER_TYPE = "AWS::SSM::Parameter::Value<"

# The translator records usage metrics it never publishes offline, and warns about it each time.
logging.getLogger("samtranslator.metrics").setLevel(logging.ERROR)
_LOCAL_URI_PROPERTIES = ("CodeUri", "DefinitionUri")
# Packaged into an S3 location object rather than an s3:// URI.
_LOCAL_LOCATION_PROPERTIES = ("DefinitionS3Location",)


@dataclass
class TranslatedTemplate:
    path: Path
    resources: dict[str, Any]
    parameters: dict[str, Any]
    outputs: dict[str, Any]
    artifacts: dict[str, Path] = field(default_factory=dict)  # S3 key -> local path
    conditions: dict[str, Any] = field(default_factory=dict)  # the Conditions section, unevaluated

    def artifact(self, location: dict[str, str]) -> Path:
        key = location.get("S3Key") or location.get("Key") or ""
        if key not in self.artifacts:
            raise ValueError(f"{self.path}: no local artifact behind s3://{ARTIFACT_BUCKET}/{key}")
        return self.artifacts[key]


class _NoManagedPolicies:
    """The translator only needs managed policy ARNs to expand names; none are used by name here."""

    def load(self) -> dict[str, str]:
        return {}


def load_template(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(to_json(path.read_text()))
    return loaded


def translate(path: Path) -> TranslatedTemplate:
    template = load_template(path)
    artifacts: dict[str, Path] = {}
    _package_local_paths(template, path.parent, artifacts)
    parameters = copy.deepcopy(template.get("Parameters", {}))
    if "Transform" in template:
        os.environ.setdefault("AWS_DEFAULT_REGION", REGION)
        for declaration in template.get("Parameters", {}).values():
            if is_ssm_parameter(declaration):
                declaration.pop("Default", None)
        template = transform(template, {}, _NoManagedPolicies())
    return TranslatedTemplate(
        path=path,
        resources=template.get("Resources", {}),
        parameters=parameters,
        outputs=template.get("Outputs", {}),
        artifacts=artifacts,
        conditions=template.get("Conditions", {}),
    )


def is_ssm_parameter(declaration: Any) -> bool:
    """Whether a parameter's value names an SSM parameter whose value the stack is given."""
    return isinstance(declaration, dict) and str(declaration.get("Type", "")).startswith(SSM_PARAMETER_TYPE)


def _package_local_paths(template: dict[str, Any], base: Path, artifacts: dict[str, Path]) -> None:
    sections = [template.get("Globals", {}).get("Function", {})]
    sections += [resource.get("Properties", {}) for resource in template.get("Resources", {}).values()]
    for properties in sections:
        for name in (*_LOCAL_URI_PROPERTIES, *_LOCAL_LOCATION_PROPERTIES):
            value = properties.get(name)
            if isinstance(value, str) and not value.startswith("s3://"):
                local = (base / value).resolve()
                if not local.exists():
                    raise FileNotFoundError(f"{base / 'template.yaml'}: {name} {value} does not exist")
                key = f"{base.name}/{value.strip('/')}"
                artifacts[key] = local
                if name in _LOCAL_LOCATION_PROPERTIES:
                    properties[name] = {"Bucket": ARTIFACT_BUCKET, "Key": key}
                else:
                    properties[name] = f"s3://{ARTIFACT_BUCKET}/{key}"
