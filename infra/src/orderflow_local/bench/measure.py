"""What a benchmark level measures: latencies and their percentiles, and the CPU time of processes."""

from __future__ import annotations

import os
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads) so far; 0 once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0
    # After the command name: state is field 3, utime 14 and stime 15 (proc(5)).
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def cpu_snapshot(processes: Mapping[str, int]) -> dict[str, float]:
    return {name: cpu_seconds(pid) for name, pid in processes.items()}


def cpu_per_item(before: Mapping[str, float], after: Mapping[str, float], items: int) -> dict[str, float]:
    """CPU-s per completed item of each process between two snapshots."""
    return {name: (after[name] - before.get(name, 0.0)) / max(items, 1) for name in after}


@dataclass(frozen=True)
class Percentiles:
    p50: float
    p95: float
    p99: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Percentiles:
        if not values:
            return cls(float("nan"), float("nan"), float("nan"))
        if len(values) == 1:
            return cls(values[0], values[0], values[0])
        cuts = statistics.quantiles(values, n=100, method="inclusive")
        return cls(statistics.median(values), cuts[94], cuts[98])

    def to_json(self) -> dict[str, float]:
        return {"p50": round(self.p50, 4), "p95": round(self.p95, 4), "p99": round(self.p99, 4)}


def median_or_nan(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")
