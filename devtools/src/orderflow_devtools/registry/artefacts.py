"""One event type with everything generated for it."""

from __future__ import annotations

from dataclasses import dataclass

from orderflow_devtools.registry.event_types import EventType
from orderflow_devtools.registry.schemas import JsonObject
from orderflow_shared.contracts import Event


@dataclass(frozen=True)
class EventContract:
    event_type: EventType
    model: type[Event]
    schema: JsonObject
    sample: JsonObject
