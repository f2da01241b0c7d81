"""Contract checks between producers and consumers: pure functions that return problem messages.

Each message names the producer, the consumer, the event type and, where one is involved, the field,
so a failing contract test says who broke whom. Inputs are plain data (patterns, schemas, read
sets, envelopes), so a test can check a mutated copy of any of them. See docs/event-contracts.md.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from jsonschema import Draft4Validator

from orderflow_devtools.registry.catalogue import Service, producers
from orderflow_devtools.registry.event_types import EventType
from orderflow_devtools.registry.schemas import JsonObject

LIST_ITEM = "[]"  # marks a list's items in a read path: data.items[].sku
MAP_VALUE = "*"  # a map's values: data.quantities.*


@dataclass(frozen=True)
class Rule:
    """A consumer's EventBridge rule as deployed, and the event types its consumer relies on it for."""

    service: str
    name: str
    pattern: JsonObject
    delivers: tuple[EventType, ...]


def producer_of(services: Sequence[Service], event_type: EventType) -> str:
    names = producers(services, event_type)
    return names[0] if len(names) == 1 else "no single producer"


def rule_problems(
    rules: Iterable[Rule], services: Sequence[Service], events: Mapping[EventType, Sequence[JsonObject]]
) -> list[str]:
    """One line per rule and event type it must deliver whose pattern rejects a producer's event.

    ``events`` are whole EventBridge events (the producer's sample, generated ones), matched with
    moto's implementation of EventBridge's pattern matching.
    """
    from moto.events.models import EventPattern  # a test-only dependency, like the checks

    problems = []
    for rule in rules:
        matcher = EventPattern.load(json.dumps(rule.pattern))
        for event_type in rule.delivers:
            rejected = [
                event for event in events.get(event_type, ()) if not matcher.matches_event(cast(Any, event))
            ]
            if rejected:
                problems.append(
                    f"rule {rule.name} of {rule.service} no longer matches {event_type} published by "
                    f"{producer_of(services, event_type)} (pattern {json.dumps(rule.pattern)}, "
                    f"event id {rejected[0].get('id')!r})"
                )
    return problems


def routing_problems(rule: Rule, routed: Iterable[EventType]) -> list[str]:
    """A rule must deliver exactly what the handler behind it routes: an event the handler has no
    route for fails in the queue and ends in the DLQ; a route the rule never feeds is dead code."""
    routed = set(routed)
    delivered = set(rule.delivers)
    return [
        f"rule {rule.name} of {rule.service} delivers {event_type}, which its handler has no route for"
        for event_type in sorted(delivered - routed)
    ] + [
        f"{rule.service}'s handler behind rule {rule.name} routes {event_type}, which the rule never delivers"
        for event_type in sorted(routed - delivered)
    ]


def read_problems(
    reads: Mapping[str, Mapping[EventType, Iterable[str]]],
    schemas: Mapping[EventType, JsonObject],
    services: Sequence[Service],
) -> list[str]:
    """One line per field a consumer reads that its producer's schema does not have.

    ``reads``: consumer service -> event type -> field paths under ``detail`` (``data.order.totalAmount``,
    ``data.items[].sku``). Covers both a producer dropping a field a consumer reads and a consumer
    starting to read a field no producer sends.
    """
    problems = []
    for consumer, by_type in reads.items():
        for event_type, paths in by_type.items():
            producer = producer_of(services, event_type)
            schema = schemas.get(event_type)
            if schema is None:
                problems.append(f"{consumer} reads {event_type}, which has no registry schema")
                continue
            problems += [
                f"{consumer} reads detail.{path} of {event_type}, which its producer {producer} does not send"
                for path in sorted(set(paths))
                if not has_field(schema, f"detail.{path}")
            ]
    return problems


def has_field(schema: JsonObject, path: str) -> bool:
    """Whether the event schema describes ``path``, following $ref, allOf, anyOf and oneOf."""
    nodes = [schema]
    for step in _steps(path):
        nodes = [child for node in nodes for child in _children(schema, node, step)]
        if not nodes:
            return False
    return True


def envelope_problems(
    producer: str,
    envelopes: Iterable[JsonObject],
    schemas: Mapping[EventType, JsonObject],
    declared: Iterable[EventType],
) -> list[str]:
    """One line per event a producer put on the bus that is undeclared or that its schema rejects."""
    declared = set(declared)
    problems = []
    for envelope in envelopes:
        event_type = event_type_of(envelope)
        if event_type not in declared:
            problems.append(f"{producer} published {event_type}, which its events.yaml does not declare")
            continue
        schema = schemas.get(event_type)
        if schema is None:
            problems.append(f"{producer} published {event_type}, which has no registry schema")
            continue
        # Formats too (date-time, email): a producer's malformed timestamp is a contract break.
        validator = Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)
        for error in sorted(validator.iter_errors(envelope), key=lambda e: list(e.path)):
            field = ".".join(str(part) for part in error.absolute_path) or "(the event)"
            problems.append(
                f"{producer} published {event_type} that its registry schema rejects at {field}: "
                f"{error.message}"
            )
    return problems


def event_type_of(envelope: Mapping[str, Any]) -> EventType:
    detail = envelope.get("detail") or {}
    version = str(detail.get("metadata", {}).get("version", "0"))
    return EventType(
        str(envelope.get("source")),
        str(envelope.get("detail-type")),
        int(version) if version.isdigit() else 0,
    )


def _steps(path: str) -> Iterator[str]:
    for part in path.split("."):
        if part.endswith(LIST_ITEM):
            yield part[: -len(LIST_ITEM)]
            yield LIST_ITEM
        else:
            yield part


def _children(root: JsonObject, node: JsonObject, step: str) -> list[JsonObject]:
    children = []
    for alternative in _alternatives(root, node):
        if step == LIST_ITEM:
            items = alternative.get("items")
            children += [items] if isinstance(items, dict) else []
        elif step == MAP_VALUE:
            values = alternative.get("additionalProperties")
            children += [values] if isinstance(values, dict) else []
        elif step in alternative.get("properties", {}):
            children.append(alternative["properties"][step])
    return children


def _alternatives(root: JsonObject, node: JsonObject, depth: int = 0) -> list[JsonObject]:
    """The node itself and every schema it is made of (a $ref's target, allOf/anyOf/oneOf parts)."""
    if depth > 32:  # a recursive $ref: what is reachable has been seen
        return []
    found = [node]
    reference = node.get("$ref")
    if isinstance(reference, str) and reference.startswith("#/"):
        target: Any = root
        for part in reference[2:].split("/"):
            target = target.get(part, {}) if isinstance(target, dict) else {}
        found += _alternatives(root, target, depth + 1)
    for keyword in ("allOf", "anyOf", "oneOf"):
        for part in node.get(keyword, []):
            found += _alternatives(root, part, depth + 1)
    return found
