"""Deploying a template's resources into moto: a small, strict CloudFormation for one machine.

moto's own CloudFormation silently skips several resource types this system needs (secrets,
queue policies) and mishandles others (state machines land in the non-executing backend), so
the local runtime creates each resource itself from the translated template. Anything it does
not understand is an error that names the resource, never a silent skip. The template's
Conditions are evaluated first, from the parameters: a resource or output whose condition is
false is left out, as CloudFormation leaves it out, and Fn::If picks its branch.

A parameter of type `AWS::SSM::Parameter::Value<...>` is resolved as CloudFormation resolves it:
its value (the one given, else its default) names an SSM parameter, whose current value is the
stack's. This is how the services find what infra shares (docs/architecture.md); a named SSM
parameter that does not exist fails the deployment before anything is created.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from orderflow_local import stack_update
from orderflow_local.intrinsics import (
    ParameterValue,
    ResolutionScope,
    ResolvedResource,
    TemplateError,
    references,
)
from orderflow_local.resources import (
    CREATORS,
    KNOWN_PROPERTIES,
    ApiRoute,
    EventSourceSpec,
    FunctionSpec,
    StackContext,
)
from orderflow_local.schema_store import SchemaStore
from orderflow_local.stack_update import StackChanges
from orderflow_local.templates import SSM_PARAMETER_TYPE, TranslatedTemplate, is_ssm_parameter, translate


@dataclass
class DeployedStack:
    name: str
    template: TranslatedTemplate
    resources: dict[str, ResolvedResource]
    outputs: dict[str, str]
    conditions: dict[str, bool] = field(default_factory=dict)
    functions: dict[str, FunctionSpec] = field(default_factory=dict)
    event_sources: list[EventSourceSpec] = field(default_factory=list)
    routes: list[ApiRoute] = field(default_factory=list)
    # Every parameter's value as the stack was deployed with it: an SSM-typed one's is the value read.
    parameters: dict[str, ParameterValue] = field(default_factory=dict)
    # Each created resource's properties as resolved: what an update compares the new template with.
    properties: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The digest of the local file a resource's properties name (a state machine's definition), whose
    # content can change while the properties stay the same.
    digests: dict[str, str] = field(default_factory=dict)

    def physical_id(self, logical_id: str) -> str:
        return self.resources[logical_id].physical_id

    def logical_ids_of_type(self, resource_type: str) -> list[str]:
        """The created resources of a type (not those whose condition is false)."""
        return [
            lid
            for lid, res in self.template.resources.items()
            if res["Type"] == resource_type and lid in self.resources
        ]


class Provisioner:
    def __init__(self, clients: Callable[[str], Any], schema_store: SchemaStore | None = None) -> None:
        self._clients = clients
        # Shared by every stack deployed here, as one account's registries are.
        self.schema_store = schema_store if schema_store is not None else SchemaStore()

    def deploy(self, stack_name: str, template_path: Path, overrides: Mapping[str, str]) -> DeployedStack:
        stack, _ = self._apply(stack_name, template_path, overrides, previous=None)
        return stack

    def update(
        self, previous: DeployedStack, template_path: Path, overrides: Mapping[str, str]
    ) -> tuple[DeployedStack, StackChanges]:
        """Update a deployed stack to a new template, as a CloudFormation stack update does: create
        the new resources, update the changed ones in place, delete the removed ones and keep the
        rest as they are (a table its items, a queue its messages). A change that would replace a
        resource, or remove one the runtime cannot delete, fails before anything is changed."""
        return self._apply(previous.name, template_path, overrides, previous)

    def _apply(
        self,
        stack_name: str,
        template_path: Path,
        overrides: Mapping[str, str],
        previous: DeployedStack | None,
    ) -> tuple[DeployedStack, StackChanges]:
        template = translate(template_path)
        scope = ResolutionScope(stack_name, _parameters(template, overrides, self._ssm_value))
        try:
            scope.evaluate_conditions(template.conditions)
        except TemplateError as error:
            raise TemplateError(f"{template_path}: {error}") from error
        if previous is not None:
            _check_update(previous, template, scope, template_path)
        ctx = StackContext(
            stack_name=stack_name,
            clients=self._clients,
            artifact=template.artifact,
            schema_store=self.schema_store,
        )
        changes = StackChanges()
        properties_of: dict[str, dict[str, Any]] = {}
        digests: dict[str, str] = {}
        for logical_id in creation_order(template.resources):
            resource = template.resources[logical_id]
            where = f"{template_path}: {logical_id}"
            if not _holds(scope, resource, where):
                # As in CloudFormation, nothing of it is created or resolved; Ref or GetAtt to it is
                # an error that names its condition.
                scope.skipped[logical_id] = resource["Condition"]
                continue
            creator = CREATORS.get(resource["Type"])
            if creator is None:
                raise TemplateError(f"{where}: the local runtime does not create {resource['Type']}")
            unknown = set(resource.get("Properties", {})) - KNOWN_PROPERTIES.get(
                resource["Type"], frozenset()
            )
            if resource["Type"] in KNOWN_PROPERTIES and unknown:
                raise TemplateError(f"{where}: the local runtime does not emulate {sorted(unknown)}")
            try:
                properties = scope.resolve(resource.get("Properties", {}))
                deployed = _deployed(previous, logical_id, resource["Type"])
                if previous is None or deployed is None:
                    scope.resources[logical_id] = creator(ctx, logical_id, properties)
                    changes.created.append(logical_id)
                else:
                    old = previous.properties.get(logical_id, {})
                    same = old == properties and previous.digests.get(logical_id) == _digest(
                        template, properties
                    )
                    if same and resource["Type"] not in stack_update.RECREATED:
                        scope.resources[logical_id] = deployed
                    else:
                        scope.resources[logical_id] = stack_update.update(
                            ctx, resource["Type"], logical_id, deployed, old, properties
                        )
                    (changes.kept if same else changes.updated).append(logical_id)
                properties_of[logical_id] = properties
                if (digest := _digest(template, properties)) is not None:
                    digests[logical_id] = digest
            except TemplateError as error:
                raise TemplateError(f"{where}: {error}") from error
        if previous is not None:
            for logical_id in reversed(creation_order(previous.template.resources)):
                if logical_id not in previous.resources or logical_id in scope.resources:
                    continue
                declaration = previous.template.resources[logical_id]
                if declaration.get("DeletionPolicy") != "Retain":
                    stack_update.delete(
                        ctx,
                        declaration["Type"],
                        previous.resources[logical_id],
                        previous.properties.get(logical_id, {}),
                    )
                changes.deleted.append(logical_id)
        stack = DeployedStack(
            name=stack_name,
            template=template,
            resources=scope.resources,
            outputs=_outputs(template, scope),
            conditions=scope.conditions,
            functions=ctx.functions,
            event_sources=ctx.event_sources,
            routes=ctx.routes,
            parameters=dict(scope.parameters),
            properties=properties_of,
            digests=digests,
        )
        return stack, changes

    def _ssm_value(self, name: str) -> str | None:
        """The current value of the SSM parameter `name`, None when there is none."""
        try:
            value: str = self._clients("ssm").get_parameter(Name=name)["Parameter"]["Value"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ParameterNotFound":
                return None
            raise TemplateError(f"SSM parameter {name}: {error}") from error
        return value


def _digest(template: TranslatedTemplate, properties: Mapping[str, Any]) -> str | None:
    location = properties.get("DefinitionS3Location")
    if not isinstance(location, dict):
        return None
    return hashlib.sha256(template.artifact(location).read_bytes()).hexdigest()


def _deployed(previous: DeployedStack | None, logical_id: str, resource_type: str) -> ResolvedResource | None:
    """The resource deployed under this logical id and type, which an update keeps or changes."""
    if previous is None or logical_id not in previous.resources:
        return None
    if previous.template.resources[logical_id]["Type"] != resource_type:
        return None
    return previous.resources[logical_id]


def _check_update(
    previous: DeployedStack, template: TranslatedTemplate, scope: ResolutionScope, template_path: Path
) -> None:
    """Refuse, before anything changes, an update that would replace or orphan a resource."""
    held = {
        logical_id
        for logical_id, resource in template.resources.items()
        if _holds(scope, resource, f"{template_path}: {logical_id}")
    }
    problems: list[str] = []
    for logical_id in previous.resources:
        old = previous.template.resources[logical_id]
        new = template.resources.get(logical_id)
        if new is None or logical_id not in held:
            if old.get("DeletionPolicy") != "Retain" and not stack_update.can_delete(old["Type"]):
                problems.append(f"{logical_id} ({old['Type']}): the local redeploy cannot delete it")
        elif new["Type"] != old["Type"]:
            problems.append(f"{logical_id}: its type changes from {old['Type']} to {new['Type']}")
        else:
            replaced = stack_update.replaced_properties(
                old["Type"], old.get("Properties", {}), new.get("Properties", {})
            )
            if replaced:
                problems.append(
                    f"{logical_id} ({old['Type']}): changing {', '.join(sorted(replaced))} replaces it"
                )
    if problems:
        raise TemplateError(
            f"{template_path}: the local redeploy changes resources in place and never replaces one "
            f"(it would lose what it holds); restart `make run` for: {'; '.join(problems)}"
        )


def _holds(scope: ResolutionScope, declaration: Mapping[str, Any], where: str) -> bool:
    """Whether a resource or output is part of the stack: it has no Condition, or a true one."""
    if "Condition" not in declaration:
        return True
    try:
        return scope.condition(declaration["Condition"])
    except TemplateError as error:
        raise TemplateError(f"{where}: {error}") from error


def _outputs(template: TranslatedTemplate, scope: ResolutionScope) -> dict[str, str]:
    outputs: dict[str, str] = {}
    for name, output in template.outputs.items():
        where = f"{template.path}: output {name}"
        if not _holds(scope, output, where):
            continue
        try:
            value = scope.resolve(output["Value"])
        except TemplateError as error:
            raise TemplateError(f"{where}: {error}") from error
        if isinstance(value, list | dict):
            raise TemplateError(f"{where}: an output is a string, not {value!r} (Fn::Join a list)")
        outputs[name] = str(value)
    return outputs


def creation_order(resources: Mapping[str, Any]) -> list[str]:
    """Resources ordered so that everything a resource refers to exists before it."""
    graph: dict[str, set[str]] = {}
    for logical_id, resource in resources.items():
        depends_on = resource.get("DependsOn", [])
        depends_on = [depends_on] if isinstance(depends_on, str) else depends_on
        found = set(references(resource.get("Properties", {}))) | set(depends_on)
        graph[logical_id] = {name for name in found if name in resources}
    return list(TopologicalSorter(graph).static_order())


def _parameters(
    template: TranslatedTemplate, overrides: Mapping[str, str], ssm_value: Callable[[str], str | None]
) -> dict[str, ParameterValue]:
    unknown = set(overrides) - set(template.parameters)
    if unknown:
        raise TemplateError(f"{template.path}: unknown parameters {sorted(unknown)}")
    values: dict[str, ParameterValue] = {}
    for name, declaration in template.parameters.items():
        if name in overrides:
            text = str(overrides[name])
        elif "Default" in declaration:
            text = str(declaration["Default"])
        else:
            raise TemplateError(f"{template.path}: parameter {name} has no default and no local value")
        if is_ssm_parameter(declaration):
            try:
                found = ssm_value(text)
            except TemplateError as error:
                raise TemplateError(f"{template.path}: parameter {name}: {error}") from error
            if found is None:
                raise TemplateError(
                    f"{template.path}: parameter {name} names the SSM parameter {text}, which does not "
                    "exist: deploy the stack that publishes it first, or give the name of one that does"
                )
            text = found
        allowed = [str(v) for v in declaration.get("AllowedValues", [])]
        if _is_list(declaration):
            # CloudFormation splits on commas and trims each item; an empty value is an empty list.
            items = [item.strip() for item in text.split(",")] if text.strip() else []
            outside = [item for item in items if allowed and item not in allowed]
            if outside:
                raise TemplateError(f"{template.path}: parameter {name} has {outside}, not in {allowed}")
            values[name] = items
        else:
            if allowed and text not in allowed:
                raise TemplateError(f"{template.path}: parameter {name}={text} not in {allowed}")
            values[name] = text
    return values


def _is_list(declaration: Mapping[str, Any]) -> bool:
    parameter_type = str(declaration.get("Type", "String"))
    if parameter_type.startswith(SSM_PARAMETER_TYPE):
        # The value read is a list when the type inside is (Value<List<String>>, Value<CommaDelimitedList>).
        parameter_type = parameter_type.removeprefix(SSM_PARAMETER_TYPE).removesuffix(">")
    return parameter_type == "CommaDelimitedList" or parameter_type.startswith("List<")
