"""What a service put on the orderflow bus, read back as contract models."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, TypeVar

from orderflow_devtools.testing.environment import BUS_NAME
from orderflow_shared.aws import client
from orderflow_shared.contracts import ALL_EVENTS, Event

E = TypeVar("E", bound=Event)

_MODELS = {(model.SOURCE, model.DETAIL_TYPE): model for model in ALL_EVENTS}


@dataclass
class PublishedEvents:
    """Everything put on the bus, captured by a catch-all rule into a queue."""

    queue_url: str
    received: list[Event] = field(default_factory=list)

    @classmethod
    def subscribe(cls, bus_name: str = BUS_NAME) -> PublishedEvents:
        """Creates the bus (in moto, where a test starts with none) and the capturing rule and queue."""
        events, sqs = client("events"), client("sqs")
        events.create_event_bus(Name=bus_name)
        queue_url = sqs.create_queue(QueueName=f"published-{bus_name}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events.put_rule(
            Name="everything", EventBusName=bus_name, EventPattern=json.dumps({"source": [{"prefix": ""}]})
        )
        events.put_targets(
            Rule="everything", EventBusName=bus_name, Targets=[{"Id": "published", "Arn": queue_arn}]
        )
        return cls(queue_url=queue_url)

    def drain(self) -> list[Event]:
        """Every event received so far, in order; each is read from the queue once."""
        sqs = client("sqs")
        while messages := sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10).get(
            "Messages"
        ):
            for message in messages:
                self.received.append(_contract(json.loads(message["Body"])))
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])
        return self.received

    def of_type(self, model: type[E]) -> list[E]:
        return [event for event in self.drain() if isinstance(event, model)]


def _contract(envelope: dict[str, Any]) -> Event:
    key = (envelope["source"], envelope["detail-type"])
    model = _MODELS.get(key)
    if model is None:
        raise LookupError(f"no contract for source/detail-type {key}: was an event published by hand?")
    return model.model_validate(envelope["detail"])
