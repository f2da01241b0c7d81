"""Every function's handler is made by orderflow_shared.entry_points, with the same telemetry around it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import pytest

from orderflow_devtools.testing import FakeLambdaContext, scheduled_event, sqs_event, sqs_record
from orderflow_shared.consumer import EventRouter
from orderflow_shared.contracts import StockCommitted
from orderflow_shared.contracts.inventory import StockMovementData
from orderflow_shared.contracts.values import OrderItem
from orderflow_shared.entry_points import events_handler, lambda_handler, records_handler
from orderflow_shared.observability import Telemetry, telemetry

COMMITTED = StockCommitted.create("o-1", StockMovementData(items=[OrderItem(sku="KB-001", quantity=1)]))

_TELEMETRY_AND_WHAT_IT_LOADED = """
import json, sys
from orderflow_shared.observability import telemetry
tracer = telemetry().tracer
print(json.dumps({"tracer": type(tracer).__name__, "xray": "aws_xray_sdk" in sys.modules}))
"""


@pytest.fixture
def tools() -> Telemetry:
    return telemetry()


def test_a_contract_is_parsed_and_routed_and_the_router_is_known(tools: Telemetry) -> None:
    received: list[StockCommitted] = []
    handler = events_handler(tools, {StockCommitted: received.append})

    response = handler(sqs_event(COMMITTED), FakeLambdaContext())

    assert response == {"batchItemFailures": []}
    assert received == [COMMITTED]
    assert isinstance(handler.router, EventRouter)


def test_a_record_that_fails_is_reported_alone(tools: Telemetry) -> None:
    def refuse_second(record: Any) -> None:
        if record.body == "second":
            raise ValueError("refused")

    event = {"Records": [sqs_record("first"), sqs_record("second")]}
    response = records_handler(tools, refuse_second)(event, FakeLambdaContext())

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}


def test_each_invocation_is_announced_before_its_records_are_handled(tools: Telemetry) -> None:
    seen: list[str] = []
    handler = events_handler(
        tools,
        {StockCommitted: lambda event: seen.append(f"routed {event.order_id}")},
        on_invocation=lambda context: seen.append(f"invoked {context.function_name}"),
    )

    handler(sqs_event(COMMITTED), FakeLambdaContext())

    assert seen == ["invoked test-function", "routed o-1"]


def test_log_lines_carry_the_invocation_and_none_of_the_previous_ones_keys(tools: Telemetry) -> None:
    keys: list[dict[str, Any]] = []

    def tick(event: dict[str, Any], context: Any) -> dict[str, Any]:
        keys.append(dict(tools.logger.get_current_keys()))
        tools.logger.append_keys(order_id=event["order_id"])
        return {"answered": True}

    handler = lambda_handler(tools, tick)

    assert handler({"order_id": "o-1"}, FakeLambdaContext()) == {"answered": True}
    handler({"order_id": "o-2"}, FakeLambdaContext())

    assert [entry["function_name"] for entry in keys] == ["test-function", "test-function"]
    assert "order_id" not in keys[1]


def test_a_schedules_tick_reaches_the_record_handler(tools: Telemetry) -> None:
    bodies: list[str] = []
    records_handler(tools, lambda record: bodies.append(record.body))(
        {"Records": [sqs_record(scheduled_event("sweep"))]}, FakeLambdaContext()
    )

    assert json.loads(bodies[0])["detail-type"] == "Scheduled Event"


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        (
            {"POWERTOOLS_TRACE_DISABLED": "true", "LAMBDA_TASK_ROOT": "/var/task"},
            {"tracer": "NoneType", "xray": False},
        ),
        ({"POWERTOOLS_TRACE_DISABLED": "false"}, {"tracer": "NoneType", "xray": False}),  # outside Lambda
        (
            {"POWERTOOLS_TRACE_DISABLED": "false", "LAMBDA_TASK_ROOT": "/var/task"},
            {"tracer": "Tracer", "xray": True},
        ),
    ],
)
def test_the_x_ray_sdk_is_loaded_only_while_tracing_is_on(environment: dict[str, str], expected: Any) -> None:
    # In a process of its own: the SDK opens its emitter's socket when imported.
    inherited = {name: value for name, value in os.environ.items() if name != "LAMBDA_TASK_ROOT"}
    loaded = subprocess.run(
        [sys.executable, "-c", _TELEMETRY_AND_WHAT_IT_LOADED],
        env={**inherited, "AWS_DEFAULT_REGION": "us-east-1", **environment},
        capture_output=True,
        text=True,
        check=True,
    )

    assert json.loads(loaded.stdout.splitlines()[-1]) == expected
