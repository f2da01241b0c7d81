"""One service's contract tests as a few calls: its side as consumer and as producer.

A service's ``tests/contract/`` module provides what only it knows (its moto stack, seed data) and
calls this: rules against the producers' events, handlers run on the producers' samples with their
reads recorded, the events those handlers published validated against the registry, and the parse
stage of every route against events generated from the producer's schema.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from pydantic import ValidationError

from orderflow_devtools.registry.contract_checks import (
    envelope_problems,
    producer_of,
    read_problems,
    routing_problems,
    rule_problems,
)
from orderflow_devtools.registry.contract_runs import (
    Catalogue,
    Consumer,
    PutEventsCapture,
    envelope_type,
    recording_reads,
    run_handler,
)
from orderflow_devtools.registry.event_types import EventType
from orderflow_devtools.registry.schemas import JsonObject


@dataclass
class ServiceContract:
    name: str
    catalogue: Catalogue = field(default_factory=Catalogue.load)
    reads: dict[EventType, set[str]] = field(default_factory=dict)

    @property
    def consumers(self) -> list[Consumer]:
        return self.catalogue.consumers(self.name)

    @property
    def consumed(self) -> list[EventType]:
        return sorted({event_type for consumer in self.consumers for event_type in consumer.rule.delivers})

    def rule_problems(self, events: dict[EventType, list[JsonObject]] | None = None) -> list[str]:
        """The service's rules against the producers' samples (or the ``events`` given)."""
        if events is None:
            events = {event_type: [sample] for event_type, sample in self.catalogue.samples.items()}
        rules = [consumer.rule for consumer in self.consumers]
        return rule_problems(rules, self.catalogue.services, events)

    def routing_problems(self) -> list[str]:
        return [
            problem
            for consumer in self.consumers
            for problem in routing_problems(consumer.rule, consumer.routes())
        ]

    def consume(self, *envelopes: JsonObject) -> list[str]:
        """Runs the handler each event's rule feeds, recording what it reads; lines for failed records."""
        failures = []
        for envelope in envelopes:
            event_type = envelope_type(envelope)
            consumer = self._consumer_of(event_type)
            with recording_reads() as recorder:
                failed = run_handler(consumer.handler(), envelope)
            for recorded_type, paths in recorder.reads.items():
                self.reads.setdefault(recorded_type, set()).update(paths)
            if failed:
                failures.append(
                    f"{consumer.function} failed on {event_type} (event id {envelope.get('id')!r})"
                )
        return failures

    def consume_samples(self) -> list[str]:
        """``consume`` on the committed sample of every event type the service consumes."""
        return self.consume(*(self.catalogue.samples[event_type] for event_type in self.consumed))

    def read_problems(self) -> list[str]:
        return read_problems({self.name: self.reads}, self.catalogue.schemas, self.catalogue.services)

    def unread(self) -> list[EventType]:
        """Consumed event types no recorded run read a field of: the read check saw nothing of them."""
        return [event_type for event_type in self.consumed if not self.reads.get(event_type)]

    def provider_problems(self, published: PutEventsCapture, expect_every_type: bool = True) -> list[str]:
        """Every event the service's code put on the bus against its schema; with ``expect_every_type``,
        also each type its events.yaml declares that the run never saw built."""
        declared = self.catalogue.service(self.name).publishes
        envelopes = published.envelopes
        problems = envelope_problems(self.name, envelopes, self.catalogue.schemas, declared)
        seen = {envelope_type(envelope) for envelope in envelopes}
        if expect_every_type:
            problems += [
                f"{self.name} declares {event_type} in events.yaml, but its handlers built none in this run"
                for event_type in declared
                if event_type not in seen
            ]
        return problems

    def parse_problems(self, event_type: EventType, envelope: JsonObject) -> list[str]:
        """The parse stage of the route the event's rule feeds: the envelope, then the route's model.

        ``event_type`` is the schema the event was drawn from (its ``metadata.version`` may be any
        digits the schema allows)."""
        consumer = self._consumer_of(event_type)
        model = consumer.routes().get(event_type)
        producer = producer_of(self.catalogue.services, event_type)
        if model is None:
            return [f"{consumer.function} of {self.name} has no route for {event_type} from {producer}"]
        prefix = ""
        try:
            detail = EventBridgeModel.model_validate(envelope).detail
            prefix = "detail."
            model.model_validate(detail)
        except ValidationError as error:
            return [
                f"{self.name} ({consumer.function}, {model.__name__}) rejects {event_type} sent by "
                f"{producer} at {prefix}{_location(issue['loc'])}: {issue['msg']} "
                f"(value {issue.get('input')!r})"
                for issue in error.errors()
            ]
        return []

    def _consumer_of(self, event_type: EventType) -> Consumer:
        for consumer in self.consumers:
            if event_type in consumer.rule.delivers:
                return consumer
        raise LookupError(f"no rule of {self.name} delivers {event_type}")


def generated_events(schema: JsonObject) -> Any:
    """A hypothesis strategy of whole EventBridge events valid against the producer's schema, priced
    consistently: the contracts' money rules are validators the schema cannot express."""
    from orderflow_devtools.registry.schema_strategies import documents

    return documents(schema, repair=priced_consistently)


def priced_consistently(document: Any) -> Any:
    """``document`` with every priced line's ``lineTotal`` = ``unitPrice * quantity`` and every priced
    order's ``totalAmount`` = the sum of its lines (PricedLine and PricedOrder reject anything else)."""
    if isinstance(document, list):
        return [priced_consistently(item) for item in document]
    if not isinstance(document, dict):
        return document
    repaired = {key: priced_consistently(value) for key, value in document.items()}
    if {"unitPrice", "quantity", "lineTotal"} <= repaired.keys():
        repaired["lineTotal"] = repaired["unitPrice"] * repaired["quantity"]
    lines = repaired.get("lines")
    if "totalAmount" in repaired and isinstance(lines, list):
        repaired["totalAmount"] = sum(line.get("lineTotal", 0) for line in lines if isinstance(line, dict))
    return repaired


def _location(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc)
