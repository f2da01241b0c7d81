"""How an event type is named: (source, detail-type, major version), and its registry schema name."""

from __future__ import annotations

from dataclasses import dataclass

from orderflow_shared.contracts import ALL_EVENTS, Event

REGISTRY_NAME = "orderflow"


@dataclass(frozen=True, order=True)
class EventType:
    source: str
    detail_type: str
    version: int

    @classmethod
    def of(cls, model: type[Event]) -> EventType:
        return cls(model.SOURCE, model.DETAIL_TYPE, int(model.VERSION))

    @property
    def schema_name(self) -> str:
        """The schema's name in the registry and its file name, e.g. orderflow.orders@OrderReceived-v1."""
        return f"{self.source}@{self.detail_type}-v{self.version}"

    def __str__(self) -> str:
        return f"{self.source} {self.detail_type} v{self.version}"


def contract_models(models: tuple[type[Event], ...] = ALL_EVENTS) -> dict[EventType, type[Event]]:
    """Every event type of the contracts, with the model that defines it, in the contracts' order."""
    by_type: dict[EventType, type[Event]] = {}
    for model in models:
        event_type = EventType.of(model)
        if event_type in by_type:
            first = by_type[event_type].__name__
            raise ValueError(f"{event_type} is defined twice: by {first} and by {model.__name__}")
        by_type[event_type] = model
    return by_type
