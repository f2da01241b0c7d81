"""Resolving CloudFormation intrinsic functions against what the local runtime created."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from orderflow_local.settings import ACCOUNT_ID, REGION

_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")

# A parameter's value: a string, or a list for CommaDelimitedList and List<...> parameters.
ParameterValue = str | list[str]


class TemplateError(ValueError):
    """The template uses something the local runtime cannot resolve; it names what and where."""


class _NoValue:
    """What `Ref: AWS::NoValue` resolves to: the property or list item holding it is left out."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


@dataclass
class ResolvedResource:
    physical_id: str
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass
class ResolutionScope:
    stack_name: str
    parameters: Mapping[str, ParameterValue]
    resources: dict[str, ResolvedResource] = field(default_factory=dict)
    conditions: dict[str, bool] = field(default_factory=dict)
    # Resources not created because their condition is false, each with that condition's name.
    skipped: dict[str, str] = field(default_factory=dict)

    def pseudo(self, name: str) -> str:
        return {
            "AWS::Region": REGION,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{self.stack_name}/local",
        }.get(name, "")

    def ref(self, name: str) -> ParameterValue:
        if name == "AWS::NoValue":
            raise TemplateError("AWS::NoValue is only a Ref, and only where a property or list item may go")
        if name.startswith("AWS::"):
            value = self.pseudo(name)
            if not value:
                raise TemplateError(f"unsupported pseudo parameter {name}")
            return value
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return self.resources[name].physical_id
        self._check_not_skipped("Ref to", name)
        raise TemplateError(f"Ref to unknown or not yet created {name!r}")

    def get_att(self, logical_id: str, attribute: str) -> str:
        resource = self.resources.get(logical_id)
        if resource is None:
            self._check_not_skipped("GetAtt on", logical_id)
            raise TemplateError(f"GetAtt on unknown or not yet created {logical_id!r}")
        if attribute not in resource.attributes:
            raise TemplateError(f"{logical_id} has no attribute {attribute!r} locally")
        return resource.attributes[attribute]

    def _check_not_skipped(self, what: str, logical_id: str) -> None:
        if logical_id in self.skipped:
            condition = self.skipped[logical_id]
            raise TemplateError(
                f"{what} {logical_id!r}, which is not created: its condition {condition} is false"
            )

    def condition(self, name: Any) -> bool:
        """A condition's value; the Conditions section must have been evaluated first."""
        if not isinstance(name, str) or name not in self.conditions:
            raise TemplateError(f"unknown condition {name!r}")
        return self.conditions[name]

    def evaluate_conditions(self, definitions: Mapping[str, Any]) -> None:
        """Evaluates every condition of the template's Conditions section, used or not, as
        CloudFormation validates them all before it creates anything."""
        evaluating: list[str] = []

        def named(name: str) -> bool:
            if name not in self.conditions:
                if name in evaluating:
                    cycle = " -> ".join([*evaluating[evaluating.index(name) :], name])
                    raise TemplateError(f"conditions refer to each other in a cycle: {cycle}")
                evaluating.append(name)
                self.conditions[name] = self._condition(definitions[name], name, definitions, named)
                evaluating.pop()
            return self.conditions[name]

        for name in definitions:
            named(name)

    def _condition(
        self, expression: Any, name: str, definitions: Mapping[str, Any], named: Callable[[str], bool]
    ) -> bool:
        if isinstance(expression, dict) and len(expression) == 1:
            ((function, argument),) = expression.items()
            if function == "Condition" and isinstance(argument, str):
                if argument not in definitions:
                    raise TemplateError(f"condition {name} refers to unknown condition {argument!r}")
                return named(argument)
            if function == "Fn::Equals" and isinstance(argument, list) and len(argument) == 2:
                try:
                    left, right = (_comparable(self.resolve(value)) for value in argument)
                except TemplateError as error:
                    raise TemplateError(f"condition {name}: {error}") from error
                return bool(left == right)
            if function == "Fn::Not" and isinstance(argument, list) and len(argument) == 1:
                return not self._condition(argument[0], name, definitions, named)
            if function in ("Fn::And", "Fn::Or") and isinstance(argument, list) and 2 <= len(argument) <= 10:
                # Every operand is evaluated (no short circuit), so an error in any of them is reported.
                results = [self._condition(operand, name, definitions, named) for operand in argument]
                return all(results) if function == "Fn::And" else any(results)
        raise TemplateError(
            f"condition {name}: {json.dumps(expression)} is not Fn::Equals [a, b], Fn::Not [c], "
            "Fn::And / Fn::Or [c1, ..., c10] or Condition: <name>"
        )

    def resolve(self, value: Any) -> Any:
        resolved = self._resolve(value)
        if resolved is NO_VALUE:
            raise TemplateError(
                "AWS::NoValue where a value is required (it only removes a property or list item)"
            )
        return resolved

    def _resolve(self, value: Any) -> Any:
        """Like resolve, but may answer NO_VALUE, which the enclosing object or list leaves out."""
        if isinstance(value, list):
            return [item for item in map(self._resolve, value) if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, argument),) = value.items()
            function = _FUNCTIONS.get(key)
            if function is not None:
                return function(self, argument)
            if key.startswith("Fn::"):
                raise TemplateError(
                    f"the local runtime does not resolve {key} (only {', '.join(_FUNCTIONS)})"
                )
        resolved = {key: self._resolve(item) for key, item in value.items()}
        return {key: item for key, item in resolved.items() if item is not NO_VALUE}

    def _if(self, argument: Any) -> Any:
        if not (isinstance(argument, list) and len(argument) == 3 and isinstance(argument[0], str)):
            raise TemplateError(
                f"Fn::If takes [condition name, value if true, value if false], not {argument!r}"
            )
        return self._resolve(argument[1] if self.condition(argument[0]) else argument[2])

    def _join(self, argument: Any) -> str:
        delimiter, parts = argument
        values = self.resolve(parts)
        if not isinstance(values, list):
            raise TemplateError(f"Fn::Join needs a list of values, got {values!r}")
        return str(delimiter).join(_text(part) for part in values)

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
            value = self.ref(name)
            if isinstance(value, list):
                raise TemplateError(f"${{{name}}} in Fn::Sub is a list; Fn::Join it into a string first")
            return value

        return _SUB_VARIABLE.sub(replace, template).replace("${!", "${")


def _text(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _comparable(value: Any) -> Any:
    """Fn::Equals compares what CloudFormation sees: YAML's `true` or `3` equal the strings "true", "3"."""
    if isinstance(value, list):
        return [_comparable(item) for item in value]
    return _text(value) if isinstance(value, bool | int | float) else value


_FUNCTIONS: dict[str, Any] = {
    "Ref": lambda scope, name: NO_VALUE if name == "AWS::NoValue" else scope.ref(name),
    "Fn::GetAtt": lambda scope, arg: scope.get_att(*(arg.split(".", 1) if isinstance(arg, str) else arg)),
    "Fn::Sub": lambda scope, arg: scope._sub(arg),
    "Fn::Join": lambda scope, arg: scope._join(arg),
    "Fn::Select": lambda scope, arg: scope.resolve(arg[1])[int(scope.resolve(arg[0]))],
    "Fn::Split": lambda scope, arg: str(scope.resolve(arg[1])).split(arg[0]),
    "Fn::If": lambda scope, arg: scope._if(arg),
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
