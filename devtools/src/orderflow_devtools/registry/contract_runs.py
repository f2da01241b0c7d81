"""What contract tests observe while a service's real handlers run: the catalogue they are judged
against, the rules and routes behind each handler, the model fields a handler reads, and the events
the service puts on the bus as EventBridge delivers them.

Judging is done by ``contract_checks``; this module only gathers. It imports moto and the services'
handler modules, so only tests use it.
"""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

from orderflow_devtools.registry.catalogue import Service, load_services
from orderflow_devtools.registry.contract_checks import LIST_ITEM, MAP_VALUE, Rule, event_type_of
from orderflow_devtools.registry.docs import SAMPLES_FOLDER, SCHEMAS_FOLDER
from orderflow_devtools.registry.event_types import EventType, contract_models
from orderflow_devtools.registry.schemas import JsonObject
from orderflow_devtools.testing.events import ACCOUNT, REGION, FakeLambdaContext, sqs_record
from orderflow_devtools.testing.template import FUNCTION, QUEUE, RULE, SamTemplate, logical_id
from orderflow_shared.consumer import EventRouter
from orderflow_shared.contracts.base import Contract, Event

REPO_ROOT = Path(__file__).resolve().parents[4]
Handler = Callable[[dict[str, Any], Any], dict[str, Any]]


@dataclass(frozen=True)
class Catalogue:
    """The committed contracts (schemas, samples) and every service's declarations, read from ``root``."""

    root: Path
    services: tuple[Service, ...]
    schemas: dict[EventType, JsonObject]
    samples: dict[EventType, JsonObject]

    @classmethod
    def load(cls, root: Path = REPO_ROOT) -> Catalogue:
        known = list(contract_models())
        return cls(
            root=root,
            services=load_services(root),
            schemas=_committed(root / SCHEMAS_FOLDER, known),
            samples=_committed(root / SAMPLES_FOLDER, known),
        )

    def service(self, name: str) -> Service:
        [service] = [service for service in self.services if service.name == name]
        return service

    def consumers(self, name: str) -> list[Consumer]:
        """Each function of the service fed by a rule on the bus, with that rule as deployed."""
        template = SamTemplate.load(self.root / "services" / name / "template.yaml")
        subscriptions = {subscription.rule: subscription for subscription in self.service(name).subscriptions}
        queue_rules = {
            logical_id(target["Arn"]): rule_id
            for rule_id, rule in template.properties(RULE).items()
            if rule_id in subscriptions
            for target in rule.get("Targets", [])
        }
        consumers = []
        for function in template.properties(FUNCTION):
            for event in template.sqs_events(function):
                queue = logical_id(event["Queue"])
                rule_id = queue_rules.get(queue)
                if rule_id is None or queue not in template.properties(QUEUE):
                    continue
                subscription = subscriptions[rule_id]
                delivers = tuple(t for t in self.schemas if subscription.matches(t))
                pattern = template.properties(RULE)[rule_id]["EventPattern"]
                rule = Rule(name, rule_id, pattern, delivers)
                handler = template.properties(FUNCTION)[function]["Handler"]
                consumers.append(Consumer(function, handler, rule))
        return consumers


@dataclass(frozen=True)
class Consumer:
    function: str
    handler_path: str  # as in the template: <module>.<function>
    rule: Rule

    def module(self) -> ModuleType:
        return importlib.import_module(self.handler_path.rpartition(".")[0])

    def handler(self) -> Handler:
        handler: Handler = getattr(self.module(), self.handler_path.rpartition(".")[2])
        return handler

    def routes(self) -> dict[EventType, type[Event]]:
        """The event types the handler's EventRouter routes, with the model it parses each with."""
        router = _router_of(self.handler())
        # The router keeps its routes private; it has no other way to say what it parses with.
        routes: Mapping[tuple[str, str], tuple[type[Event], Any]] = router._routes
        return {EventType.of(model): model for model, _ in routes.values()}


def sqs_batch(*envelopes: JsonObject) -> dict[str, Any]:
    """An SQS batch delivering whole EventBridge events, as a rule's queue hands them to Lambda."""
    return {"Records": [sqs_record(json.dumps(envelope)) for envelope in envelopes]}


def run_handler(handler: Handler, *envelopes: JsonObject) -> list[str]:
    """Runs the handler on the events; the message ids of records it reported as failed."""
    response = handler(sqs_batch(*envelopes), FakeLambdaContext())
    return [failure["itemIdentifier"] for failure in response.get("batchItemFailures", [])]


@dataclass
class PutEventsCapture:
    """Every event the service's code puts on the bus, as EventBridge delivers it to a rule's target.

    Captured from the PutEvents request (a botocore hook on the service's events client; the call
    then goes on to moto), so what is judged is what the code built, in the envelope EventBridge
    wraps it in. moto's own delivery drops ``account``, a gap the local runtime patches.
    """

    envelopes: list[JsonObject] = field(default_factory=list)

    def attach(self, events_client: Any) -> PutEventsCapture:
        events_client.meta.events.register("before-call.events.PutEvents", self._capture)
        return self

    def _capture(self, params: dict[str, Any], **_: Any) -> None:
        request = json.loads(params["body"])
        for entry in request.get("Entries", []):
            self.envelopes.append(
                {
                    "version": "0",
                    "id": str(uuid.uuid4()),
                    "detail-type": entry.get("DetailType"),
                    "source": entry.get("Source"),
                    "account": ACCOUNT,
                    "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "region": REGION,
                    "resources": entry.get("Resources", []),
                    "detail": json.loads(entry.get("Detail", "{}")),
                }
            )


@dataclass
class ReadRecorder:
    """The fields of parsed events that code read, per event type, as paths under ``detail``."""

    reads: dict[EventType, set[str]] = field(default_factory=dict)
    _paths: dict[int, tuple[EventType, str]] = field(default_factory=dict)
    _roots: list[Event] = field(default_factory=list)  # keeps ids of tracked models unique

    def track(self, event: Event) -> None:
        event_type = EventType.of(type(event))
        self.reads.setdefault(event_type, set())
        self._roots.append(event)
        self._track(event, event_type, "")

    def _track(self, model: Contract, event_type: EventType, path: str) -> None:
        self._paths[id(model)] = (event_type, path)
        for name, value in object.__getattribute__(model, "__dict__").items():
            alias = type(model).model_fields[name].alias or name if name in type(model).model_fields else name
            child = f"{path}.{alias}" if path else alias
            if isinstance(value, Contract):
                self._track(value, event_type, child)
            elif isinstance(value, list | tuple):
                for item in value:
                    if isinstance(item, Contract):
                        self._track(item, event_type, child + LIST_ITEM)
            elif isinstance(value, dict):
                for item in value.values():
                    if isinstance(item, Contract):
                        self._track(item, event_type, f"{child}.{MAP_VALUE}")

    def read(self, model: Contract, name: str) -> None:
        tracked = self._paths.get(id(model))
        fields = type(model).model_fields
        if tracked is None or name not in fields:
            return
        event_type, path = tracked
        alias = fields[name].alias or name
        self.reads[event_type].add(f"{path}.{alias}" if path else alias)


@contextmanager
def recording_reads() -> Iterator[ReadRecorder]:
    """Records every field read of every event parsed (``model_validate``) while it is open.

    Reads through pydantic itself (``model_dump``, ``to_wire``) are not seen: a handler that forwards a
    whole sub-model reads more than is recorded, never less than what its code names.
    """
    recorder = ReadRecorder()
    original_validate = Event.model_validate.__func__  # type: ignore[attr-defined]
    original_getattribute = object.__getattribute__

    def validate(cls: type[Event], obj: Any, *args: Any, **kwargs: Any) -> Event:
        event: Event = original_validate(cls, obj, *args, **kwargs)
        recorder.track(event)
        return event

    def getattribute(model: Contract, name: str) -> Any:
        value = original_getattribute(model, name)
        if not name.startswith("_"):
            recorder.read(model, name)
        return value

    with (
        mock.patch.object(Event, "model_validate", classmethod(validate)),
        mock.patch.object(Contract, "__getattribute__", getattribute),
    ):
        yield recorder


def with_order_id(envelope: JsonObject, order_id: str) -> JsonObject:
    """A copy of an event for another order (samples all tell the same order's story)."""
    copy: JsonObject = json.loads(json.dumps(envelope))
    copy["detail"]["metadata"]["orderId"] = order_id
    copy["id"] = f"{copy['id']}-{order_id}"
    return copy


def envelope_type(envelope: JsonObject) -> EventType:
    return event_type_of(envelope)


def _router_of(handler: Handler) -> EventRouter:
    """The EventRouter of a handler made by ``orderflow_shared.entry_points.events_handler``."""
    router = getattr(handler, "router", None)
    if not isinstance(router, EventRouter):
        raise LookupError(f"{handler!r} routes no contracts (not made by events_handler)")
    return router


def _committed(folder: Path, known: list[EventType]) -> dict[EventType, JsonObject]:
    documents: dict[EventType, JsonObject] = {}
    for event_type in known:
        path = folder / f"{event_type.schema_name}.json"
        if path.exists():
            documents[event_type] = json.loads(path.read_text())
    return documents
