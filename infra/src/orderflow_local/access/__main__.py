"""`python -m orderflow_local.access check <log dir> [--fail-unused]`: the least-privilege check.

<log dir> is the ORDERFLOW_ACCESS_LOG directory of a local system run. Exit status 1 when a call was
denied, an operation has no IAM mapping or a function's grants cannot be known, and with
--fail-unused also when a grant no call used is not justified in the template; 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from orderflow_local.access.check import run
from orderflow_local.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orderflow_local.access")
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="check the calls recorded under ORDERFLOW_ACCESS_LOG")
    check.add_argument("log_dir", type=Path)
    check.add_argument(
        "--fail-unused",
        action="store_true",
        help="also fail on grants no call used that the function's template does not justify",
    )
    check.add_argument(
        "--repo-root",
        type=Path,
        default=None,
        help="the checkout whose templates ran (default: ORDERFLOW_REPO_ROOT, or this checkout)",
    )
    arguments = parser.parse_args(argv)
    if not arguments.log_dir.is_dir():
        parser.error(f"{arguments.log_dir} is not a directory")
    repo_root = arguments.repo_root or Settings.from_env().repo_root
    report = run(arguments.log_dir, repo_root)
    print(report.text(arguments.fail_unused))
    return 1 if report.failed(arguments.fail_unused) else 0


if __name__ == "__main__":
    sys.exit(main())
