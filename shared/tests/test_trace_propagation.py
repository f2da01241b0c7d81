"""One order, one trace: each handled request, command or event is a segment continuing the trace
header it arrived with, and what it publishes carries its own header on."""

from __future__ import annotations

import io
import json
import logging
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from orderflow_devtools.testing import (
    FakeLambdaContext,
    PublishedEvents,
    api_event,
    eventbridge_event,
    sqs_event,
    sqs_record,
)
from orderflow_shared.contracts import StockCommitted, StockReleased
from orderflow_shared.contracts.inventory import StockMovementData
from orderflow_shared.contracts.values import OrderItem
from orderflow_shared.entry_points import api_handler, events_handler, records_handler
from orderflow_shared.observability import (
    TRACE_ID_KEY,
    Telemetry,
    TraceHeader,
    continue_trace,
    current_trace_header,
    telemetry,
    trace_header_from_tags,
    trace_tags,
)
from orderflow_shared.publisher import EventPublisher

ROOT = "1-5759e988-bd862e3fe1be46a994272793"
PARENT = "53995c3f42cd8ad8"
UPSTREAM = f"Root={ROOT};Parent={PARENT};Sampled=1"
# The segments go to a UDP socket on 127.0.0.1, in the X-Ray daemon's place.
pytestmark = pytest.mark.enable_socket

ITEMS = StockMovementData(items=[OrderItem(sku="KB-001", quantity=1)])


class Daemon:
    """A UDP socket in the X-Ray daemon's place: the segment documents the handlers send it."""

    def __init__(self) -> None:
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.bind(("127.0.0.1", 0))
        self.socket.settimeout(2)
        self.address = f"127.0.0.1:{self.socket.getsockname()[1]}"

    def segments(self, expected: int) -> list[dict[str, Any]]:
        received = []
        for _ in range(expected):
            header, document = self.socket.recv(65535).decode().split("\n", 1)
            assert json.loads(header) == {"format": "json", "version": 1}
            received.append(json.loads(document))
        self.socket.settimeout(0.2)
        with pytest.raises(TimeoutError):  # and nothing more
            self.socket.recv(65535)
        return received


@pytest.fixture
def daemon(monkeypatch: pytest.MonkeyPatch) -> Iterator[Daemon]:
    from orderflow_shared import observability

    receiver = Daemon()
    monkeypatch.setenv("ORDERFLOW_TRACE_SEGMENTS", "true")
    monkeypatch.setenv("AWS_XRAY_DAEMON_ADDRESS", receiver.address)
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "orderflow-inventory-CommitStockFunction")
    observability._emitter.cache_clear()
    yield receiver
    observability._emitter.cache_clear()
    receiver.socket.close()


def committed(trace_header: str | None = None) -> StockCommitted:
    event = StockCommitted.create("o-1", ITEMS)
    if trace_header is None:
        return event
    return event.model_copy(
        update={"metadata": event.metadata.model_copy(update={"trace_header": trace_header})}
    )


def test_a_consumed_event_continues_its_trace_and_what_it_publishes_carries_it_on(
    daemon: Daemon, aws: None
) -> None:
    published = PublishedEvents.subscribe()
    lines = io.StringIO()
    tools = Telemetry(
        # A logger of its own: Powertools keeps one handler per service name, bound to the stream
        # of the first test that made it.
        logger=Logger(service=f"trace-{uuid.uuid4().hex}", logger_handler=logging.StreamHandler(lines)),
        metrics=telemetry().metrics,
        tracer=None,
    )

    def release(event: StockCommitted) -> None:
        tools.logger.info("handling")
        EventPublisher().publish(StockReleased.create(event.order_id, ITEMS))

    handler = events_handler(tools, {StockCommitted: release})
    response = handler(sqs_event(committed(UPSTREAM)), FakeLambdaContext())

    assert response == {"batchItemFailures": []}
    (segment,) = daemon.segments(1)
    assert segment["trace_id"] == ROOT
    assert segment["parent_id"] == PARENT
    assert segment["name"] == "orderflow-inventory-CommitStockFunction"
    assert segment["annotations"] == {"order_id": "o-1", "handled": "StockCommitted"}
    assert segment["end_time"] >= segment["start_time"]
    (released,) = published.of_type(StockReleased)
    assert released.metadata.trace_header == f"Root={ROOT};Parent={segment['id']};Sampled=1"
    (line,) = [json.loads(text) for text in lines.getvalue().splitlines() if '"handling"' in text]
    assert line[TRACE_ID_KEY] == ROOT
    assert line["order_id"] == "o-1"


def test_an_event_without_a_trace_header_starts_a_trace_of_its_own(daemon: Daemon) -> None:
    handler = events_handler(telemetry(), {StockCommitted: lambda event: None})
    handler(sqs_event(committed()), FakeLambdaContext())

    (segment,) = daemon.segments(1)
    assert TraceHeader.parse(f"Root={segment['trace_id']}") is not None
    assert "parent_id" not in segment


def test_the_sqs_trace_header_is_the_fallback(daemon: Daemon) -> None:
    record = sqs_record(json.dumps(eventbridge_event(committed())))
    record["attributes"]["AWSTraceHeader"] = UPSTREAM
    handler = events_handler(telemetry(), {StockCommitted: lambda event: None})
    handler({"Records": [record]}, FakeLambdaContext())

    (segment,) = daemon.segments(1)
    assert (segment["trace_id"], segment["parent_id"]) == (ROOT, PARENT)


def test_a_failing_handler_sends_a_faulted_segment(daemon: Daemon) -> None:
    def fail_one(event: StockCommitted) -> None:
        if event.order_id == "o-bad":
            raise RuntimeError("boom")

    bad = StockCommitted.create("o-bad", ITEMS)
    handler = events_handler(telemetry(), {StockCommitted: fail_one})
    response = handler(sqs_event(bad, committed(UPSTREAM)), FakeLambdaContext())
    assert len(response["batchItemFailures"]) == 1

    by_order = {segment["annotations"]["order_id"]: segment for segment in daemon.segments(2)}
    failed, succeeded = by_order["o-bad"], by_order["o-1"]
    assert failed["fault"] is True
    assert failed["cause"]["exceptions"][0]["message"] == "boom"
    assert "fault" not in succeeded


def test_an_unsampled_trace_sends_nothing_and_passes_on_unsampled(daemon: Daemon) -> None:
    passed_on: list[str | None] = []
    handler = events_handler(
        telemetry(), {StockCommitted: lambda event: passed_on.append(current_trace_header())}
    )
    handler(sqs_event(committed(f"Root={ROOT};Parent={PARENT};Sampled=0")), FakeLambdaContext())

    daemon.segments(0)
    (header,) = passed_on
    assert header is not None
    assert header.startswith(f"Root={ROOT};")
    assert header.endswith("Sampled=0")


def test_a_record_handler_joins_the_trace_it_finds_in_the_record(daemon: Daemon) -> None:
    tools = telemetry()

    def handle(record: Any) -> None:
        continue_trace(json.loads(record.body)["traceHeader"], tools.logger)

    handler = records_handler(tools, handle)
    handler({"Records": [sqs_record(json.dumps({"traceHeader": UPSTREAM}))]}, FakeLambdaContext())

    (segment,) = daemon.segments(1)
    assert (segment["trace_id"], segment["parent_id"]) == (ROOT, PARENT)


def test_an_api_request_continues_the_gateways_trace_and_names_the_order_it_answered(daemon: Daemon) -> None:
    app = APIGatewayRestResolver()
    headers: list[str | None] = []

    @app.post("/orders")
    def place() -> dict[str, str]:
        headers.append(current_trace_header())
        return {"orderId": "o-42"}

    handler = api_handler(telemetry(), app)
    response = handler(
        api_event("POST", "/orders", "/orders", body={}, headers={"X-Amzn-Trace-Id": UPSTREAM}),
        FakeLambdaContext(),
    )

    assert response["statusCode"] == 200
    (segment,) = daemon.segments(1)
    assert (segment["trace_id"], segment["parent_id"]) == (ROOT, PARENT)
    assert segment["annotations"] == {"handled": "POST /orders", "order_id": "o-42"}
    assert headers == [f"Root={ROOT};Parent={segment['id']};Sampled=1"]


def test_trace_tags_carry_the_header_in_values_ses_accepts(daemon: Daemon) -> None:
    handler = records_handler(telemetry(), lambda record: tags.update(trace_tags()))
    tags: dict[str, str] = {}
    handler({"Records": [sqs_record("{}")]}, FakeLambdaContext())
    (segment,) = daemon.segments(1)

    assert tags == {"xray_root": segment["trace_id"], "xray_parent": segment["id"]}
    assert all(value.replace("-", "").isalnum() for value in tags.values())
    assert trace_header_from_tags(tags) == f"Root={segment['trace_id']};Parent={segment['id']};Sampled=1"
    assert trace_header_from_tags({}) is None


@pytest.mark.parametrize(
    "header",
    ["", "Root=nope", "Parent=53995c3f42cd8ad8", "Root=1-5759e988-bd862e3fe1be46a99427279;Sampled=1"],
)
def test_a_malformed_header_is_no_trace(header: str) -> None:
    assert TraceHeader.parse(header) is None


def test_a_header_is_parsed_and_written_back() -> None:
    parsed = TraceHeader.parse(f"Root={ROOT}; Parent={PARENT}; Sampled=0; Lineage=a:1")
    assert parsed == TraceHeader(root=ROOT, parent=PARENT, sampled=False)
    assert str(parsed) == f"Root={ROOT};Parent={PARENT};Sampled=0"


def test_tracing_off_publishes_no_header_and_loads_nothing_of_x_ray() -> None:
    script = """
import json, sys
from orderflow_devtools.testing import FakeLambdaContext, sqs_event
from orderflow_shared.contracts import StockCommitted
from orderflow_shared.contracts.inventory import StockMovementData
from orderflow_shared.contracts.values import OrderItem
from orderflow_shared.entry_points import events_handler
from orderflow_shared.observability import current_trace_header, telemetry
seen = []
handler = events_handler(telemetry(), {StockCommitted: lambda event: seen.append(current_trace_header())})
event = StockCommitted.create("o-1", StockMovementData(items=[OrderItem(sku="KB-001", quantity=1)]))
handler(sqs_event(event), FakeLambdaContext())
print(json.dumps({"seen": seen, "xray": "aws_xray_sdk" in sys.modules}))
"""
    environment = {"PATH": "", "POWERTOOLS_SERVICE_NAME": "inventory", "AWS_DEFAULT_REGION": "us-east-1"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=environment
    )
    assert json.loads(result.stdout.splitlines()[-1]) == {"seen": [None], "xray": False}
