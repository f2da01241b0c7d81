"""The scenario x invariant table `make chaos` prints, and the closing `N passed, M failed` line."""

from __future__ import annotations

from collections.abc import Sequence

from orderflow_local.chaos.checker import INVARIANTS
from orderflow_local.chaos.runner import ScenarioResult

_HEADERS = ("scenario", "orders", "timed out", "faults fired", *INVARIANTS, "expected", "seconds", "result")


def table(results: Sequence[ScenarioResult]) -> str:
    rows = [_HEADERS, *(_row(result) for result in results)]
    widths = [max(len(row[column]) for row in rows) for column in range(len(_HEADERS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown(results: Sequence[ScenarioResult]) -> str:
    """The same table for docs/reliability.md."""
    lines = ["| " + " | ".join(_HEADERS) + " |", "|" + "---|" * len(_HEADERS)]
    lines += ["| " + " | ".join(_row(result)) + " |" for result in results]
    return "\n".join(lines)


def details(results: Sequence[ScenarioResult]) -> str:
    """Every violation and unmet expectation, under its scenario."""
    blocks = []
    for result in results:
        if result.passed:
            continue
        found = [f"  {violation}" for violation in result.violations] + [f"  {line}" for line in result.unmet]
        blocks.append(f"{result.scenario.name} (seed {result.seed}):\n" + "\n".join(found))
    return "\n\n".join(blocks)


def summary(results: Sequence[ScenarioResult]) -> str:
    passed = sum(result.passed for result in results)
    return f"{passed} passed, {len(results) - passed} failed"


def _row(result: ScenarioResult) -> tuple[str, ...]:
    by_invariant = {name: sum(v.invariant == name for v in result.violations) for name in INVARIANTS}
    accepted = sum(1 for placed in result.placed if placed.order_id)
    outcomes = ", ".join(f"{count} {status}" for status, count in sorted(result.statuses.items()))
    return (
        result.scenario.name,
        f"{accepted} ({outcomes})" if outcomes else str(accepted),
        str(result.timed_out),
        str(result.faults_fired),
        *(str(count) if count else "ok" for count in by_invariant.values()),
        "unmet" if result.unmet else "ok",
        f"{result.seconds:.0f}",
        "passed" if result.passed else "FAILED",
    )
