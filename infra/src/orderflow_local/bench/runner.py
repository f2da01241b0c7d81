"""One benchmark run: orderflow at each concurrency, then the floor at the same ones, on this machine.

Every level is measured the same way: wall time of the level, the samples' latencies, the CPU time
each process spent (from /proc), and the AWS calls the local AWS served (its ``CallCounter``).
"""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import os
import platform
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orderflow_local.aws_server import CallCounts, call_counts
from orderflow_local.bench.floor import ExecutionSample, Floor
from orderflow_local.bench.load import (
    STAGES,
    OrderSample,
    OrderWatcher,
    drive_orders,
    read_orders,
    settled_histories,
    signed_in_clients,
    stock_catalogue,
)
from orderflow_local.bench.measure import Percentiles, cpu_per_item, cpu_snapshot, median_or_nan
from orderflow_local.launcher import REPO_ROOT, LocalStack, http, start_local_stack
from orderflow_local.operator import execution_arn, order_saga_arn
from orderflow_local.tokens import Identity

WARM_UP_ORDERS = 3
REPO_ROOT_DOCS = REPO_ROOT / "docs"
HISTORY_PAGE = 1000


@dataclass
class Level:
    """The figures of one concurrency level of one system (orderflow or the floor)."""

    concurrency: int
    items: int
    completed: int
    wall_seconds: float
    client_latency: Percentiles
    history_latency: Percentiles
    stage_medians: dict[str, float]
    cpu_seconds_per_item: dict[str, float]
    calls_per_item: dict[str, float]
    statuses: dict[str, int]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def throughput(self) -> float:
        return self.completed / self.wall_seconds if self.wall_seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "concurrency": self.concurrency,
            "items": self.items,
            "completed": self.completed,
            "statuses": self.statuses,
            "wallSeconds": round(self.wall_seconds, 3),
            "throughputPerSecond": round(self.throughput, 4),
            "clientLatencySeconds": self.client_latency.to_json(),
            "historyLatencySeconds": self.history_latency.to_json(),
            "stageMedianSeconds": {stage: round(value, 4) for stage, value in self.stage_medians.items()},
            "cpuSecondsPerItem": {name: round(value, 4) for name, value in self.cpu_seconds_per_item.items()},
            "awsCallsPerItem": {name: round(value, 3) for name, value in sorted(self.calls_per_item.items())},
            **self.extra,
        }


@dataclass(frozen=True)
class Measured:
    samples: list[Any]
    wall_seconds: float
    cpu_per_item: dict[str, float]
    calls: CallCounts
    completed: int


def measure(
    run: Callable[[], list[Any]],
    processes: dict[str, int],
    read_calls: Callable[[], CallCounts],
    is_completed: Callable[[Any], bool],
) -> Measured:
    processes = {**processes, "bench-clients": os.getpid()}
    cpu_before, calls_before = cpu_snapshot(processes), read_calls()
    started = time.monotonic()
    samples = run()
    wall = time.monotonic() - started
    cpu_after, calls_after = cpu_snapshot(processes), read_calls()
    completed = sum(1 for sample in samples if is_completed(sample))
    return Measured(
        samples, wall, cpu_per_item(cpu_before, cpu_after, completed), calls_after - calls_before, completed
    )


def _order_completed(sample: OrderSample) -> bool:
    return sample.status == "COMPLETED"


def _execution_succeeded(sample: ExecutionSample) -> bool:
    return sample.status == "SUCCEEDED"


def per_item(counts: CallCounts, items: int) -> dict[str, float]:
    return {name: count / max(items, 1) for name, count in counts.calls.items()}


# --- orderflow -----------------------------------------------------------------------------------


def runtime_stats(stack: LocalStack) -> dict[str, Any]:
    stats: dict[str, Any] = http("GET", f"{stack.api_url}/_orderflow/runtime").json()
    return stats


def _grouped_processes(stats: dict[str, Any]) -> dict[str, int]:
    return {name: pid for name, pid in stats["processes"].items() if pid}


def run_orderflow(orders: int, levels: Sequence[int], seed: int) -> tuple[list[Level], dict[str, Any]]:
    """orderflow at each level, then the cost phase's counts for the cost model."""
    workdir = Path(tempfile.mkdtemp(prefix="orderflow-bench-"))
    stack = start_local_stack(workdir / "stack.log", time_scale=1.0, faults=False)
    try:
        skus = stock_catalogue(stack, "BENCH")
        clients = signed_in_clients(stack, max([*levels, COST_CONCURRENCY]))
        drive_orders(stack, skus, WARM_UP_ORDERS, clients[:1], seed)
        results: list[Level] = []
        for concurrency in levels:
            stats_before = runtime_stats(stack)
            measured = measure(
                functools.partial(
                    drive_orders, stack, skus, orders, clients[:concurrency], seed + concurrency
                ),
                _grouped_processes(stats_before),
                functools.partial(call_counts, stack.aws_url),
                _order_completed,
            )
            stats_after = runtime_stats(stack)
            settled = settled_histories(OrderWatcher.of(stack), measured.samples)
            measured = dataclasses.replace(measured, samples=settled)
            results.append(_order_level(concurrency, measured, stats_before, stats_after))
        usage = run_cost_phase(stack, skus, COST_ORDERS, clients[:COST_CONCURRENCY], seed)
        return results, usage
    finally:
        stack.stop()


def _order_level(
    concurrency: int, measured: Measured, before: dict[str, Any], after: dict[str, Any]
) -> Level:
    samples: list[OrderSample] = measured.samples
    completed = [s for s in samples if s.status == "COMPLETED"]
    stages = {
        stage: median_or_nan([s.stage_seconds()[stage] for s in completed if stage in s.stage_seconds()])
        for stage in STAGES
    }
    cpu = _cpu_by_role(measured.cpu_per_item)
    return Level(
        concurrency=concurrency,
        items=len(samples),
        completed=measured.completed,
        wall_seconds=measured.wall_seconds,
        client_latency=Percentiles.of([s.client_latency for s in completed]),
        history_latency=Percentiles.of([h for s in completed if (h := s.history_latency) is not None]),
        stage_medians=stages,
        cpu_seconds_per_item=cpu,
        calls_per_item=per_item(measured.calls, measured.completed),
        statuses=dict(Counter(s.status for s in samples)),
        extra={
            "apiRequestsPerItem": _delta_per_item(
                before["apiRequests"], after["apiRequests"], measured.completed
            ),
            "invocationsPerItem": {
                name: round(
                    (after["invocations"][name]["count"] - first["count"]) / max(measured.completed, 1), 3
                )
                for name, first in before["invocations"].items()
                if after["invocations"][name]["count"] > first["count"]
            },
        },
    )


def _cpu_by_role(per_process: dict[str, float]) -> dict[str, float]:
    """Each process's CPU-s per order, with the functions' processes summed as well."""
    functions = sum(value for name, value in per_process.items() if name.startswith("function:"))
    roles = {name: value for name, value in per_process.items() if not name.startswith("function:")}
    busiest = sorted(
        ((name, value) for name, value in per_process.items() if name.startswith("function:")),
        key=lambda item: -item[1],
    )
    return {**roles, "functions (all)": functions, **dict(busiest[:5])}


def _delta_per_item(before: dict[str, int], after: dict[str, int], items: int) -> dict[str, float]:
    return {
        name: round((count - before.get(name, 0)) / max(items, 1), 3)
        for name, count in after.items()
        if count > before.get(name, 0)
    }


def _usage(
    stack: LocalStack, measured: Measured, before: dict[str, Any], after: dict[str, Any]
) -> dict[str, Any]:
    """A level's raw counts for the cost model: calls, units, invocations, and states per outcome."""
    sfn = stack.client("stepfunctions")
    machine = order_saga_arn(sfn)
    states: dict[str, list[int]] = {}
    for sample in measured.samples:
        events = sfn.get_execution_history(
            executionArn=execution_arn(machine, sample.order_id), maxResults=HISTORY_PAGE
        )["events"]
        entered = sum(1 for event in events if event["type"].endswith("StateEntered"))
        states.setdefault(sample.status, []).append(entered)
    return {
        "orders": len(measured.samples),
        "completed": measured.completed,
        "statesEnteredByOutcome": states,
        **_operations(measured, before, after),
    }


def _operations(measured: Measured, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """AWS calls, Lambda invocations and API requests between two runtime snapshots."""
    invocations = {
        name: {
            "count": after["invocations"][name]["count"] - first["count"],
            "durationMs": after["invocations"][name]["durationMs"] - first["durationMs"],
            "memoryMb": first["memoryMb"],
        }
        for name, first in before["invocations"].items()
    }
    api = {name: count - before["apiRequests"].get(name, 0) for name, count in after["apiRequests"].items()}
    return {"calls": measured.calls.to_json(), "invocations": invocations, "apiRequests": api}


# --- the cost phase --------------------------------------------------------------------------------

COST_ORDERS = 60
# One customer at a time: the local AWS (one process) then answers each call when it comes, as AWS
# does whatever the load, so a handler's measured duration is its own work and its calls, not time
# queued behind other orders' calls (at 5 clients that queueing made Lambda's bill four times larger).
# The queues still batch (their windows span several orders at this rate).
COST_CONCURRENCY = 1


def run_cost_phase(
    stack: LocalStack, skus: Sequence[str], orders: int, clients: Sequence[Identity], seed: int
) -> dict[str, Any]:
    """Orders as customers who place one and are told by email when it is done, for the cost model;
    then one status read of each completed order, counted apart (``statusReads``).

    The load levels' clients poll GET /orders/{id}; here the benchmark watches each order in the
    Orders table instead, with the observer's credentials (calls the local AWS does not count), so
    that the API requests, Lambda invocations and DynamoDB reads counted are those of the design,
    not of a polling client. How often a customer reads an order is the customer's choice, not the
    design's, so a read is priced per read, beside the price of an order.
    """
    read_calls = functools.partial(call_counts, stack.aws_url)
    stats_before = runtime_stats(stack)
    measured = measure(
        functools.partial(drive_orders, stack, skus, orders, clients, seed, watch_orders=True),
        {},
        read_calls,
        _order_completed,
    )
    usage = _usage(stack, measured, stats_before, runtime_stats(stack))
    completed = [sample.order_id for sample in measured.samples if _order_completed(sample)]
    stats_before = runtime_stats(stack)
    reads = measure(functools.partial(read_orders, stack, clients[0], completed), {}, read_calls, bool)
    usage["statusReads"] = {"reads": len(completed), **_operations(reads, stats_before, runtime_stats(stack))}
    return usage


# --- the floor ------------------------------------------------------------------------------------


def run_floor(executions: int, levels: Sequence[int]) -> list[Level]:
    floor = Floor()
    floor.start()
    try:
        floor.drive(WARM_UP_ORDERS, 1)
        results = []
        for concurrency in levels:
            measured = measure(
                functools.partial(floor.drive, executions, concurrency),
                floor.processes,
                floor.call_counts,
                _execution_succeeded,
            )
            succeeded = [s for s in measured.samples if s.status == "SUCCEEDED"]
            results.append(
                Level(
                    concurrency=concurrency,
                    items=len(measured.samples),
                    completed=measured.completed,
                    wall_seconds=measured.wall_seconds,
                    client_latency=Percentiles.of([s.client_latency for s in succeeded]),
                    history_latency=Percentiles.of([s.history_seconds for s in succeeded]),
                    stage_medians={},
                    cpu_seconds_per_item=measured.cpu_per_item,
                    calls_per_item=per_item(measured.calls, measured.completed),
                    statuses=dict(Counter(s.status for s in measured.samples)),
                )
            )
        return results
    finally:
        floor.stop()


def machine() -> dict[str, Any]:
    return {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def write_json(path: Path, document: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2, sort_keys=False) + "\n")
