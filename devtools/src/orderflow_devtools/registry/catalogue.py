"""Who publishes and who consumes each event type, and whether that adds up.

A service declares what it publishes in ``services/<svc>/events.yaml``::

    source: orderflow.inventory
    publishes:
      - {detail-type: StockReserved, version: 1}

What it consumes is not written twice: it is read from the EventBridge rules of its
``template.yaml``. A rule with an ``EventBusName`` subscribes on an orderflow bus (rules on the
default bus, such as schedules, have none): ``!Ref CommandsBusName`` is the private commands bus the
order workflow sends its task-token commands on, anything else the domain-events bus. It consumes
every event type whose source and detail-type its pattern lists, and must do so on that type's bus.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cfn_flip import to_json

from orderflow_devtools.registry.event_types import EventType

EVENTS_FILE = "events.yaml"
TEMPLATE_FILE = "template.yaml"
RULE = "AWS::Events::Rule"

# The two orderflow buses (infra/template.yaml), as the catalogue and docs/events.md name them.
DOMAIN_BUS = "orderflow"
COMMANDS_BUS = "orderflow-commands"
# The template parameter a rule on the commands bus names as its EventBusName.
COMMANDS_BUS_PARAMETER = "CommandsBusName"


class CatalogueError(ValueError):
    """A service's events.yaml or template cannot be read as a catalogue entry."""


@dataclass(frozen=True)
class Subscription:
    """One EventBridge rule of a service on the orderflow bus."""

    service: str
    rule: str
    sources: tuple[str, ...]
    detail_types: tuple[str, ...] | None  # None: every detail-type of its sources
    bus: str = DOMAIN_BUS

    def matches(self, event_type: EventType) -> bool:
        return event_type.source in self.sources and (
            self.detail_types is None or event_type.detail_type in self.detail_types
        )

    def __str__(self) -> str:
        return f"{self.service} (rule {self.rule})"


@dataclass(frozen=True)
class Service:
    name: str
    publishes: tuple[EventType, ...]
    subscriptions: tuple[Subscription, ...]

    def consumes(self, event_type: EventType) -> bool:
        return any(subscription.matches(event_type) for subscription in self.subscriptions)


def load_services(root: Path) -> tuple[Service, ...]:
    """Every service under ``root/services`` (a folder with a template.yaml), by name."""
    templates = sorted(root.glob(f"services/*/{TEMPLATE_FILE}"))
    return tuple(load_service(template.parent) for template in templates)


def load_service(folder: Path) -> Service:
    return Service(
        name=folder.name,
        publishes=_published(folder / EVENTS_FILE),
        subscriptions=tuple(_subscriptions(folder.name, folder / TEMPLATE_FILE)),
    )


def producers(services: Iterable[Service], event_type: EventType) -> list[str]:
    return [service.name for service in services if event_type in service.publishes]


def consumers(services: Iterable[Service], event_type: EventType) -> list[Subscription]:
    return [
        subscription
        for service in services
        for subscription in service.subscriptions
        if subscription.matches(event_type)
    ]


def catalogue_problems(
    services: Sequence[Service], known: Sequence[EventType], commands: Collection[EventType]
) -> list[str]:
    """What does not add up, one line each: [] when every event type has exactly one producer,
    every declared event type exists and every subscription is to event types that are published,
    on the bus they travel on (``commands`` on the commands bus, every other on the domain bus), and
    every command has exactly one consumer: the service its task token is addressed to."""
    problems = [
        f"{service.name}: services/{service.name}/{EVENTS_FILE} publishes {event_type}, "
        "which no model in orderflow_shared.contracts.ALL_EVENTS defines"
        for service in services
        for event_type in service.publishes
        if event_type not in known
    ]
    for event_type in known:
        names = producers(services, event_type)
        if not names:
            problems.append(f"{event_type}: no producer; list it in its service's {EVENTS_FILE} (publishes:)")
        elif len(names) > 1:
            problems.append(f"{event_type}: {_count(names)}; an event type has exactly one producer")
    for command in commands:
        addressees = sorted({subscription.service for subscription in consumers(services, command)})
        if len(addressees) != 1:
            problems.append(
                f"{command}: consumed by {', '.join(addressees) or 'no service'}; a command carries a task "
                "token for exactly one service"
            )
    for service in services:
        for subscription in service.subscriptions:
            problems += _subscription_problems(subscription, services, known)
            problems += [
                f"{subscription} subscribes to {event_type} on the {subscription.bus} bus, "
                f"but it travels on the {bus_of(event_type, commands)} bus"
                for event_type in known
                if subscription.matches(event_type) and bus_of(event_type, commands) != subscription.bus
            ]
    return problems


def bus_of(event_type: EventType, commands: Collection[EventType]) -> str:
    """The bus an event type travels on: commands carry task tokens and stay off the domain bus."""
    return COMMANDS_BUS if event_type in commands else DOMAIN_BUS


def _subscription_problems(
    subscription: Subscription, services: Sequence[Service], known: Sequence[EventType]
) -> Iterator[str]:
    sources = ", ".join(subscription.sources)
    matched = [event_type for event_type in known if subscription.matches(event_type)]
    found = {event_type.detail_type for event_type in matched}
    unknown = [name for name in subscription.detail_types or () if name not in found]
    if subscription.detail_types is None and not matched:
        unknown = ["every detail-type"]
    for detail_type in unknown:
        yield (
            f"{subscription} consumes {detail_type} from {sources}, "
            "but no event type in orderflow_shared.contracts.ALL_EVENTS has that source and detail-type"
        )
    for event_type in matched:
        names = producers(services, event_type)
        if len(names) != 1:
            yield f"{subscription} consumes {event_type}, which has {_count(names)}"


def _count(producers: list[str]) -> str:
    return f"{len(producers)} producers ({', '.join(producers)})" if producers else "no producer"


def _published(path: Path) -> tuple[EventType, ...]:
    if not path.exists():
        raise CatalogueError(
            f"{path}: missing; declare what the service publishes (`publishes: []` if nothing)"
        )
    document = yaml.safe_load(path.read_text()) or {}
    try:
        source = document["source"]
        entries = document["publishes"]
        return tuple(EventType(source, str(entry["detail-type"]), int(entry["version"])) for entry in entries)
    except (KeyError, TypeError, ValueError) as error:
        raise CatalogueError(
            f"{path}: expected `source: <source>` and `publishes:` entries of "
            f"{{detail-type: <DetailType>, version: <major>}} ({error!r})"
        ) from error


def _subscriptions(service: str, path: Path) -> Iterator[Subscription]:
    template: dict[str, Any] = json.loads(to_json(path.read_text()))
    for logical_id, resource in template.get("Resources", {}).items():
        properties = resource.get("Properties", {})
        if resource.get("Type") != RULE or not {"EventBusName", "EventPattern"} <= properties.keys():
            continue
        pattern = properties["EventPattern"]
        pattern = json.loads(pattern) if isinstance(pattern, str) else pattern
        sources, detail_types = pattern.get("source", []), pattern.get("detail-type")
        if not all(isinstance(value, str) for value in [*sources, *(detail_types or [])]):
            raise CatalogueError(
                f"{path}: rule {logical_id} filters source or detail-type with a content filter; "
                "the catalogue reads exact names only"
            )
        detail_types = None if detail_types is None else tuple(detail_types)
        bus = COMMANDS_BUS if properties["EventBusName"] == {"Ref": COMMANDS_BUS_PARAMETER} else DOMAIN_BUS
        yield Subscription(service, logical_id, tuple(sources), detail_types, bus)
