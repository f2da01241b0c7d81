"""Resolving CloudFormation intrinsic functions against what the local runtime created."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from orderflow_local.settings import ACCOUNT_ID, REGION

_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


class TemplateError(ValueError):
    """The template uses something the local runtime cannot resolve; it names what and where."""


@dataclass
class ResolvedResource:
    physical_id: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class ResolutionScope:
    stack_name: str
    parameters: Mapping[str, str]
    resources: dict[str, ResolvedResource] = field(default_factory=dict)

    def pseudo(self, name: str) -> str | None:
        return {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{self.stack_name}/local",
            "AWS::NoValue": None,
        }.get(name, "")

    def ref(self, name: str) -> str:
        if name.startswith("AWS::"):
            value = self.pseudo(name)
            if value is None or value == "":
                raise TemplateError(f"unsupported pseudo parameter {name}")
            return value
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return self.resources[name].physical_id
        raise TemplateError(f"Ref to unknown or not yet created {name!r}")

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource = self.resources.get(logical_id)
        if resource is None:
            raise TemplateError(f"GetAtt on unknown or not yet created {logical_id!r}")
        if attribute not in resource.attributes:
            raise TemplateError(f"{logical_id} has no attribute {attribute!r} locally")
        return resource.attributes[attribute]

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(item) for item in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, argument), *_ = value.items()
            function = _FUNCTIONS.get(key)
            if function is not None:
                return function(self, argument)
        return {key: self.resolve(item) for key, item in value.items()}

    def _sub(self, argument: Any) -> str:
        template, variables = (argument, {}) if isinstance(argument, str) else argument
        values = {name: self.resolve(v) for name, v in variables.items()}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in values:
                return str(values[name])
            if "." in name and not name.startswith("AWS::"):
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            return self.ref(name)

        return _SUB_VARIABLE.sub(replace, template).replace("${!", "${")


_FUNCTIONS: dict[str, Any] = {
    "Ref": lambda scope, name: scope.ref(name),
    "Fn::GetAtt": lambda scope, arg: scope.get_att(*(arg.split(".", 1) if isinstance(arg, str) else arg)),
    "Fn::Sub": lambda scope, arg: scope._sub(arg),
    "Fn::Join": lambda scope, arg: str(arg[0]).join(
        str(scope.resolve(part)) for part in scope.resolve(arg[1])
    ),
    "Fn::Select": lambda scope, arg: scope.resolve(arg[1])[int(scope.resolve(arg[0]))],
    "Fn::Split": lambda scope, arg: str(scope.resolve(arg[1])).split(arg[0]),
}


def references(value: Any) -> Iterator[str]:
    """Logical ids a property value refers to (Ref, GetAtt, and ${...} inside Sub)."""
    if isinstance(value, list):
        for item in value:
            yield from references(item)
    elif isinstance(value, dict):
        for key, argument in value.items():
            if key == "Ref" and isinstance(argument, str):
                yield argument
            elif key == "Fn::GetAtt":
                yield argument.split(".", 1)[0] if isinstance(argument, str) else argument[0]
            elif key == "Fn::Sub":
                template = argument if isinstance(argument, str) else argument[0]
                for name in _SUB_VARIABLE.findall(template):
                    yield name.split(".", 1)[0]
                if not isinstance(argument, str):
                    yield from references(argument[1])
            else:
                yield from references(argument)
