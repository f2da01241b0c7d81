"""The benchmark's arithmetic: percentiles, stages, floor ratios, CPU time and the cost model's input."""

from __future__ import annotations

import datetime
import os
import time
from typing import Any

import pytest

from orderflow_local.bench.load import STATUSES, OrderSample, settled_histories
from orderflow_local.bench.measure import Percentiles, cpu_per_item, cpu_seconds
from orderflow_local.bench.report import cost, ratios, run_counts
from orderflow_local.bench.runner import Level

T0 = datetime.datetime(2026, 12, 2, 8, 0, tzinfo=datetime.UTC)


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def level(concurrency: int, completed: int, wall: float, p50: float) -> Level:
    return Level(
        concurrency=concurrency,
        items=completed,
        completed=completed,
        wall_seconds=wall,
        client_latency=Percentiles(p50, p50, p50),
        history_latency=Percentiles(p50, p50, p50),
        stage_medians={},
        cpu_seconds_per_item={},
        calls_per_item={},
        statuses={"COMPLETED": completed},
    )


def test_percentiles_of_a_hundred_values() -> None:
    figures = Percentiles.of([float(n) for n in range(1, 101)])

    assert figures.p50 == 50.5
    assert figures.p95 == pytest.approx(95.05)
    assert figures.p99 == pytest.approx(99.01)


def test_an_order_s_stages_and_latency_come_from_its_own_history() -> None:
    reached = {
        "RECEIVED": at(0),
        "INVENTORY_CONFIRMED": at(0.2),
        "PAYMENT_SUCCESS": at(0.5),
        "INVOICED": at(0.9),
        "COMPLETED": at(1.0),
    }
    sample = OrderSample("o-1", "COMPLETED", posted=10.0, seen_final=11.4, reached=reached)

    assert sample.stage_seconds() == pytest.approx(
        {"reserve": 0.2, "pay": 0.3, "invoice": 0.4, "confirm": 0.1}
    )
    assert sample.history_latency == pytest.approx(1.0)
    assert sample.client_latency == pytest.approx(1.4)


def test_ratios_pair_each_level_with_the_floor_s_at_the_same_concurrency() -> None:
    ours = [level(1, 10, 10.0, 0.8), level(20, 100, 25.0, 5.0)]
    floor = [level(1, 10, 4.0, 0.4), level(20, 100, 20.0, 3.0)]

    assert ratios(ours, floor) == [
        {"concurrency": 1, "throughput": 0.4, "p50": 2.0},
        {"concurrency": 20, "throughput": 0.8, "p50": 1.667},
    ]


def test_cpu_time_of_a_process_grows_while_it_works() -> None:
    before = cpu_seconds(os.getpid())
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass

    assert cpu_seconds(os.getpid()) - before >= 0.2
    assert cpu_per_item({"p": 1.0}, {"p": 3.0}, 4) == {"p": 0.5}


USAGE: dict[str, Any] = {
    "orders": 4,
    "completed": 3,
    "statesEnteredByOutcome": {"COMPLETED": [7, 7, 7], "OUT_OF_STOCK": [4]},
    "calls": {
        "calls": {
            "sqs:ReceiveMessage": 40,
            "sqs:DeleteMessageBatch": 30,
            "sqs:SendMessage": 2,
            "kms:Encrypt": 4,
            "s3:PutObject": 6,
            "ses:SendEmail": 3,
        },
        "putEventsEntries": 33,
        "emptyReceives": 10,
        "queueDeliveries": 25,
        "readUnits": 12.0,
        "writeUnits": 90.0,
        "readUnitsByTable": {"orders": 12.0},
        "writeUnitsByTable": {"orders": 60.0, "stock": 30.0},
    },
    "invocations": {
        "orderflow-orders.OrdersApiFunction": {"count": 8, "durationMs": 400.0, "memoryMb": 512},
        "orderflow-payments.ProcessPaymentFunction": {"count": 3, "durationMs": 300.0, "memoryMb": 512},
        "orderflow-orders.StartPendingSagasFunction": {"count": 0, "durationMs": 0.0, "memoryMb": 512},
    },
    "apiRequests": {"POST /orders": 4, "GET /orders/{orderId}": 4},
}


def test_the_cost_phase_counts_become_the_model_s_run_tally() -> None:
    tally = run_counts(USAGE)
    total = tally.total

    assert tally.completed_orders == 3
    assert total.states_entered == 25
    # Idle long polls are not an order's: the empty receives are dropped, not priced.
    # The messages EventBridge delivered to queues are SendMessage requests beside the code's own.
    assert total.sqs_requests == {"ReceiveMessage": 30, "DeleteMessageBatch": 30, "SendMessage": 27}
    assert total.sqs_empty_receives == 0
    assert (total.put_events_entries, total.kms_requests, total.s3_puts, total.ses_sends) == (33, 4, 6, 3)
    assert (total.dynamodb_read_units, total.dynamodb_write_units) == (12.0, 90.0)
    assert total.api_requests == total.waf_requests == 8
    assert set(total.lambdas) == {"OrdersApiFunction", "ProcessPaymentFunction"}
    assert total.lambdas["OrdersApiFunction"].invocations == 8


def test_the_cost_is_priced_per_completed_order_beside_the_source_design() -> None:
    priced = cost(USAGE)

    # 25 states over 3 completed orders at $25 per million transitions.
    transitions = next(line for line in priced["orderflow"]["lines"] if line["service"] == "Step Functions")
    assert transitions["usdPerMillionOrders"] == pytest.approx(25 / 3 * 25, rel=1e-3)
    assert priced["sourceDesign"]["design"] == "source design"
    assert priced["sourceDesign"]["usdPerMillionOrdersExcludingSesS3"] > 0
    assert "source design" in priced["table"]
    # Units by table, per completed order, for what to cut next.
    assert priced["dynamodbUnitsPerOrderByTable"] == {
        "orders": {"write": 20.0, "read": 4.0},
        "stock": {"write": 10.0, "read": 0.0},
    }
    assert "| stock | 10.00 | 0.00 |" in priced["table"]


STATUS_READS: dict[str, Any] = {
    "reads": 4,
    "calls": {
        "calls": {"dynamodb:GetItem": 4, "sqs:ReceiveMessage": 3},
        "putEventsEntries": 0,
        "emptyReceives": 3,
        "queueDeliveries": 0,
        "readUnits": 4.0,
        "writeUnits": 0.0,
        "readUnitsByTable": {"orders": 4.0},
        "writeUnitsByTable": {},
    },
    "invocations": {"orderflow-orders.OrdersApiFunction": {"count": 4, "durationMs": 80.0, "memoryMb": 512}},
    "apiRequests": {"POST /orders": 0, "GET /orders/{orderId}": 4},
}


def test_a_status_read_is_priced_per_read_beside_the_order() -> None:
    without_reads = cost(USAGE)
    priced = cost({**USAGE, "statusReads": STATUS_READS})

    # The order's figure is the same: a read is the customer's choice, priced on its own.
    assert priced["orderflow"] == without_reads["orderflow"]
    read = priced["statusRead"]
    lines: dict[str, float] = {}
    for line in read["lines"]:
        lines[line["service"]] = lines.get(line["service"], 0.0) + line["usdPerMillionOrders"]
    # Per read: one REST request ($3.50/M), its web ACL request ($0.60/M), one invocation ($0.20/M),
    # one strongly consistent read unit ($0.125/M), 20 ms at 512 MB, and no queue or event.
    assert lines["API Gateway"] == pytest.approx(3.5)
    assert lines["WAF"] == pytest.approx(0.6)
    assert lines["DynamoDB"] == pytest.approx(0.125)
    assert "SQS" not in lines
    assert "EventBridge" not in lines
    assert read["usdPerMillionOrdersExcludingSesS3"] == pytest.approx(sum(lines.values()), abs=0.01)
    assert "Each status read (GET /orders/{orderId}) adds **$" in priced["table"]
    assert "statusRead" not in without_reads


class _LateHistories:
    """Histories whose INVOICED entry lands only on the second read, as a batched projection does."""

    def __init__(self) -> None:
        self.reads = 0

    def history(self, order_id: str) -> dict[str, datetime.datetime]:
        self.reads += 1
        at = datetime.datetime(2026, 12, 2, tzinfo=datetime.UTC)
        statuses = STATUSES if self.reads > 1 else [s for s in STATUSES if s != "INVOICED"]
        return {status: at + datetime.timedelta(seconds=n) for n, status in enumerate(statuses)}


def test_histories_are_read_again_until_every_status_on_the_way_has_landed() -> None:
    at = datetime.datetime(2026, 12, 2, tzinfo=datetime.UTC)
    seen = OrderSample("o-1", "COMPLETED", 0.0, 1.0, {"RECEIVED": at, "COMPLETED": at})
    histories = _LateHistories()

    [settled] = settled_histories(histories, [seen], patience=5.0)

    assert histories.reads == 2
    assert set(settled.reached) == set(STATUSES)
    assert set(settled.stage_seconds()) == {"reserve", "pay", "invoice", "confirm"}
    assert (settled.status, settled.client_latency) == ("COMPLETED", 1.0)
