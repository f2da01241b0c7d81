"""Breaking-change check between two JSON Schema (draft 4) documents of one event type.

A schema of the registry is a promise in two directions, and a change inside one major version
must keep both (the rules and their reasons are in docs/event-contracts.md, "Compatibility rules"):

- to readers: every field they read is still sent, with the same type, and still always sent
  when it was required;
- to everything that validates events against the schema (consumers, test-event generators, a
  second producer, archived or redriven events of the same major): every event that was valid
  stays valid, so nothing may become required and no value may stop being allowed.

``python -m orderflow_devtools.compatibility`` compares the generated schemas with the last
release; ``--release`` makes the current schemas the release.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from orderflow_shared.contracts import ALL_EVENTS

Schema = Mapping[str, Any]

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_RELEASED = REPO_ROOT / "shared" / "contracts" / "released"
DEFAULT_CURRENT = REPO_ROOT / "shared" / "contracts" / "schemas"

_SCHEMA_FILE = re.compile(r"^(?P<source>.+)@(?P<detail_type>.+)-v(?P<major>\d+)\.json$")
_LOWER_BOUNDS = ("minLength", "minItems", "minProperties")
_UPPER_BOUNDS = ("maxLength", "maxItems", "maxProperties")


class ChangeKind(StrEnum):
    REMOVED = "removed"
    RETYPED = "retyped"
    NEW_REQUIRED = "new required"
    NO_LONGER_REQUIRED = "no longer required"
    ENUM_NARROWED = "enum narrowed"
    CONSTRAINT_TIGHTENED = "constraint tightened"


@dataclass(frozen=True)
class BreakingChange:
    path: str
    kind: ChangeKind
    message: str

    def __str__(self) -> str:
        return f"{self.path or '(event)'}: {self.message}"


def breaking_changes(old: Schema, new: Schema) -> list[BreakingChange]:
    """What in ``new`` breaks a reader or a validator of events that were valid under ``old``."""
    comparison = _Comparison(old, new)
    comparison.compare(old, new, path="", active_refs=frozenset())
    return comparison.changes


# --- the schema of one node, with $ref, allOf and anyOf/oneOf flattened -------------------------


@dataclass
class _Shape:
    types: frozenset[str] | None  # None: any JSON type
    properties: dict[str, Schema] = field(default_factory=dict)
    required: frozenset[str] = frozenset()
    items: Schema | None = None
    additional: Schema | bool = True
    enum: list[Any] | None = None
    keywords: dict[str, Any] = field(default_factory=dict)
    variants: dict[str, Schema] = field(default_factory=dict)  # a union of several non-null schemas
    refs: frozenset[str] = frozenset()


def _resolve(document: Schema, ref: str) -> Schema:
    if not ref.startswith("#"):
        raise ValueError(f"only local $refs are supported, got {ref!r}")
    node: Any = document
    for token in ref[1:].split("/")[1:]:
        key = token.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or key not in node:
            raise ValueError(f"$ref {ref!r} points at nothing in the schema")
        node = node[key]
    if not isinstance(node, Mapping):
        raise ValueError(f"$ref {ref!r} does not point at a schema")
    return node


def _flatten(
    document: Schema, node: Schema, refs: frozenset[str] = frozenset()
) -> tuple[Schema, frozenset[str]]:
    """Inline ``$ref`` (siblings win, as pydantic writes them) and merge ``allOf`` into one schema."""
    while "$ref" in node:
        ref = node["$ref"]
        if ref in refs:
            break  # a recursive model: its inner occurrences are compared by the outer one
        refs = refs | {ref}
        node = {**_resolve(document, ref), **{k: v for k, v in node.items() if k != "$ref"}}
    if "allOf" not in node:
        return node, refs
    merged: dict[str, Any] = {k: v for k, v in node.items() if k != "allOf"}
    for part in node["allOf"]:
        flat, refs = _flatten(document, part, refs)
        for key, value in flat.items():
            if key == "properties":
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required":
                merged["required"] = sorted({*merged.get("required", []), *value})
            else:
                merged.setdefault(key, value)
    return merged, refs


def _own_types(node: Schema) -> frozenset[str] | None:
    declared = node.get("type")
    if declared is None:
        return None
    return frozenset([declared] if isinstance(declared, str) else declared)


def _variant_key(document: Schema, branch: Schema) -> str:
    if "$ref" in branch:
        return str(branch["$ref"]).rsplit("/", 1)[-1]
    flat, _ = _flatten(document, branch)
    if "title" in flat:
        return str(flat["title"])
    return "|".join(sorted(_own_types(flat) or {"any"}))


def _shape(document: Schema, node: Schema, refs: frozenset[str]) -> _Shape:
    flat, refs = _flatten(document, node, refs)
    branches = list(flat.get("anyOf", [])) + list(flat.get("oneOf", []))
    types = _own_types(flat)
    variants: dict[str, Schema] = {}
    if branches:
        non_null = [b for b in branches if _flatten(document, b)[0].get("type") != "null"]
        nullable = len(non_null) < len(branches)
        if len(non_null) == 1:
            # Optional[X]: the field is X, or null.
            outer = {k: v for k, v in flat.items() if k not in ("anyOf", "oneOf")}
            flat, refs = _flatten(document, {**non_null[0], **outer}, refs)
            types = _own_types(flat)
        else:
            variant_types = [_own_types(_flatten(document, b)[0]) for b in non_null]
            types = None if None in variant_types else frozenset().union(*(t or () for t in variant_types))
            variants = {_variant_key(document, b): b for b in non_null}
        if types is not None and nullable:
            types = types | {"null"}
    enum: list[Any] | None = None
    if "enum" in flat:
        enum = list(flat["enum"])
    elif "const" in flat:
        enum = [flat["const"]]
    return _Shape(
        types=types,
        properties=dict(flat.get("properties", {})),
        required=frozenset(flat.get("required", [])),
        items=flat.get("items"),
        additional=flat.get("additionalProperties", True),
        enum=enum,
        keywords=dict(flat),
        variants=variants,
        refs=refs,
    )


# --- the comparison ------------------------------------------------------------------------------


def _child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _describe(types: frozenset[str] | None) -> str:
    return "any type" if types is None else " or ".join(sorted(types))


def _lower_bound(keywords: Mapping[str, Any]) -> tuple[float, bool] | None:
    """The tightest lower bound on a number as (value, exclusive); draft 4 and later spellings."""
    bounds: list[tuple[float, bool]] = []
    exclusive = keywords.get("exclusiveMinimum")
    if "minimum" in keywords:
        bounds.append((keywords["minimum"], exclusive is True))
    if isinstance(exclusive, int | float) and not isinstance(exclusive, bool):
        bounds.append((exclusive, True))
    return max(bounds, default=None)


def _upper_bound(keywords: Mapping[str, Any]) -> tuple[float, bool] | None:
    """The tightest upper bound on a number as (value, exclusive); draft 4 and later spellings."""
    bounds: list[tuple[float, bool]] = []
    exclusive = keywords.get("exclusiveMaximum")
    if "maximum" in keywords:
        bounds.append((keywords["maximum"], exclusive is True))
    if isinstance(exclusive, int | float) and not isinstance(exclusive, bool):
        bounds.append((exclusive, True))
    return min(bounds, key=_upper_tightness, default=None)


def _upper_tightness(bound: tuple[float, bool]) -> tuple[float, bool]:
    """Orders upper bounds tightest first: a smaller value, or the same value exclusive."""
    return bound[0], not bound[1]


def _show_bound(bound: tuple[float, bool] | None, sign: str) -> str:
    if bound is None:
        return "none"
    return f"{sign}{'' if bound[1] else '='} {bound[0]}"


class _Comparison:
    def __init__(self, old_document: Schema, new_document: Schema) -> None:
        self.old_document = old_document
        self.new_document = new_document
        self.changes: list[BreakingChange] = []

    def _report(self, path: str, kind: ChangeKind, message: str) -> None:
        self.changes.append(BreakingChange(path, kind, message))

    def compare(
        self, old_node: Schema, new_node: Schema, path: str, active_refs: frozenset[tuple[str, ...]]
    ) -> None:
        old = _shape(self.old_document, old_node, frozenset())
        new = _shape(self.new_document, new_node, frozenset())
        ref_pair = (*sorted(old.refs), "|", *sorted(new.refs))
        if (old.refs or new.refs) and ref_pair in active_refs:
            return  # already comparing these two definitions further up (a recursive model)
        active_refs = active_refs | {ref_pair}
        if old.types != new.types:
            self._report(
                path,
                ChangeKind.RETYPED,
                f"type changed from {_describe(old.types)} to {_describe(new.types)}",
            )
            return  # what is below a retyped field is a different thing altogether
        self._compare_enum(old, new, path)
        self._compare_constraints(old, new, path)
        self._compare_properties(old, new, path, active_refs)
        self._compare_items(old, new, path, active_refs)
        self._compare_variants(old, new, path, active_refs)

    def _compare_enum(self, old: _Shape, new: _Shape, path: str) -> None:
        if new.enum is None:
            return
        if old.enum is None:
            self._report(path, ChangeKind.ENUM_NARROWED, f"values restricted to {new.enum}")
            return
        dropped = [value for value in old.enum if value not in new.enum]
        if dropped:
            self._report(path, ChangeKind.ENUM_NARROWED, f"enum values removed: {dropped}")

    def _compare_constraints(self, old: _Shape, new: _Shape, path: str) -> None:
        tightened: list[str] = []
        before, after = old.keywords, new.keywords
        for name in _LOWER_BOUNDS:
            if name in after and after[name] > before.get(name, 0):
                tightened.append(f"{name} {before.get(name, 'none')} -> {after[name]}")
        for name in _UPPER_BOUNDS:
            if name in after and (name not in before or after[name] < before[name]):
                tightened.append(f"{name} {before.get(name, 'none')} -> {after[name]}")
        old_low, new_low = _lower_bound(before), _lower_bound(after)
        if new_low is not None and (old_low is None or new_low > old_low):
            tightened.append(f"minimum {_show_bound(old_low, '>')} -> {_show_bound(new_low, '>')}")
        old_high, new_high = _upper_bound(before), _upper_bound(after)
        if new_high is not None and (
            old_high is None or _upper_tightness(new_high) < _upper_tightness(old_high)
        ):
            tightened.append(f"maximum {_show_bound(old_high, '<')} -> {_show_bound(new_high, '<')}")
        if "multipleOf" in after and (
            "multipleOf" not in before or (after["multipleOf"] / before["multipleOf"]) % 1 != 0
        ):
            tightened.append(f"multipleOf {before.get('multipleOf', 'none')} -> {after['multipleOf']}")
        for name in ("pattern", "format"):
            if name in after and after[name] != before.get(name):
                tightened.append(f"{name} {before.get(name, 'none')!r} -> {after[name]!r}")
        if after.get("uniqueItems") is True and before.get("uniqueItems") is not True:
            tightened.append("items must now be unique")
        if new.additional is False and old.additional is not False:
            tightened.append("additional properties no longer allowed")
        for constraint in tightened:
            self._report(path, ChangeKind.CONSTRAINT_TIGHTENED, f"constraint tightened: {constraint}")

    def _compare_properties(
        self, old: _Shape, new: _Shape, path: str, active_refs: frozenset[tuple[str, ...]]
    ) -> None:
        for name, old_property in old.properties.items():
            where = _child(path, name)
            if name not in new.properties:
                self._report(where, ChangeKind.REMOVED, "removed (consumers reading it break)")
                continue
            if name in old.required and name not in new.required:
                self._report(
                    where,
                    ChangeKind.NO_LONGER_REQUIRED,
                    "no longer required (consumers relying on it being sent break)",
                )
            self.compare(old_property, new.properties[name], where, active_refs)
        for name in sorted(new.required - old.required):
            message = (
                "became required (events sent without it stop being valid)"
                if name in old.properties
                else "new required field (events sent without it stop being valid)"
            )
            self._report(_child(path, name), ChangeKind.NEW_REQUIRED, message)
        # Map values (additionalProperties as a schema) are compared like any field, as "<map>.*".
        old_values = {} if old.additional is True else old.additional
        new_values = {} if new.additional is True else new.additional
        if isinstance(old_values, Mapping) and isinstance(new_values, Mapping) and (old_values or new_values):
            self.compare(old_values, new_values, _child(path, "*"), active_refs)

    def _compare_items(
        self, old: _Shape, new: _Shape, path: str, active_refs: frozenset[tuple[str, ...]]
    ) -> None:
        if old.items is None and new.items is None:
            return
        old_items, new_items = old.items or {}, new.items or {}
        if isinstance(old_items, Sequence) or isinstance(new_items, Sequence):
            if old_items != new_items:  # tuple-typed arrays: positions cannot be matched safely
                self._report(f"{path}[]", ChangeKind.RETYPED, "array item schemas changed")
            return
        self.compare(old_items, new_items, f"{path}[]", active_refs)

    def _compare_variants(
        self, old: _Shape, new: _Shape, path: str, active_refs: frozenset[tuple[str, ...]]
    ) -> None:
        if not old.variants and not new.variants:
            return
        if set(old.variants) != set(new.variants):
            self._report(
                path,
                ChangeKind.RETYPED,
                f"union changed from {sorted(old.variants)} to {sorted(new.variants)}",
            )
            return
        for key, old_variant in old.variants.items():
            self.compare(old_variant, new.variants[key], path, active_refs)


# --- the release check ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EventSchemaName:
    source: str
    detail_type: str
    major: int

    @classmethod
    def of_file(cls, path: Path) -> EventSchemaName | None:
        match = _SCHEMA_FILE.match(path.name)
        if match is None:
            return None
        return cls(match["source"], match["detail_type"], int(match["major"]))

    def __str__(self) -> str:
        return f"{self.source}/{self.detail_type} v{self.major}"

    def model(self) -> str:
        """The model to bump: the one of this major if there is one, else any of this event type."""
        same_type = [e for e in ALL_EVENTS if (self.source, self.detail_type) == (e.SOURCE, e.DETAIL_TYPE)]
        same_type.sort(key=lambda event: f"{self.major}" != event.VERSION)
        return f"{same_type[0].__module__}.{same_type[0].__qualname__}" if same_type else self.detail_type


def _load(path: Path) -> Schema:
    loaded = json.loads(path.read_text())
    if not isinstance(loaded, Mapping):
        raise ValueError(f"{path} is not a JSON Schema object")
    return loaded


def check_release(released_dir: Path, current_dir: Path) -> list[str]:
    """One message per breaking change of the current schemas against the released ones.

    A released ``X-vN.json`` must still be generated and be compatible; a new major or a new event
    type has nothing released to be compared with.
    """
    problems: list[str] = []
    for released in sorted(released_dir.glob("*.json")):
        name = EventSchemaName.of_file(released)
        event = str(name) if name else released.stem
        fix = (
            f"bump VERSION of {name.model()} to {name.major + 1} (publish the new major alongside) "
            "or make the change additive"
            if name
            else "publish a new major version alongside or make the change additive"
        )
        current = current_dir / released.name
        if not current.exists():
            problems.append(
                f"{event}: the released schema {released.name} is no longer generated, but its "
                f"consumers still read it. Keep publishing this major alongside the new one, or retire "
                f"it deliberately by deleting {released} in a reviewed change."
            )
            continue
        problems.extend(
            f"{event}: {change}. Fix: {fix}." for change in breaking_changes(_load(released), _load(current))
        )
    return problems


def release(released_dir: Path, current_dir: Path) -> list[str]:
    """Make the current schemas the released ones, unless that would hide a breaking change."""
    problems = check_release(released_dir, current_dir)
    if problems:
        return problems
    released_dir.mkdir(parents=True, exist_ok=True)
    for schema in sorted(current_dir.glob("*.json")):
        shutil.copyfile(schema, released_dir / schema.name)
    return []


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orderflow_devtools.compatibility",
        description="Fail on a breaking change of the event schemas against their last release.",
    )
    parser.add_argument("--released", type=Path, default=DEFAULT_RELEASED, help="the released schemas")
    parser.add_argument("--current", type=Path, default=DEFAULT_CURRENT, help="the generated schemas")
    parser.add_argument(
        "--release", action="store_true", help="copy the current schemas into the released ones"
    )
    arguments = parser.parse_args(argv)
    current: Path = arguments.current
    released: Path = arguments.released
    if arguments.release:
        if not any(current.glob("*.json")):
            print(f"No schemas in {current}: nothing to release.")
            return 0
        problems = release(released, current)
        verdict = f"Released the schemas of {current} into {released}."
    elif not any(released.glob("*.json")):
        print(f"Nothing released yet in {released}: nothing to compare.")
        return 0
    else:
        problems = check_release(released, current)
        verdict = f"The schemas in {current} are compatible with the release in {released}."
    if problems:
        print(f"Breaking changes against the release in {released}:", file=sys.stderr)
        for problem in problems:
            print(f"- {problem}", file=sys.stderr)
        return 1
    print(verdict)
    return 0


if __name__ == "__main__":
    sys.exit(main())
