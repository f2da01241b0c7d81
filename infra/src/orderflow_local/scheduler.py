"""Fires the stacks' scheduled EventBridge rules, which moto stores but never runs.

On AWS a rule with a ``ScheduleExpression`` (only the default bus has them) sends its targets a
"Scheduled Event" once per period::

    {"version": "0", "id": "...", "detail-type": "Scheduled Event", "source": "aws.events",
     "account": "123456789012", "time": "2026-05-01T12:00:00Z", "region": "us-east-1",
     "resources": ["arn:aws:events:us-east-1:123456789012:rule/<name>"], "detail": {}}

moto accepts such rules and never fires them. ``Scheduler`` finds every enabled one once the
stacks are deployed and, from one daemon thread, sends that event to each of its targets every
period multiplied by the runtime's time scale, the first one period after the start.

Only ``rate(N minute|minutes|hour|hours|day|days)`` is supported (singular for 1, plural
otherwise, as AWS requires); a cron expression, or any other, is an error at start naming the
rule. Targets must be SQS queues, the only kind the project's templates use, without an input
override (Input, InputPath or InputTransformer).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import re
import threading
import time
import uuid
from typing import Any, Final

logger = logging.getLogger(__name__)

DEFAULT_BUS: Final = "default"

_UNIT_SECONDS: Final = {"minute": 60, "hour": 3600, "day": 86400}
_RATE: Final = re.compile(r"rate\(\s*(?P<value>\d+)\s+(?P<unit>minutes?|hours?|days?)\s*\)")
_INPUT_OVERRIDES: Final = ("Input", "InputPath", "InputTransformer")


class ScheduleError(ValueError):
    """A scheduled rule the local runtime cannot fire as AWS would."""


@dataclasses.dataclass(frozen=True)
class Rate:
    """A ``rate(...)`` schedule expression."""

    value: int
    unit: str  # minute, hour or day

    @property
    def seconds(self) -> int:
        return self.value * _UNIT_SECONDS[self.unit]

    @property
    def expression(self) -> str:
        return f"rate({self.value} {self.unit}{'' if self.value == 1 else 's'})"


def parse_schedule(expression: str) -> Rate:
    """Parse a ``rate(N unit)`` expression; anything else (cron included) raises ScheduleError."""
    match = _RATE.fullmatch(expression.strip())
    if match is None:
        raise ScheduleError(
            f"unsupported schedule expression {expression!r}: only rate(N minute|minutes|hour|hours|day|days)"
        )
    value, unit = int(match["value"]), match["unit"]
    if value < 1:
        raise ScheduleError(f"invalid schedule expression {expression!r}: the rate must be positive")
    # AWS: "If the value is equal to 1, then the unit must be singular", plural otherwise.
    if (value == 1) == unit.endswith("s"):
        raise ScheduleError(
            f"invalid schedule expression {expression!r}: the unit must be singular for 1, plural otherwise"
        )
    return Rate(value=value, unit=unit.rstrip("s"))


@dataclasses.dataclass(frozen=True)
class QueueTarget:
    target_id: str
    queue_url: str
    message_group_id: str | None = None


@dataclasses.dataclass(frozen=True)
class ScheduledRule:
    name: str
    arn: str
    rate: Rate
    targets: tuple[QueueTarget, ...]

    @property
    def account(self) -> str:
        return self.arn.split(":")[4]

    @property
    def region(self) -> str:
        return self.arn.split(":")[3]


def scheduled_event(rule: ScheduledRule, fired_at: datetime.datetime) -> dict[str, Any]:
    """The event AWS sends a scheduled rule's targets."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": rule.account,
        "time": fired_at.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": rule.region,
        "resources": [rule.arn],
        "detail": {},
    }


def find_scheduled_rules(events: Any, sqs: Any) -> list[ScheduledRule]:
    """Every enabled rule with a ScheduleExpression on the default bus, with its queue targets.

    Raises ScheduleError, naming the rule, for an expression or a target it cannot serve.
    """
    rules = []
    for rule in _rules(events):
        if rule.get("State") != "ENABLED" or not rule.get("ScheduleExpression"):
            continue
        name = rule["Name"]
        try:
            rate = parse_schedule(rule["ScheduleExpression"])
            targets = tuple(_queue_target(sqs, target) for target in _targets(events, name))
        except ScheduleError as error:
            raise ScheduleError(f"scheduled rule {name}: {error}") from error
        rules.append(ScheduledRule(name=name, arn=rule["Arn"], rate=rate, targets=targets))
    return rules


def _rules(events: Any) -> list[dict[str, Any]]:
    rules: list[dict[str, Any]] = []
    for page in events.get_paginator("list_rules").paginate(EventBusName=DEFAULT_BUS):
        rules.extend(page["Rules"])
    return rules


def _targets(events: Any, rule_name: str) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []
    for page in events.get_paginator("list_targets_by_rule").paginate(
        Rule=rule_name, EventBusName=DEFAULT_BUS
    ):
        targets.extend(page["Targets"])
    return targets


def _queue_target(sqs: Any, target: dict[str, Any]) -> QueueTarget:
    arn = target["Arn"]
    parts = arn.split(":")
    if len(parts) != 6 or parts[2] != "sqs":
        raise ScheduleError(f"target {target['Id']} is {arn}: only SQS queue targets are supported")
    overrides = [key for key in _INPUT_OVERRIDES if key in target]
    if overrides:
        raise ScheduleError(
            f"target {target['Id']} sets {', '.join(overrides)}, which the local runtime ignores"
        )
    queue_url = sqs.get_queue_url(QueueName=parts[5], QueueOwnerAWSAccountId=parts[4])["QueueUrl"]
    group_id = target.get("SqsParameters", {}).get("MessageGroupId")
    return QueueTarget(target_id=target["Id"], queue_url=queue_url, message_group_id=group_id)


class Scheduler:
    """Fires the scheduled rules found at ``start`` from one daemon thread until ``stop``."""

    def __init__(self, events: Any, sqs: Any, time_scale: float = 1.0) -> None:
        if not time_scale > 0:
            raise ValueError(f"time_scale must be a positive number, got {time_scale!r}")
        self._events = events
        self._sqs = sqs
        self._time_scale = time_scale
        self.rules: list[ScheduledRule] = []
        self._stopping = threading.Event()
        self._reloaded = threading.Event()
        self._thread: threading.Thread | None = None

    def period(self, rule: ScheduledRule) -> float:
        """Seconds between two firings of the rule, scaled like every other timer of the runtime."""
        return rule.rate.seconds * self._time_scale

    def start(self) -> None:
        # Rules are read here, and again by `reload` when a redeploy changes a stack.
        self.rules = find_scheduled_rules(self._events, self._sqs)
        for rule in self.rules:
            logger.info(
                "schedule %s (%s): %d target(s) every %.3g s",
                rule.name,
                rule.rate.expression,
                len(rule.targets),
                self.period(rule),
            )
        self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
        self._thread.start()

    def reload(self) -> None:
        """Read the scheduled rules again (a redeploy changed, added or removed some). A rule that was
        already scheduled keeps its period's phase; a new one first fires one period from now."""
        self.rules = find_scheduled_rules(self._events, self._sqs)
        self._reloaded.set()
        if self.rules and (self._thread is None or not self._thread.is_alive()):
            self._thread = threading.Thread(target=self._run, name="scheduler", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._reloaded.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        started = time.monotonic()
        # Each rule's next firing; advanced by whole periods so that firings do not drift.
        due = {rule.name: started + self.period(rule) for rule in self.rules}
        while self.rules and not self._stopping.is_set():
            now = time.monotonic()
            rules = self.rules
            for rule in rules:
                due.setdefault(rule.name, now + self.period(rule))  # added by a reload
                if due[rule.name] <= now:
                    self._fire(rule)
                    while due[rule.name] <= now:
                        due[rule.name] += self.period(rule)
            self._reloaded.wait(max(0.0, min(due[rule.name] for rule in rules) - time.monotonic()))
            self._reloaded.clear()

    def _fire(self, rule: ScheduledRule) -> None:
        event = scheduled_event(rule, datetime.datetime.now(tz=datetime.UTC))
        body = json.dumps(event)
        for target in rule.targets:
            request: dict[str, Any] = {"QueueUrl": target.queue_url, "MessageBody": body}
            if target.message_group_id is not None:
                request["MessageGroupId"] = target.message_group_id
                request["MessageDeduplicationId"] = event["id"]
            try:
                self._sqs.send_message(**request)
            except Exception:
                # AWS retries a failed delivery; here the next period's firing is the retry.
                logger.exception("schedule %s: delivery to target %s failed", rule.name, target.target_id)
