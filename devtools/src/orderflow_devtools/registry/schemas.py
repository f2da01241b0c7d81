"""A contract model as the registry's JSONSchemaDraft4 schema of the whole EventBridge event.

pydantic writes JSON Schema 2020-12; the EventBridge Schema Registry takes draft 4. ``to_draft4``
rewrites the few constructs pydantic uses that draft 4 spells differently and refuses any other
later keyword, so a model feature the registry could not express fails generation loudly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from orderflow_devtools.registry.event_types import EventType
from orderflow_shared.contracts import Event

JsonObject = dict[str, Any]

DRAFT_4 = "http://json-schema.org/draft-04/schema#"
EXAMPLES = "x-examples"  # draft 4 has no `examples`; kept as an extension for readers and samples

# Keywords of later drafts that draft 4 lacks (`$defs`, `const`, `examples` and the numeric
# `exclusiveMinimum`/`exclusiveMaximum` are rewritten; these have no draft-4 equivalent).
POST_DRAFT_4_KEYWORDS = frozenset(
    {
        "$defs", "$anchor", "$dynamicRef", "$dynamicAnchor", "$comment", "$vocabulary", "const",
        "examples", "prefixItems", "contains", "minContains", "maxContains", "propertyNames",
        "if", "then", "else", "dependentRequired", "dependentSchemas", "unevaluatedItems",
        "unevaluatedProperties", "contentEncoding", "contentMediaType", "contentSchema",
        "deprecated", "readOnly", "writeOnly", "discriminator",
    }
)  # fmt: skip

# Where a schema holds subschemas: one, a list of them, or a name -> subschema map.
_ONE_SCHEMA = ("items", "additionalProperties", "not")
_SCHEMA_LISTS = ("allOf", "anyOf", "oneOf")
_SCHEMA_MAPS = ("properties", "patternProperties", "definitions")

# The EventBridge envelope around ``detail``, as every event on the bus carries it.
_ENVELOPE: JsonObject = {
    "version": {"type": "string", "description": "EventBridge's envelope version, always 0"},
    "id": {"type": "string", "description": "EventBridge's id of this event"},
    "detail-type": {"type": "string"},
    "source": {"type": "string"},
    "account": {"type": "string", "description": "The AWS account the event was published in"},
    "time": {"type": "string", "format": "date-time", "description": "When EventBridge received it"},
    "region": {"type": "string"},
    "resources": {"type": "array", "items": {"type": "string"}},
}


class _ContractJsonSchema(GenerateJsonSchema):
    """pydantic's schema without the titles it derives from field names ("Totalamount")."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def event_schema(model: type[Event]) -> JsonObject:
    """The draft-4 schema of an EventBridge event of ``model``'s type, ``detail`` being the model."""
    event_type = EventType.of(model)
    detail = to_draft4(model.model_json_schema(by_alias=True, schema_generator=_ContractJsonSchema))
    definitions = detail.pop("definitions", {})
    _pin_major_version(definitions, event_type.version)
    detail["description"] = description = when_emitted(model)
    schema: JsonObject = {
        "$schema": DRAFT_4,
        "title": event_type.schema_name,
        "description": description,
        "type": "object",
        "x-amazon-events-source": event_type.source,
        "x-amazon-events-detail-type": event_type.detail_type,
        "x-orderflow-major-version": event_type.version,
        "required": [*_ENVELOPE, "detail"],
        "properties": {
            **_ENVELOPE,
            "detail-type": {"type": "string", "enum": [event_type.detail_type]},
            "source": {"type": "string", "enum": [event_type.source]},
            "detail": detail,
        },
    }
    if definitions:
        schema["definitions"] = definitions
    return schema


def _pin_major_version(definitions: JsonObject, version: int) -> None:
    # The model accepts any major in metadata.version; the schema of one major accepts only it, so a
    # subscriber that selects a schema by detail.metadata.version never validates against the wrong one.
    metadata = definitions.get("EventMetadata")
    if metadata is not None:
        metadata["properties"]["version"] = {**metadata["properties"]["version"], "enum": [str(version)]}


def when_emitted(model: type[Event]) -> str:
    """The model's own docstring (not Event's), on one line: when the event is emitted."""
    doc = vars(model).get("__doc__")
    if not doc:
        raise ValueError(f"{model.__name__} has no docstring: say when the event is emitted")
    return " ".join(doc.split())


def to_draft4(schema: JsonObject, at: str = "#") -> JsonObject:
    """``schema`` (JSON Schema 2020-12 as pydantic writes it) in draft-4 terms."""
    converted: JsonObject = {}
    for keyword, value in schema.items():
        location = f"{at}/{keyword}"
        if keyword == "$defs":
            converted["definitions"] = _convert_map(value, location)
        elif keyword == "const":
            converted["enum"] = [value]
        elif keyword == "examples":
            converted[EXAMPLES] = value
        elif keyword in ("exclusiveMinimum", "exclusiveMaximum") and not isinstance(value, bool):
            converted[keyword.replace("exclusiveM", "m")] = value
            converted[keyword] = True
        elif keyword in POST_DRAFT_4_KEYWORDS:
            raise ValueError(f"{location}: {keyword!r} has no JSON Schema draft 4 equivalent")
        elif keyword in _ONE_SCHEMA and isinstance(value, dict):
            converted[keyword] = to_draft4(value, location)
        elif keyword in _SCHEMA_LISTS:
            converted[keyword] = [to_draft4(item, f"{location}/{i}") for i, item in enumerate(value)]
        elif keyword in _SCHEMA_MAPS:
            converted[keyword] = _convert_map(value, location)
        else:
            converted[keyword] = value
    return _collapse_nullable(_ref_alone(converted))


def _convert_map(schemas: JsonObject, at: str) -> JsonObject:
    return {name: to_draft4(schema, f"{at}/{name}") for name, schema in schemas.items()}


def _ref_alone(schema: JsonObject) -> JsonObject:
    """Draft 4 ignores every keyword next to ``$ref``; such siblings keep their meaning in an allOf."""
    if "$ref" not in schema:
        return schema
    ref = schema["$ref"].replace("#/$defs/", "#/definitions/")
    siblings = {keyword: value for keyword, value in schema.items() if keyword != "$ref"}
    return {"allOf": [{"$ref": ref}], **siblings} if siblings else {"$ref": ref}


def _collapse_nullable(schema: JsonObject) -> JsonObject:
    """``anyOf: [{type: X, ...}, {type: null}]`` (pydantic's ``X | None``) as ``type: [X, null]``."""
    branches = schema.get("anyOf")
    if not isinstance(branches, list) or len(branches) != 2 or {"type": "null"} not in branches:
        return schema
    [other] = [branch for branch in branches if branch != {"type": "null"}]
    if not isinstance(other.get("type"), str) or "enum" in other:
        return schema  # a $ref or enum stays an anyOf, which draft 4 has too
    rest = {keyword: value for keyword, value in schema.items() if keyword != "anyOf"}
    return {**other, **rest, "type": [other["type"], "null"]}


def walk_schemas(schema: JsonObject, visit: Callable[[JsonObject, str], None], at: str = "#") -> None:
    """Calls ``visit(subschema, location)`` on ``schema`` and every schema nested in it."""
    visit(schema, at)
    for keyword, value in schema.items():
        location = f"{at}/{keyword}"
        if keyword in _ONE_SCHEMA and isinstance(value, dict):
            walk_schemas(value, visit, location)
        elif keyword in _SCHEMA_LISTS:
            for i, item in enumerate(value):
                walk_schemas(item, visit, f"{location}/{i}")
        elif keyword in (*_SCHEMA_MAPS, "$defs"):
            for name, item in value.items():
                walk_schemas(item, visit, f"{location}/{name}")


def resolve(schema: JsonObject, root: JsonObject) -> JsonObject:
    """``schema`` itself, or the definition its local ``$ref`` (or a lone allOf of one) points at."""
    while True:
        if "$ref" in schema:
            prefix = "#/definitions/"
            ref: str = schema["$ref"]
            if not ref.startswith(prefix) or ref[len(prefix) :] not in root.get("definitions", {}):
                raise ValueError(f"unresolvable $ref {ref!r}")
            schema = {**root["definitions"][ref[len(prefix) :]], **_without(schema, "$ref")}
        elif len(schema.get("allOf", ())) == 1:
            schema = {**schema["allOf"][0], **_without(schema, "allOf")}
        else:
            return schema


def _without(schema: JsonObject, keyword: str) -> JsonObject:
    return {key: value for key, value in schema.items() if key != keyword}
