"""`python -m orderflow_iac.openapi generate|check`: the public API's OpenAPI document, docs/openapi.json.

The document is what the API handlers' own Powertools resolvers describe (routes, parameters, bodies
and every declared answer), merged into one: nothing in it is written by hand. The API functions are
found in the templates (functions with `Api` events); each handler module is imported in a process
of its own, with the environment its template gives it (placeholders where the value only exists
once deployed), since handlers read their settings when imported. `check` fails when the committed
document differs from a fresh one, or when a template routes a request the document does not
describe (or the other way round); `make lint` runs it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cfn_flip import to_json

from orderflow_iac.stacks import REPO_ROOT, templates
from orderflow_local.stacks import OPENAPI_DOCUMENT

DOCUMENT = REPO_ROOT / OPENAPI_DOCUMENT
TITLE = "orderflow"
DESCRIPTION = (
    "The public HTTP API of orderflow: orders (placed, then driven by their saga) and the inventory "
    "operators keep. Every request body is a JSON object validated exactly as described here."
)
# A value that exists only once a stack is deployed (a table name, an ARN): importing a handler
# only stores it.
PLACEHOLDER = "placeholder-for-openapi"
# Dropped from the child's environment: a profile or endpoint would point its clients somewhere.
_AWS_SETTING = re.compile(r"^AWS_")
_PATH_PARAMETER = re.compile(r"\{[^}]+\}")


@dataclass(frozen=True)
class ApiFunction:
    template: Path
    logical_id: str
    module: str  # the handler's module, e.g. orders.handlers.api
    environment: Mapping[str, str]
    routes: frozenset[tuple[str, str]]  # (method, path with {} for each parameter)


def api_functions(paths: list[Path] | None = None) -> list[ApiFunction]:
    """Every function that serves API events, in template order."""
    found = []
    for path in paths or templates():
        template = json.loads(to_json(path.read_text()))
        parameters = template.get("Parameters", {})
        shared = template.get("Globals", {}).get("Function", {}).get("Environment", {}).get("Variables", {})
        for logical_id, resource in template.get("Resources", {}).items():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            properties = resource.get("Properties", {})
            events = [
                e["Properties"] for e in properties.get("Events", {}).values() if e.get("Type") == "Api"
            ]
            if not events:
                continue
            variables = {**shared, **properties.get("Environment", {}).get("Variables", {})}
            found.append(
                ApiFunction(
                    template=path,
                    logical_id=logical_id,
                    module=properties["Handler"].rsplit(".", 1)[0],
                    environment={
                        name: _offline_value(value, parameters) for name, value in variables.items()
                    },
                    routes=frozenset((e["Method"].lower(), _shape(e["Path"])) for e in events),
                )
            )
    return found


def _offline_value(value: Any, parameters: Mapping[str, Any]) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and set(value) == {"Ref"} and "Default" in parameters.get(value["Ref"], {}):
        return str(parameters[value["Ref"]]["Default"])
    return PLACEHOLDER


def _shape(path: str) -> str:
    """The path with its parameters unnamed: templates say {orderId} where Powertools says {order_id}."""
    return _PATH_PARAMETER.sub("{}", path)


def describe(function: ApiFunction) -> dict[str, Any]:
    """The OpenAPI document of one handler's resolver, from a process that imports it."""
    environment = {name: value for name, value in os.environ.items() if not _AWS_SETTING.match(name)}
    environment |= {
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": PLACEHOLDER,
        "AWS_SECRET_ACCESS_KEY": PLACEHOLDER,
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_DISABLED": "true",
        **function.environment,
    }
    child = subprocess.run(  # noqa: S603 - this interpreter, our own module
        [sys.executable, "-m", "orderflow_iac.openapi", "describe", function.module],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        raise RuntimeError(f"describing {function.module} failed:\n{child.stderr}")
    described: dict[str, Any] = json.loads(child.stdout)
    return described


def merged(described: list[dict[str, Any]]) -> dict[str, Any]:
    """One document from each resolver's: their paths (a route twice is an error) and components."""
    from aws_lambda_powertools.event_handler.openapi.merge import OpenAPIMerge

    _refuse_differing_components(described)
    merge = OpenAPIMerge(title=TITLE, version=_version(), description=DESCRIPTION, on_conflict="error")
    for schema in described:
        merge.add_schema(schema)
    document = merge.get_openapi_schema()
    _drop_unreferenced_schemas(document)
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            # Powertools puts its default 422 first; a reader expects the status codes in order.
            operation["responses"] = dict(sorted(operation.get("responses", {}).items()))
    return document


def _refuse_differing_components(described: list[dict[str, Any]]) -> None:
    # Powertools' merge keeps the last of two components with one name; two different models under
    # one name would silently describe one API with the other's schema.
    seen: dict[tuple[str, str], Any] = {}
    for schema in described:
        for kind, components in schema.get("components", {}).items():
            for name, component in components.items():
                if seen.setdefault((kind, name), component) != component:
                    raise ValueError(f"two different components named {kind}/{name}")


def _drop_unreferenced_schemas(document: dict[str, Any]) -> None:
    """Removes the component schemas nothing uses: Powertools adds its default validation error
    schemas to every document, which the routes' own declared answers replace."""
    schemas = document.get("components", {}).get("schemas", {})
    used: set[str] = set()
    pending = list(_references(document["paths"]))
    while pending:
        name = pending.pop()
        if name not in used:
            used.add(name)
            pending.extend(_references(schemas.get(name, {})))
    for name in set(schemas) - used:
        del schemas[name]


def _references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        reference = node.get("$ref")
        if isinstance(reference, str) and reference.startswith("#/components/schemas/"):
            yield reference.rsplit("/", 1)[1]
        for value in node.values():
            yield from _references(value)
    elif isinstance(node, list):
        for value in node:
            yield from _references(value)


def _version() -> str:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    return str(project["version"])


def route_problems(document: Mapping[str, Any], functions: list[ApiFunction]) -> list[str]:
    """Routes the templates give API Gateway that the document lacks, and the other way round."""
    documented = {
        (method, _shape(path))
        for path, operations in document.get("paths", {}).items()
        for method in operations
    }
    routed = {route for function in functions for route in function.routes}
    return [
        f"{m.upper()} {p} is routed by a template but not in the document"
        for m, p in sorted(routed - documented)
    ] + [
        f"{m.upper()} {p} is in the document but no template routes it"
        for m, p in sorted(documented - routed)
    ]


def render(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def build() -> tuple[str, list[str]]:
    """The document's text, and what is wrong with its routes."""
    functions = api_functions()
    with ThreadPoolExecutor() as pool:  # each child spends its time importing its handler
        document = merged(list(pool.map(describe, functions)))
    return render(document), route_problems(document, functions)


def main(argv: list[str]) -> int:
    match argv:
        case ["describe", module]:
            # Child mode: the handler's environment is set; importing it registers its routes.
            import importlib

            app = importlib.import_module(module).app
            print(
                json.dumps(app.get_openapi_schema().model_dump(by_alias=True, exclude_none=True, mode="json"))
            )
            return 0
        case ["generate"]:
            text, problems = build()
            DOCUMENT.write_text(text)
            print(f"wrote {DOCUMENT.relative_to(REPO_ROOT)}")
        case ["check"]:
            text, problems = build()
            committed = DOCUMENT.read_text() if DOCUMENT.exists() else ""
            if committed != text:
                stale = DOCUMENT.relative_to(REPO_ROOT)
                problems.append(f"{stale} is stale: run `make openapi-generate` and commit the result")
        case _:
            print("usage: python -m orderflow_iac.openapi generate|check", file=sys.stderr)
            return 2
    for problem in problems:
        print(problem, file=sys.stderr)
    if argv == ["check"] and not problems:
        print(f"{DOCUMENT.relative_to(REPO_ROOT)} is up to date")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
