"""Publishing events to the orderflow bus, loudly.

PutEvents can accept a request and still reject individual entries (``FailedEntryCount``); a
publisher that ignores that loses events silently. This one raises, so the message that caused
the publish is retried and, if it keeps failing, lands in its queue's DLQ.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

from orderflow_shared.aws import client
from orderflow_shared.contracts.base import Event

MAX_ENTRIES_PER_CALL = 10  # the PutEvents limit


class PublishFailedError(RuntimeError):
    """At least one event was not accepted by EventBridge."""


class EventPublisher:
    def __init__(self, bus_name: str | None = None, events_client: Any = None) -> None:
        self._bus_name = bus_name or os.environ["EVENT_BUS_NAME"]
        self._client = events_client

    @property
    def _events(self) -> Any:
        return self._client or client("events")

    def publish(self, *events: Event) -> None:
        for start in range(0, len(events), MAX_ENTRIES_PER_CALL):
            self._put(events[start : start + MAX_ENTRIES_PER_CALL])

    def _put(self, events: Sequence[Event]) -> None:
        entries = [self._entry(event) for event in events]
        response = self._events.put_events(Entries=entries)
        if response.get("FailedEntryCount", 0):
            failures = [
                f"{event.DETAIL_TYPE}: {result.get('ErrorCode')} {result.get('ErrorMessage')}"
                for event, result in zip(events, response["Entries"], strict=True)
                if "ErrorCode" in result
            ]
            raise PublishFailedError(f"EventBridge rejected {len(failures)} event(s): {'; '.join(failures)}")

    def _entry(self, event: Event) -> dict[str, Any]:
        return {
            "EventBusName": self._bus_name,
            "Source": event.SOURCE,
            "DetailType": event.DETAIL_TYPE,
            "Detail": json.dumps(event.to_wire()),
            "Resources": [],
        }
