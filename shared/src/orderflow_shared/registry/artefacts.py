"""One event type with everything generated for it."""

from __future__ import annotations

from dataclasses import dataclass

from orderflow_shared.contracts import Event
from orderflow_shared.registry.event_types import EventType
from orderflow_shared.registry.schemas import JsonObject


@dataclass(frozen=True)
class EventContract:
    event_type: EventType
    model: type[Event]
    schema: JsonObject
    sample: JsonObject
