"""Publishing events to the orderflow bus, loudly.

PutEvents can accept a request and still reject individual entries (``FailedEntryCount``); a
publisher that ignores that loses events silently. This one raises, so the message that caused
the publish is retried and, if it keeps failing, lands in its queue's DLQ.

A caller with no queue behind it (the orders API) asks for ``attempts`` > 1: the rejected entries
alone are put again, after a short jittered pause, before the publisher gives up and raises.

While tracing is on, every event carries the publishing work's trace header, in its
``metadata.traceHeader`` (which its consumer continues the order's trace from) and in the entry's
``TraceHeader`` (which EventBridge passes on to the rule's targets, for X-Ray's service map).
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Sequence
from typing import Any

from orderflow_shared.aws import client
from orderflow_shared.contracts.base import Event
from orderflow_shared.observability import current_trace_header

MAX_ENTRIES_PER_CALL = 10  # the PutEvents limit
RETRY_PAUSE_SECONDS = 0.05  # before the second attempt; doubled for each one after it (full jitter)


class PublishFailedError(RuntimeError):
    """At least one event was not accepted by EventBridge."""


class EventPublisher:
    def __init__(self, bus_name: str | None = None, events_client: Any = None, attempts: int = 1) -> None:
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self._bus_name = bus_name or os.environ["EVENT_BUS_NAME"]
        self._client = events_client
        self._attempts = attempts

    @property
    def _events(self) -> Any:
        return self._client or client("events")

    def publish(self, *events: Event) -> None:
        header = current_trace_header()
        if header is not None:
            events = tuple(_with_trace_header(event, header) for event in events)
        for start in range(0, len(events), MAX_ENTRIES_PER_CALL):
            self._put(events[start : start + MAX_ENTRIES_PER_CALL])

    def _put(self, events: Sequence[Event]) -> None:
        for attempt in range(1, self._attempts + 1):
            response = self._events.put_events(Entries=[self._entry(event) for event in events])
            if not response.get("FailedEntryCount", 0):
                return
            rejected = [
                (event, result)
                for event, result in zip(events, response["Entries"], strict=True)
                if "ErrorCode" in result
            ]
            if attempt == self._attempts:
                failures = [
                    f"{event.DETAIL_TYPE}: {result.get('ErrorCode')} {result.get('ErrorMessage')}"
                    for event, result in rejected
                ]
                raise PublishFailedError(
                    f"EventBridge rejected {len(failures)} event(s): {'; '.join(failures)}"
                )
            events = [event for event, _ in rejected]
            time.sleep(random.uniform(0, RETRY_PAUSE_SECONDS * 2 ** (attempt - 1)))  # noqa: S311 (jitter, not secrecy)

    def _entry(self, event: Event) -> dict[str, Any]:
        entry = {
            "EventBusName": self._bus_name,
            "Source": event.SOURCE,
            "DetailType": event.DETAIL_TYPE,
            "Detail": json.dumps(event.to_wire()),
            "Resources": [],
        }
        if event.metadata.trace_header:
            entry["TraceHeader"] = event.metadata.trace_header
        return entry


def _with_trace_header(event: Event, header: str) -> Event:
    """The event with the publisher's trace header, unless it already carries one (an event built
    from another, e.g. a compensation repeated from the workflow's, keeps its trace)."""
    if event.metadata.trace_header:
        return event
    return event.model_copy(update={"metadata": event.metadata.model_copy(update={"trace_header": header})})
