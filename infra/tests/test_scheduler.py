"""The scheduler fires the default bus's scheduled rules into their queues, as EventBridge does on AWS."""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from orderflow_local.scheduler import (
    Rate,
    ScheduleError,
    Scheduler,
    find_scheduled_rules,
    parse_schedule,
)

pytestmark = pytest.mark.timeout(30)

ACCOUNT = "123456789012"  # moto's default account
REGION = "us-east-1"
# rate(1 minute) fires every 0.3 s at this scale.
SCALE = 0.005


# ---------------------------------------------------------------------------------------------
# Expressions
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "rate", "seconds"),
    [
        ("rate(1 minute)", Rate(1, "minute"), 60),
        ("rate(5 minutes)", Rate(5, "minute"), 300),
        ("rate(1 hour)", Rate(1, "hour"), 3600),
        ("rate(12 hours)", Rate(12, "hour"), 43200),
        ("rate(1 day)", Rate(1, "day"), 86400),
        ("rate(7 days)", Rate(7, "day"), 604800),
        (" rate( 10 minutes ) ", Rate(10, "minute"), 600),
    ],
)
def test_rate_expressions(expression: str, rate: Rate, seconds: int) -> None:
    parsed = parse_schedule(expression)

    assert parsed == rate
    assert parsed.seconds == seconds


def test_a_rate_prints_as_aws_writes_it() -> None:
    assert [parse_schedule(e).expression for e in (" rate( 10 minutes ) ", "rate(1 day)")] == [
        "rate(10 minutes)",
        "rate(1 day)",
    ]


@pytest.mark.parametrize(
    "expression",
    [
        "cron(0/5 * * * ? *)",
        "rate(5 seconds)",
        "rate(0 minutes)",
        "rate(-1 minutes)",
        "rate(1.5 hours)",
        "rate(minutes)",
        "rate(5)",
        "every 5 minutes",
        "",
    ],
)
def test_other_expressions_are_rejected(expression: str) -> None:
    with pytest.raises(ScheduleError, match="schedule expression"):
        parse_schedule(expression)


@pytest.mark.parametrize("expression", ["rate(1 minutes)", "rate(5 minute)", "rate(1 days)", "rate(2 hour)"])
def test_the_unit_is_singular_for_one_and_plural_otherwise(expression: str) -> None:
    # As AWS's PutRule requires.
    with pytest.raises(ScheduleError, match="singular for 1"):
        parse_schedule(expression)


# ---------------------------------------------------------------------------------------------
# Rules and delivery
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def clients(fake_aws: None) -> tuple[Any, Any]:
    return boto3.client("events", region_name=REGION), boto3.client("sqs", region_name=REGION)


def queue(sqs: Any, name: str) -> tuple[str, str]:
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn: str = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return url, arn


def scheduled_rule(events: Any, name: str, expression: str, *targets: dict[str, Any], **rule: Any) -> str:
    arn: str = events.put_rule(Name=name, ScheduleExpression=expression, **rule)["RuleArn"]
    if targets:
        events.put_targets(Rule=name, Targets=list(targets))
    return arn


def received(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    for message in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return [json.loads(message["Body"]) for message in messages]


def wait_for_messages(sqs: Any, url: str, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while len(messages) < count:
        assert time.monotonic() < deadline, f"{len(messages)} of {count} scheduled events arrived"
        messages.extend(received(sqs, url))
        time.sleep(0.02)
    return messages


@pytest.fixture
def running() -> Iterator[list[Scheduler]]:
    """Stops every scheduler a test starts."""
    schedulers: list[Scheduler] = []
    yield schedulers
    for scheduler in schedulers:
        scheduler.stop()


def start(clients: tuple[Any, Any], running: list[Scheduler]) -> Scheduler:
    scheduler = Scheduler(*clients, time_scale=SCALE)
    scheduler.start()
    running.append(scheduler)
    return scheduler


def test_a_scheduled_rule_sends_the_scheduled_event_to_its_queue_every_period(
    clients: tuple[Any, Any], running: list[Scheduler]
) -> None:
    events, sqs = clients
    url, arn = queue(sqs, "start-pending-sagas")
    rule_arn = scheduled_rule(events, "start-pending", "rate(1 minute)", {"Id": "queue", "Arn": arn})

    started = time.monotonic()
    start(clients, running)
    # The first firing comes one period (0.3 s) after the start, not at once.
    assert received(sqs, url) == []
    first, second = wait_for_messages(sqs, url, 2)
    elapsed = time.monotonic() - started

    assert 0.55 <= elapsed < 3.0
    assert first["id"] != second["id"]
    for event in (first, second):
        fired_at = datetime.datetime.strptime(event.pop("time"), "%Y-%m-%dT%H:%M:%SZ")
        assert abs(fired_at.replace(tzinfo=datetime.UTC) - datetime.datetime.now(tz=datetime.UTC)) < (
            datetime.timedelta(seconds=5)
        )
        event.pop("id")
        assert event == {
            "version": "0",
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT,
            "region": REGION,
            "resources": [rule_arn],
            "detail": {},
        }


def test_each_rule_fires_at_its_own_rate_to_every_target(
    clients: tuple[Any, Any], running: list[Scheduler]
) -> None:
    events, sqs = clients
    fast_url, fast_arn = queue(sqs, "fast")
    slow_url, slow_arn = queue(sqs, "slow")
    audit_url, audit_arn = queue(sqs, "audit")
    scheduled_rule(events, "fast", "rate(1 minute)", {"Id": "fast", "Arn": fast_arn})
    scheduled_rule(
        events, "slow", "rate(5 minutes)", {"Id": "slow", "Arn": slow_arn}, {"Id": "audit", "Arn": audit_arn}
    )

    start(clients, running)
    # 1.5 s at this scale: the slow rule fires once, the fast one about five times.
    wait_for_messages(sqs, slow_url, 1)
    fast = received(sqs, fast_url)

    assert 4 <= len(fast) <= 6
    assert wait_for_messages(sqs, audit_url, 1)[0]["resources"] == [
        f"arn:aws:events:{REGION}:{ACCOUNT}:rule/slow"
    ]


def test_disabled_and_pattern_rules_do_not_fire(clients: tuple[Any, Any], running: list[Scheduler]) -> None:
    events, sqs = clients
    url, arn = queue(sqs, "never")
    scheduled_rule(events, "disabled", "rate(1 minute)", {"Id": "queue", "Arn": arn}, State="DISABLED")
    events.put_rule(Name="pattern", EventPattern=json.dumps({"source": ["orderflow.orders"]}))
    events.put_targets(Rule="pattern", Targets=[{"Id": "queue", "Arn": arn}])

    scheduler = start(clients, running)
    time.sleep(0.7)

    assert scheduler.rules == []
    assert received(sqs, url) == []


def test_stop_ends_the_firing(clients: tuple[Any, Any], running: list[Scheduler]) -> None:
    events, sqs = clients
    url, arn = queue(sqs, "stopped")
    scheduled_rule(events, "tick", "rate(1 minute)", {"Id": "queue", "Arn": arn})
    scheduler = start(clients, running)
    wait_for_messages(sqs, url, 1)

    scheduler.stop()
    time.sleep(0.7)

    assert received(sqs, url) == []


def test_a_fifo_target_gets_its_message_group(clients: tuple[Any, Any], running: list[Scheduler]) -> None:
    events, sqs = clients
    url = sqs.create_queue(QueueName="ticks.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    scheduled_rule(
        events,
        "fifo",
        "rate(1 minute)",
        {"Id": "queue", "Arn": arn, "SqsParameters": {"MessageGroupId": "ticks"}},
    )

    start(clients, running)

    assert wait_for_messages(sqs, url, 1)[0]["detail-type"] == "Scheduled Event"


@pytest.mark.parametrize(
    ("expression", "target", "message"),
    [
        ("cron(0/5 * * * ? *)", None, r"scheduled rule nightly: unsupported schedule expression 'cron"),
        (
            "rate(1 minute)",
            {"Arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:f"},
            "only SQS queue targets",
        ),
        ("rate(1 minute)", {"Input": '{"x": 1}'}, "sets Input"),
    ],
)
def test_a_rule_it_cannot_fire_is_an_error_at_start_naming_the_rule(
    clients: tuple[Any, Any], expression: str, target: dict[str, Any] | None, message: str
) -> None:
    events, sqs = clients
    _, arn = queue(sqs, "target")
    scheduled_rule(events, "nightly", expression, {"Id": "queue", "Arn": arn, **(target or {})})

    with pytest.raises(ScheduleError, match=message) as failed:
        Scheduler(events, sqs, time_scale=SCALE).start()

    assert "scheduled rule nightly" in str(failed.value)


def test_find_scheduled_rules_resolves_queue_urls(clients: tuple[Any, Any]) -> None:
    events, sqs = clients
    url, arn = queue(sqs, "resolved")
    rule_arn = scheduled_rule(events, "sweep", "rate(5 minutes)", {"Id": "sweep-queue", "Arn": arn})

    (rule,) = find_scheduled_rules(events, sqs)

    assert (rule.name, rule.arn, rule.rate) == ("sweep", rule_arn, Rate(5, "minute"))
    assert [(target.target_id, target.queue_url) for target in rule.targets] == [("sweep-queue", url)]
    assert (rule.account, rule.region) == (ACCOUNT, REGION)


def test_the_time_scale_must_be_positive(clients: tuple[Any, Any]) -> None:
    with pytest.raises(ValueError, match="time_scale"):
        Scheduler(*clients, time_scale=0)
