"""`python -m orderflow_local.bench` (`make bench`): the benchmark's run, figures, JSON and plot.

    make bench                       # 200 orders at concurrency 1, 5 and 20, then the floor
    make bench ORDERS=50 LEVELS=1,5  # a quicker look

Writes ``docs/figures/bench.json``, ``bench.md`` (what it prints) and ``bench-latency.png``
(``--out-dir`` elsewhere).
Exit status 1 when an order did not complete or a handler module imports in 300 ms or more.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from orderflow_local.bench import report
from orderflow_local.bench.cold_start import measure_handler_imports
from orderflow_local.bench.runner import REPO_ROOT_DOCS, machine, run_floor, run_orderflow, write_json

COLD_START_LIMIT_MS = 300.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=200, help="orders (and floor executions) per level")
    parser.add_argument("--levels", default="1,5,20", help="concurrency levels, comma separated")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--import-repeats", type=int, default=5, help="fresh interpreters per handler module")
    parser.add_argument("--out-dir", type=Path, default=REPO_ROOT_DOCS / "figures")
    args = parser.parse_args(argv)
    levels = [int(level) for level in args.levels.split(",") if level.strip()]

    print(f"orderflow: {args.orders} orders at concurrency {levels}", flush=True)
    ours, usage = run_orderflow(args.orders, levels, args.seed)
    print(f"floor: {args.orders} bare-saga executions at concurrency {levels}", flush=True)
    floor = run_floor(args.orders, levels)
    print(f"cold starts: every handler module, {args.import_repeats} fresh interpreters each", flush=True)
    imports = measure_handler_imports(args.import_repeats)

    document: dict[str, Any] = {
        "machine": machine(),
        "ordersPerLevel": args.orders,
        "orderflow": [level.to_json() for level in ours],
        "floor": [level.to_json() for level in floor],
        "ratioToFloor": report.ratios(ours, floor),
        "usage": usage,
        "cost": report.cost(usage),
        "handlerImportMs": imports,
    }
    write_json(args.out_dir / "bench.json", document)
    report.plot(ours, floor, args.out_dir / "bench-latency.png")
    summary = report.text(document)
    (args.out_dir / "bench.md").write_text(summary + "\n")
    print(summary)
    incomplete = sum(level.items - level.completed for level in ours)
    slow = {module: ms for module, ms in imports.items() if ms >= COLD_START_LIMIT_MS}
    if incomplete:
        print(f"FAIL: {incomplete} orders did not complete", file=sys.stderr)
    if slow:
        print(
            f"FAIL: handler modules importing in {COLD_START_LIMIT_MS:.0f} ms or more: {slow}",
            file=sys.stderr,
        )
    return 1 if incomplete or slow else 0


if __name__ == "__main__":
    sys.exit(main())
