"""How long each Lambda handler module takes to import in a fresh interpreter: the INIT of a cold start.

Every function of every service template is imported ``repeats`` times, each time in a new Python
process with the environment a local Lambda gets (the template's variables, tracing and metrics
off), and only the import itself is timed, inside that process: interpreter start-up is Lambda's
runtime, not the function's code. ``python -m orderflow_local.bench.cold_start`` prints the medians
and exits 1 when any reaches the budget.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from subprocess import PIPE, CalledProcessError
from typing import Any

from orderflow_local.settings import REGION
from orderflow_local.templates import load_template

REPO_ROOT = Path(__file__).resolve().parents[4]
BUDGET_MS = 300.0
SERVERLESS_FUNCTION = "AWS::Serverless::Function"

# What the local runtime sets for every function besides the template's variables: dummy credentials
# (nothing is called at import), tracing off (no X-Ray daemon) and metrics off.
LAMBDA_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
    "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_METRICS_DISABLED": "true",
}

# Run in the child: the clock starts after the interpreter is up and stops once the module is in.
_TIMED_IMPORT = """
import importlib, sys, time
sys.path.insert(0, sys.argv[2])
started = time.perf_counter()
importlib.import_module(sys.argv[1])
print((time.perf_counter() - started) * 1000)
"""


@dataclass(frozen=True)
class HandlerModule:
    service: str
    function: str  # the function's logical id
    module: str
    code_dir: Path
    environment: Mapping[str, str]


def handler_modules(repo_root: Path = REPO_ROOT) -> list[HandlerModule]:
    """Every function's handler module, from each ``services/<service>/template.yaml``."""
    found: list[HandlerModule] = []
    for template_path in sorted(repo_root.glob("services/*/template.yaml")):
        template = load_template(template_path)
        parameters = template.get("Parameters", {})
        defaults = template.get("Globals", {}).get("Function", {})
        for logical_id, resource in template.get("Resources", {}).items():
            if resource.get("Type") != SERVERLESS_FUNCTION:
                continue
            properties = {**defaults, **resource.get("Properties", {})}
            variables = {
                **defaults.get("Environment", {}).get("Variables", {}),
                **properties.get("Environment", {}).get("Variables", {}),
            }
            found.append(
                HandlerModule(
                    service=template_path.parent.name,
                    function=logical_id,
                    module=str(properties["Handler"]).rsplit(".", 1)[0],
                    code_dir=template_path.parent / str(properties["CodeUri"]),
                    environment={
                        "AWS_LAMBDA_FUNCTION_NAME": f"{template_path.parent.name}-{logical_id}",
                        **{name: _placeholder(value, parameters) for name, value in variables.items()},
                    },
                )
            )
    return found


def _placeholder(value: Any, parameters: Mapping[str, Any]) -> str:
    """A variable's value as it is before deployment: a parameter's default, or the name of what a
    reference points at (a table's logical id for its name). Good enough for code that only reads it."""
    if isinstance(value, dict) and "Ref" in value:
        name = str(value["Ref"])
        return str(parameters.get(name, {}).get("Default", name))
    if isinstance(value, dict):
        return "local"
    return str(value)


def import_milliseconds(handler: HandlerModule) -> float:
    """One import of ``handler``'s module in a new interpreter, as a local Lambda would start it."""
    command = [sys.executable, "-c", _TIMED_IMPORT, handler.module, str(handler.code_dir)]
    try:
        printed = subprocess.check_output(  # noqa: S603 - this interpreter, our own code
            command, env={**os.environ, **LAMBDA_ENVIRONMENT, **handler.environment}, text=True, stderr=PIPE
        )
    except CalledProcessError as failed:
        raise RuntimeError(f"importing {handler.module} failed:\n{failed.stderr}") from None
    return float(printed.strip().splitlines()[-1])


def measure_handler_imports(
    repeats: int = 5, handlers: Sequence[HandlerModule] | None = None
) -> dict[str, float]:
    """The median import time in milliseconds of each handler module (``repeats`` fresh imports each)."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    medians: dict[str, float] = {}
    for handler in handler_modules() if handlers is None else handlers:
        if handler.module not in medians:
            medians[handler.module] = statistics.median(import_milliseconds(handler) for _ in range(repeats))
    return medians


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeats", type=int, default=5, help="fresh imports per module (default 5)")
    parser.add_argument("--budget-ms", type=float, default=BUDGET_MS, help="fail at or above this median")
    parser.add_argument("--json", type=Path, help="also write the medians to this file")
    args = parser.parse_args(argv)
    medians = measure_handler_imports(args.repeats)
    width = max(map(len, medians))
    print(f"{'handler module':<{width}}  median of {args.repeats} (ms)")
    for module, milliseconds in medians.items():
        verdict = "" if milliseconds < args.budget_ms else f"  >= {args.budget_ms:.0f} ms"
        print(f"{module:<{width}}  {milliseconds:8.1f}{verdict}")
    if args.json:
        args.json.write_text(json.dumps(medians, indent=2) + "\n")
    over = [module for module, milliseconds in medians.items() if milliseconds >= args.budget_ms]
    if over:
        print(f"{len(over)} handler module(s) at or over the {args.budget_ms:.0f} ms budget", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
