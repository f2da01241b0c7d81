"""Hypothesis strategies of documents valid against a registry schema (JSON Schema draft 4).

hypothesis-jsonschema would be the obvious tool, but its last release (0.23.1) drives private
Hypothesis internals that the pinned Hypothesis no longer has (``many.more()``), and fails on the
first object it draws. This covers the draft-4 subset the schema generator emits (see
``schemas.py``); a keyword outside it fails loudly rather than generating something unchecked,
and every document drawn is filtered through Draft4Validator, so only valid documents come out.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, timedelta, timezone
from typing import Any

from hypothesis import strategies as st
from jsonschema import Draft4Validator

from orderflow_devtools.registry.schemas import JsonObject

# Keywords that only describe; everything else must be understood to be generated.
_ANNOTATIONS = frozenset(
    {"$schema", "title", "description", "default", "definitions", "x-examples"}
    | {"x-amazon-events-source", "x-amazon-events-detail-type", "x-orderflow-major-version"}
)
_UNDERSTOOD = frozenset(
    {"$ref", "allOf", "anyOf", "oneOf", "enum", "type", "format", "pattern", "minLength", "maxLength"}
    | {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "items", "minItems", "maxItems"}
    | {"properties", "required", "additionalProperties"}
)
_OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5, minutes=-30))])


def documents(
    schema: JsonObject, repair: Callable[[Any], Any] = lambda document: document
) -> st.SearchStrategy[Any]:
    """Every document the schema accepts (as far as the subset reaches).

    ``repair`` enforces rules between fields that draft 4 cannot state (the schema still judges the
    result)."""
    validator = Draft4Validator(schema)
    return _strategy(schema, schema).map(repair).filter(validator.is_valid)


def _strategy(root: JsonObject, node: JsonObject) -> st.SearchStrategy[Any]:
    unknown = set(node) - _UNDERSTOOD - _ANNOTATIONS
    if unknown:
        raise ValueError(f"cannot generate from schema keywords {sorted(unknown)}")
    if "$ref" in node:
        return _strategy(root, _resolve(root, node["$ref"]))
    if "allOf" in node:  # the generator writes a $ref with siblings as allOf: the first part leads
        return _strategy(root, node["allOf"][0])
    if "anyOf" in node or "oneOf" in node:
        parts: list[JsonObject] = node.get("anyOf") or node.get("oneOf") or []
        return st.one_of([_strategy(root, part) for part in parts])
    if "enum" in node:
        return st.sampled_from(node["enum"])
    types = node.get("type", "object")
    if isinstance(types, list):
        return st.one_of([_typed(root, {**node, "type": one}) for one in types])
    return _typed(root, node)


def _typed(root: JsonObject, node: JsonObject) -> st.SearchStrategy[Any]:
    kind = node.get("type", "object")
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind in ("integer", "number"):
        low, high = node.get("minimum"), node.get("maximum")
        low = None if low is None else low + (1 if node.get("exclusiveMinimum") else 0)
        high = None if high is None else high - (1 if node.get("exclusiveMaximum") else 0)
        return st.integers(min_value=low, max_value=high)
    if kind == "string":
        return _string(node)
    if kind == "array":
        items = _strategy(root, node.get("items", {}))
        return st.lists(items, min_size=node.get("minItems", 0), max_size=node.get("maxItems", 4))
    return _object(root, node)


def _string(node: JsonObject) -> st.SearchStrategy[str]:
    low, high = node.get("minLength", 0), node.get("maxLength")
    if node.get("format") == "date-time":
        return st.datetimes(timezones=_OFFSETS).map(lambda moment: moment.isoformat())
    if node.get("format") == "email":
        strings: st.SearchStrategy[str] = st.emails()
    elif "pattern" in node:
        strings = st.from_regex(str(node["pattern"]), fullmatch=True)
    else:
        strings = st.text(min_size=low, max_size=high if high is not None else max(low, 40))
    return strings.filter(lambda value: low <= len(value) <= (high if high is not None else len(value)))


def _object(root: JsonObject, node: JsonObject) -> st.SearchStrategy[dict[str, Any]]:
    properties = node.get("properties", {})
    required = set(node.get("required", []))
    values = node.get("additionalProperties")
    if not properties and isinstance(values, dict):  # a map
        return st.dictionaries(st.text(min_size=1, max_size=12), _strategy(root, values), max_size=3)
    return st.fixed_dictionaries(
        {name: _strategy(root, schema) for name, schema in properties.items() if name in required},
        optional={
            name: _strategy(root, schema) for name, schema in properties.items() if name not in required
        },
    )


def _resolve(root: JsonObject, reference: str) -> JsonObject:
    if not reference.startswith("#/"):
        raise ValueError(f"cannot generate from the remote $ref {reference}")
    target: Any = root
    for part in reference[2:].split("/"):
        target = target[part]
    resolved: JsonObject = target
    return resolved
