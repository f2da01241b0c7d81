"""The envelope every orderflow event shares.

An event's EventBridge ``detail`` is ``{"metadata": {...}, "data": {...}}``; commands sent by the
order workflow also carry ``taskToken``. The pydantic models here are the single source of every
contract: publishers build events from them and consumers parse events with them.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class Contract(BaseModel):
    """Base of every wire model: camelCase on the wire, snake_case in Python.

    Unknown fields are ignored so that a producer adding a field never breaks a consumer
    (a tolerant reader); removing or retyping one is a breaking change.

    A model's validator is built when the model is first used, not when it is defined: every
    function imports the whole catalogue, and each uses a few of its models.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
        defer_build=True,
    )

    def to_wire(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json", exclude_none=True)


# The namespace of stable event ids (uuid5); a constant, so every publisher derives the same ids.
_EVENT_IDS = uuid.UUID("5a0f3c8e-6a61-4f0e-9b1e-0d7c2f4e8a11")


class EventMetadata(Contract):
    event_id: str = Field(min_length=1)
    order_id: str = Field(min_length=1, description="Correlation id: every event belongs to one order")
    occurred_at: datetime
    version: str = Field(pattern=r"^\d+$", description="Major version of the event's schema")
    trace_header: str | None = Field(
        default=None,
        max_length=256,
        examples=["Root=1-6b108624-c1197eedb1fa8d63ca8126df;Parent=53995c3f42cd8ad8;Sampled=1"],
        description=(
            "X-Ray trace header (Root=...;Parent=...;Sampled=...) of the work that published the event: "
            "its consumer continues the order's trace from it. Optional: absent while tracing is off"
        ),
    )


class Event(Contract):
    """A fact or command on the bus. Subclasses name their source, detail-type and data model."""

    SOURCE: ClassVar[str]
    DETAIL_TYPE: ClassVar[str]
    VERSION: ClassVar[str] = "1"

    metadata: EventMetadata
    data: Contract

    @classmethod
    def create(
        cls,
        order_id: str,
        data: Contract,
        *,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
        **extra: Any,
    ) -> Self:
        """A new event, by default with a random id and the current time.

        A fact that may be announced more than once (by a retry, or by a second publisher that
        cannot know whether the first one got through) passes an ``event_id`` derived from what it
        announces (``stable_event_id``) and the time the fact happened, so that every copy is the
        same event and consumers drop the duplicates by id.
        """
        metadata = EventMetadata(
            event_id=event_id or str(uuid.uuid4()),
            order_id=order_id,
            occurred_at=occurred_at or datetime.now(UTC),
            version=cls.VERSION,
        )
        return cls(metadata=metadata, data=data, **extra)

    @classmethod
    def stable_event_id(cls, *identity: str) -> str:
        """The same UUID for the same ``identity`` (e.g. the order id) of this event type, every time."""
        return str(uuid.uuid5(_EVENT_IDS, "/".join((cls.SOURCE, cls.DETAIL_TYPE, cls.VERSION, *identity))))

    @property
    def order_id(self) -> str:
        return self.metadata.order_id


class Command(Event):
    """A request from the order workflow to a service, answered through its task token.

    The token is a bearer credential for the workflow step: it is never logged (``repr=False``)
    and never returned from an API.
    """

    task_token: str = Field(min_length=1, max_length=2048, repr=False)
