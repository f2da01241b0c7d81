"""`python -m orderflow_devtools.registry generate | check [--root PATH]`.

generate: writes the registry schemas, samples, docs/events.md and infra/template.yaml's schema
block from the contracts. check: fails (exit 1) naming each generated file that is stale, missing
or extra, and each way the services' declared events do not add up.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from orderflow_devtools.registry.catalogue import CatalogueError
from orderflow_devtools.registry.generation import (
    COMMAND,
    REPO_ROOT,
    CatalogueProblemsError,
    generate,
    stale_files,
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m orderflow_devtools.registry", description=__doc__)
    parser.add_argument("command", choices=["generate", "check"])
    parser.add_argument("--root", type=Path, default=REPO_ROOT, help="the repository (default: this one)")
    args = parser.parse_args(argv)
    try:
        if args.command == "generate":
            touched = generate(args.root)
            print(
                f"event contracts: {len(touched)} file(s) written or deleted"
                + "".join(f"\n  {t}" for t in touched)
            )
            return 0
        stale = stale_files(args.root)
    except CatalogueProblemsError as error:
        _fail("the event catalogue does not add up:", error.problems)
        return 1
    except CatalogueError as error:
        _fail("the event catalogue cannot be read:", [str(error)])
        return 1
    if stale:
        _fail(f"generated event contract files are stale; run `{COMMAND}` and commit the result:", stale)
        return 1
    print("event contracts: generated files up to date, catalogue consistent")
    return 0


def _fail(headline: str, lines: Sequence[str]) -> None:
    print(headline + "".join(f"\n  {line}" for line in lines), file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
