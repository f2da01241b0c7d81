"""Follow every order's life on the orderflow event bus, from its events alone.

What an external system does to subscribe to orderflow:

1. its own SQS queue, with a dead-letter queue and a policy that lets its rule deliver;
2. its own rule on the `orderflow` bus, matching what it wants (here every `orderflow.*` event);
3. a consumer that long-polls the queue, checks each event against the schema the registry
   publishes for it, and deletes only the events it accepted: the rest return after the
   visibility timeout and end in the dead-letter queue for a person to look at.

It owns nothing else and touches nothing else: `unsubscribe` removes only the rule, target and
queues that `subscribe` created.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import boto3
from jsonschema import Draft4Validator, ValidationError

logger = logging.getLogger("order_follower")

# Every orderflow fact on the bus: all sources are named orderflow.<service>.
ORDERFLOW_EVENTS = {"source": [{"prefix": "orderflow."}]}
TARGET_ID = "order-follower-queue"
OUTCOMES = {
    "OrderCompleted": "completed",
    "OrderOutOfStock": "ended out of stock",
    "OrderPaymentFailed": "ended with a failed payment",
}


# --- the subscription ------------------------------------------------------------------------


@dataclass(frozen=True)
class Subscription:
    name: str
    bus_name: str
    rule_arn: str
    queue_url: str
    queue_arn: str
    dead_letter_queue_url: str


def subscribe(
    events: Any,
    sqs: Any,
    bus_name: str,
    name: str,
    visibility_timeout: int = 30,
    max_receive_count: int = 5,
) -> Subscription:
    """Creates (or finds again, when it exists) this subscriber's queue, DLQ and rule on the bus."""
    dead_letter_url = sqs.create_queue(
        QueueName=f"{name}-dlq", Attributes={"MessageRetentionPeriod": str(14 * 24 * 3600)}
    )["QueueUrl"]
    redrive = {"deadLetterTargetArn": _queue_arn(sqs, dead_letter_url), "maxReceiveCount": max_receive_count}
    queue_url = sqs.create_queue(
        QueueName=name,
        Attributes={"VisibilityTimeout": str(visibility_timeout), "RedrivePolicy": json.dumps(redrive)},
    )["QueueUrl"]
    queue_arn = _queue_arn(sqs, queue_url)
    rule_arn = events.put_rule(
        Name=name,
        EventBusName=bus_name,
        EventPattern=json.dumps(ORDERFLOW_EVENTS),
        State="ENABLED",
        Description="Every orderflow event, for the order follower",
    )["RuleArn"]
    # Only this rule may send to the queue.
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            }
        ],
    }
    sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
    events.put_targets(Rule=name, EventBusName=bus_name, Targets=[{"Id": TARGET_ID, "Arn": queue_arn}])
    return Subscription(name, bus_name, rule_arn, queue_url, queue_arn, dead_letter_url)


def unsubscribe(events: Any, sqs: Any, subscription: Subscription) -> None:
    """Removes what `subscribe` created, and nothing else."""
    events.remove_targets(Rule=subscription.name, EventBusName=subscription.bus_name, Ids=[TARGET_ID])
    events.delete_rule(Name=subscription.name, EventBusName=subscription.bus_name)
    sqs.delete_queue(QueueUrl=subscription.queue_url)
    sqs.delete_queue(QueueUrl=subscription.dead_letter_queue_url)


def _queue_arn(sqs: Any, queue_url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    return str(attributes["QueueArn"])


# --- the contract: each event checked against the registry's schema ---------------------------


def schema_name(event: dict[str, Any]) -> str:
    """The registry's name for an event's schema: <source>@<DetailType>-v<major version>."""
    return f"{event['source']}@{event['detail-type']}-v{event['detail']['metadata']['version']}"


class ContractViolation(ValueError):
    """The event does not match its schema in the registry, or the registry has none for it."""


class SchemaValidator:
    """Fetches each event type's schema from the Schemas API once and validates events against it."""

    def __init__(self, schemas: Any, registry_name: str = "orderflow") -> None:
        self._schemas = schemas
        self._registry_name = registry_name
        self._validators: dict[str, Draft4Validator] = {}

    def check(self, event: dict[str, Any]) -> str:
        """The name of the schema the event matches; raises ContractViolation when it matches none."""
        try:
            name = schema_name(event)
        except (KeyError, TypeError) as error:
            raise ContractViolation(f"no schema name: the event has no {error}") from error
        validator = self._validator(name)
        if validator is None:
            raise ContractViolation(f"no schema {name} in registry {self._registry_name}")
        problems = [_describe(error) for error in validator.iter_errors(event)]
        if problems:
            raise ContractViolation(f"does not match {name}: {'; '.join(problems)}")
        return name

    def _validator(self, name: str) -> Draft4Validator | None:
        if name not in self._validators:
            try:
                described = self._schemas.describe_schema(RegistryName=self._registry_name, SchemaName=name)
            except self._schemas.exceptions.NotFoundException:
                return None  # not cached: the schema may be registered later
            schema = json.loads(described["Content"])
            Draft4Validator.check_schema(schema)
            self._validators[name] = Draft4Validator(schema)
        return self._validators[name]


def _describe(error: ValidationError) -> str:
    # Only the field's path and the rule it breaks: events carry personal data (email addresses)
    # that must never reach a log through a quoted value.
    where = ".".join(str(part) for part in error.absolute_path) or "(event)"
    detail = f": {error.message}" if error.validator == "required" else ""
    return f"{where} breaks '{error.validator}'{detail}"


# --- following orders ------------------------------------------------------------------------


@dataclass(frozen=True)
class OrderEvent:
    order_id: str
    detail_type: str
    source: str
    occurred_at: datetime
    event_id: str
    schema: str | None  # the registry schema it was validated against

    @classmethod
    def from_event(cls, event: dict[str, Any], schema: str | None) -> OrderEvent:
        metadata = event["detail"]["metadata"]
        return cls(
            order_id=metadata["orderId"],
            detail_type=event["detail-type"],
            source=event["source"],
            occurred_at=datetime.fromisoformat(metadata["occurredAt"]),
            event_id=metadata["eventId"],
            schema=schema,
        )


@dataclass
class OrderFollower:
    """Keeps each order's life in the order its events happened, printing them as they arrive."""

    sqs: Any
    subscription: Subscription
    validator: SchemaValidator | None = None  # None: accept events without checking them
    out: Callable[[str], None] = print
    timelines: dict[str, list[OrderEvent]] = field(default_factory=dict, init=False)
    _seen: set[str] = field(default_factory=set, init=False)

    def poll(self, wait_seconds: int = 20) -> list[OrderEvent]:
        """One long poll of the queue; returns the events it accepted for the first time."""
        messages = self.sqs.receive_message(
            QueueUrl=self.subscription.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds
        ).get("Messages", [])
        accepted = []
        for message in messages:
            try:
                event = self.accept(json.loads(message["Body"]))
            except ValueError as error:
                # Left in the queue: it comes back after the visibility timeout, then goes to the DLQ.
                logger.warning("rejected message %s: %s", message["MessageId"], error)
                continue
            self.sqs.delete_message(
                QueueUrl=self.subscription.queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
            if event is not None:
                accepted.append(event)
        return accepted

    def accept(self, event: dict[str, Any]) -> OrderEvent | None:
        """Records a valid event (None for a duplicate delivery); raises ValueError for an invalid one."""
        schema = self.validator.check(event) if self.validator is not None else None
        try:
            order_event = OrderEvent.from_event(event, schema)
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"not an orderflow event: missing or malformed {error}") from error
        if order_event.event_id in self._seen:
            return None  # delivery is at least once
        self._seen.add(order_event.event_id)
        timeline = self.timelines.setdefault(order_event.order_id, [])
        timeline.append(order_event)
        timeline.sort(key=lambda e: e.occurred_at)
        self.out(
            f"{order_event.occurred_at.isoformat(timespec='milliseconds')}  order {order_event.order_id}  "
            f"{order_event.detail_type:<18} from {order_event.source}"
        )
        if order_event.detail_type in OUTCOMES:
            self.out(f"order {order_event.order_id} {OUTCOMES[order_event.detail_type]}")
        return order_event

    def life_of(self, order_id: str) -> list[str]:
        """The detail-types of an order's events, in the order they happened."""
        return [event.detail_type for event in self.timelines.get(order_id, [])]


# --- command line ----------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ
    parser = argparse.ArgumentParser(description="Print every orderflow order's life as its events arrive.")
    parser.add_argument(
        "--aws-endpoint",
        default=env.get("AWS_ENDPOINT_URL", "http://127.0.0.1:4566"),
        help="EventBridge and SQS endpoint; empty for AWS itself (env AWS_ENDPOINT_URL)",
    )
    parser.add_argument(
        "--schemas-endpoint",
        default=env.get("ORDERFLOW_SCHEMAS_ENDPOINT", "http://127.0.0.1:8000"),
        help="Schemas API endpoint; empty for AWS itself (env ORDERFLOW_SCHEMAS_ENDPOINT)",
    )
    parser.add_argument("--bus", default=env.get("ORDERFLOW_EVENT_BUS", "orderflow"), help="event bus name")
    parser.add_argument("--registry", default="orderflow", help="schema registry name")
    parser.add_argument("--name", default="order-follower", help="name of this subscriber's rule and queues")
    parser.add_argument("--region", default=env.get("AWS_DEFAULT_REGION", "us-east-1"))
    parser.add_argument("--no-validate", action="store_true", help="accept events without their schema")
    parser.add_argument(
        "--keep-subscription", action="store_true", help="leave the rule and queues in place on exit"
    )
    return parser.parse_args(argv)


def _session(region: str) -> boto3.Session:
    session = boto3.Session(region_name=region)
    if session.get_credentials() is None:
        # The local stack accepts any credentials; against AWS, boto3 finds the real ones as usual.
        session = boto3.Session(
            region_name=region,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106
        )
    return session


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # runs the clean-up below, as Ctrl-C does
    session = _session(args.region)
    events = session.client("events", endpoint_url=args.aws_endpoint or None)
    sqs = session.client("sqs", endpoint_url=args.aws_endpoint or None)
    schemas = session.client("schemas", endpoint_url=args.schemas_endpoint or None)
    subscription = subscribe(events, sqs, args.bus, args.name)
    validator = None if args.no_validate else SchemaValidator(schemas, args.registry)
    follower = OrderFollower(sqs, subscription, validator)
    print(f"following every orderflow event on bus {args.bus} through {subscription.queue_url}; Ctrl-C stops")
    try:
        while True:
            follower.poll()
    except KeyboardInterrupt:
        pass
    finally:
        if not args.keep_subscription:
            unsubscribe(events, sqs, subscription)
            print(f"removed rule {subscription.name} and its queues")
    return 0


if __name__ == "__main__":
    sys.exit(main())
