"""The benchmark's figures as text, as ratios to the floor, and as a latency-vs-concurrency plot."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orderflow_local.bench.cost import (
    CostBreakdown,
    OrderOperations,
    PriceTable,
    RunCounts,
    RunTally,
    fill_unmeasured,
    render_table,
    source_design_operations,
)
from orderflow_local.bench.runner import Level


def ratios(ours: Sequence[Level], floor: Sequence[Level]) -> list[dict[str, float]]:
    """At each concurrency: orderflow's throughput over the floor's, and its p50 over the floor's."""
    by_concurrency = {level.concurrency: level for level in floor}
    rows = []
    for level in ours:
        other = by_concurrency.get(level.concurrency)
        if other is None:
            continue
        rows.append(
            {
                "concurrency": level.concurrency,
                "throughput": round(level.throughput / other.throughput, 3) if other.throughput else 0.0,
                "p50": round(level.client_latency.p50 / other.client_latency.p50, 3),
            }
        )
    return rows


def text(document: dict[str, Any]) -> str:
    lines = [f"# make bench, {document['machine']['date']} ({document['machine']['cpus']} CPUs)", ""]
    lines += _throughput_table(document)
    for system in ("orderflow", "floor"):
        for level in document[system]:
            lines += ["", f"## {system} at concurrency {level['concurrency']}"]
            lines.append(f"statuses: {level['statuses']}")
            history = level["historyLatencySeconds"]
            lines.append(f"history latency p50/p95/p99 (s): {_three(history)}")
            if level["stageMedianSeconds"]:
                stages = ", ".join(
                    f"{stage} {value:.2f}" for stage, value in level["stageMedianSeconds"].items()
                )
                lines.append(f"stage medians (s): {stages}")
            cpu = ", ".join(f"{name} {value:.3f}" for name, value in level["cpuSecondsPerItem"].items())
            lines.append(f"CPU-s per item: {cpu}")
            calls = level["awsCallsPerItem"]
            lines.append(f"AWS calls per item: {sum(calls.values()):.1f}")
            lines += [
                f"  {name}: {value:.2f}" for name, value in sorted(calls.items(), key=lambda item: -item[1])
            ]
            for key in ("apiRequestsPerItem", "invocationsPerItem"):
                if key in level:
                    lines.append(f"{key}: {level[key]}")
    lines += ["", "## Handler module imports (median ms, fresh interpreter)"]
    lines += [
        f"  {module}: {ms:.0f}"
        for module, ms in sorted(document["handlerImportMs"].items(), key=lambda i: -i[1])
    ]
    if document.get("cost"):
        lines += ["", document["cost"]["table"]]
    return "\n".join(lines)


def _throughput_table(document: dict[str, Any]) -> list[str]:
    floor = {level["concurrency"]: level for level in document["floor"]}
    ratios_by_concurrency = {row["concurrency"]: row for row in document["ratioToFloor"]}
    lines = [
        "| concurrency | orderflow orders/s | floor executions/s | throughput ratio "
        "| orderflow p50 / p95 / p99 (s) | floor p50 (s) | p50 ratio |",
        "|---|---|---|---|---|---|---|",
    ]
    for level in document["orderflow"]:
        concurrency = level["concurrency"]
        other = floor.get(concurrency)
        ratio = ratios_by_concurrency.get(concurrency, {})
        latency = level["clientLatencySeconds"]
        nan = float("nan")
        floor_throughput = other["throughputPerSecond"] if other else nan
        floor_p50 = other["clientLatencySeconds"]["p50"] if other else nan
        lines.append(
            f"| {concurrency} | {level['throughputPerSecond']:.2f} | {floor_throughput:.2f} "
            f"| {ratio.get('throughput', nan):.2f} | {_three(latency)} | {floor_p50:.2f} "
            f"| {ratio.get('p50', nan):.2f} |"
        )
    return lines


def _three(percentiles: dict[str, float]) -> str:
    return f"{percentiles['p50']:.2f} / {percentiles['p95']:.2f} / {percentiles['p99']:.2f}"


def plot(ours: Sequence[Level], floor: Sequence[Level], path: Path) -> None:
    # Imported here: plotting is the last step of a run, and matplotlib is slow to import.
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (latency, throughput) = plt.subplots(1, 2, figsize=(10, 4))
    for name, levels, style in (("orderflow", ours, "o-"), ("floor", floor, "s--")):
        concurrency = [level.concurrency for level in levels]
        latency.plot(concurrency, [level.client_latency.p50 for level in levels], style, label=f"{name} p50")
        latency.plot(
            concurrency, [level.client_latency.p99 for level in levels], style, alpha=0.5, label=f"{name} p99"
        )
        throughput.plot(concurrency, [level.throughput for level in levels], style, label=name)
    latency.set(xlabel="concurrent clients", ylabel="POST to final status seen (s)", title="Latency")
    throughput.set(xlabel="concurrent clients", ylabel="completed per second", title="Throughput")
    for axes in (latency, throughput):
        axes.grid(alpha=0.3)
        axes.legend()
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100)
    plt.close(figure)


def run_counts(usage: dict[str, Any]) -> RunTally:
    """The cost phase's counts (``runner.run_cost_phase``) as the cost model takes them.

    Every message an EventBridge rule delivered to a queue is a SendMessage request (SQS bills the
    queue's owner for it). Empty receives are left out: their number follows how long the local
    pollers wait, while Lambda's pollers on AWS long-poll for 20 s whatever the orders, a monthly
    cost, not an order's.
    The API is served by a web ACL: every API request is also a WAF request.
    """
    total = RunCounts(orders=usage["orders"])
    _add_operations(total, usage)
    total.states_entered = sum(sum(entered) for entered in usage["statesEnteredByOutcome"].values())
    by_outcome = {
        outcome: RunCounts(orders=len(entered), states_entered=sum(entered))
        for outcome, entered in usage["statesEnteredByOutcome"].items()
    }
    return RunTally(total, by_outcome)


def _add_operations(total: RunCounts, usage: dict[str, Any]) -> None:
    """A phase's AWS calls, units, API requests and invocations (``runner._operations``) into ``total``."""
    calls = usage["calls"]
    total.add_aws_calls(calls["calls"], empty_receives=calls["emptyReceives"])
    total.sqs_empty_receives = 0
    # EventBridge's deliveries are SendMessage requests too, made inside the local AWS.
    sent = total.sqs_requests.get("SendMessage", 0)
    total.sqs_requests["SendMessage"] = sent + calls["queueDeliveries"]
    total.put_events_entries = calls["putEventsEntries"]
    total.dynamodb_read_units = calls["readUnits"]
    total.dynamodb_write_units = calls["writeUnits"]
    total.api_requests = total.waf_requests = sum(usage["apiRequests"].values())
    for name, invoked in usage["invocations"].items():
        if invoked["count"]:
            # "stack.LogicalId": the model names functions by their logical id.
            function = name.rsplit(".", 1)[-1]
            total.record_invocations(function, invoked["count"], invoked["durationMs"], invoked["memoryMb"])


def cost(usage: dict[str, Any]) -> dict[str, Any]:
    """orderflow's cost per million completed orders from the cost phase, beside the source design's,
    and what each status read adds, per million reads."""
    table = PriceTable.load()
    operations = fill_unmeasured(run_counts(usage).per_completed_order())
    ours = table.price(operations)
    source = table.price(source_design_operations(operations), design="source design")
    per_table = dynamodb_units_per_order(usage)
    text = render_table(ours, source) + "\n\n" + _units_table(per_table)
    document: dict[str, Any] = {
        "orderflow": ours.to_json(),
        "sourceDesign": source.to_json(),
        "dynamodbUnitsPerOrderByTable": per_table,
    }
    if usage.get("statusReads", {}).get("reads"):
        read = table.price(fill_unmeasured(read_counts(usage["statusReads"])), design="status read")
        document["statusRead"] = read.to_json()
        text += "\n\n" + _read_line(read)
    return {**document, "table": text}


def read_counts(reads: dict[str, Any]) -> OrderOperations:
    """One status read's operations (GET /orders/{orderId}), averaged over the cost phase's reads."""
    counted = RunCounts(orders=reads["reads"])
    _add_operations(counted, reads)
    return counted.average(reads["reads"])


def _read_line(read: CostBreakdown) -> str:
    parts = ", ".join(
        f"{line.service} {line.usd_per_million:,.2f}" for line in read.items if line.usd_per_million
    )
    return (
        f"Each status read (GET /orders/{{orderId}}) adds **${read.total_excluding_ses_s3:,.2f} per million "
        f"reads** ({parts}): a customer who reads an order n times adds n times that to its price."
    )


def dynamodb_units_per_order(usage: dict[str, Any]) -> dict[str, dict[str, float]]:
    """The cost phase's DynamoDB units per completed order, by table: {table: {"write", "read"}}."""
    calls, orders = usage["calls"], max(1, usage["completed"])
    tables = sorted({*calls["writeUnitsByTable"], *calls["readUnitsByTable"]})
    return {
        table: {
            "write": round(calls["writeUnitsByTable"].get(table, 0.0) / orders, 3),
            "read": round(calls["readUnitsByTable"].get(table, 0.0) / orders, 3),
        }
        for table in tables
    }


def _units_table(per_table: dict[str, dict[str, float]]) -> str:
    rows = ["| DynamoDB table | write units per order | read units per order |", "|---|---:|---:|"]
    rows += [
        f"| {table} | {units['write']:.2f} | {units['read']:.2f} |" for table, units in per_table.items()
    ]
    return "\n".join(rows)
