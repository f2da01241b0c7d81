"""`python -m orderflow_local.chaos` (`make chaos`): every scenario over the real local stack, checked.

    python -m orderflow_local.chaos                         every scenario, seed 1
    python -m orderflow_local.chaos --seed 7 --scenario duplicates
    python -m orderflow_local.chaos --markdown              the table for docs/reliability.md too

Scenarios that share a time scale share one local stack, started fresh for the run (its log and
fault plan in --log-dir). Exits 1 when any scenario breaks an invariant or its expectation.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from itertools import groupby
from pathlib import Path

from orderflow_local.chaos import report
from orderflow_local.chaos.runner import ScenarioResult, run_scenario
from orderflow_local.chaos.scenarios import SCENARIOS, Scenario, scenario_named
from orderflow_local.launcher import start_local_stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m orderflow_local.chaos", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--seed", type=int, default=1, help="the seed every scenario's plan is drawn from")
    parser.add_argument("--scenario", action="append", help="run only this scenario (repeatable)")
    parser.add_argument("--log-dir", type=Path, help="where the stacks' logs and fault plans go")
    parser.add_argument("--markdown", action="store_true", help="also print the table as Markdown")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    try:
        chosen = [scenario_named(name) for name in args.scenario] if args.scenario else list(SCENARIOS)
    except KeyError as error:
        parser.error(str(error.args[0]))
    log_dir = args.log_dir or Path(tempfile.mkdtemp(prefix="orderflow-chaos-"))
    results = run_all(chosen, args.seed, log_dir)
    print(report.table(results))
    if details := report.details(results):
        print("\n" + details)
    if args.markdown:
        print("\n" + report.markdown(results))
    print(f"\nseed {args.seed}; logs in {log_dir}\n{report.summary(results)}")
    return 0 if all(result.passed for result in results) else 1


def run_all(scenarios: list[Scenario], seed: int, log_dir: Path) -> list[ScenarioResult]:
    results: list[ScenarioResult] = []
    for time_scale, group in groupby(
        sorted(scenarios, key=lambda s: s.time_scale), key=lambda s: s.time_scale
    ):
        stack_dir = log_dir / f"scale-{time_scale:g}"
        stack_dir.mkdir(parents=True, exist_ok=True)
        stack = start_local_stack(stack_dir / "orderflow.log", time_scale=time_scale)
        try:
            for scenario in group:
                logging.info("scenario %s: %s", scenario.name, scenario.what)
                result = run_scenario(stack, scenario, seed, time_scale)
                logging.info(
                    "scenario %s: %s in %.0f s",
                    scenario.name,
                    "passed" if result.passed else "FAILED",
                    result.seconds,
                )
                results.append(result)
        finally:
            stack.stop()
    order = {scenario.name: index for index, scenario in enumerate(SCENARIOS)}
    return sorted(results, key=lambda result: order[result.scenario.name])


if __name__ == "__main__":
    sys.exit(main())
