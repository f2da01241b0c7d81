"""The SAM CLI as the project runs it. `python -m orderflow_iac.sam check [STACK ...]`: `sam validate
--lint` and `sam build` of every stack (infra and each service), offline, as `make lint` runs them.

The SAM CLI has an environment of its own, `.tools/samcli` (infra/samcli/requirements.txt, installed
by `make lint` and `make deploy`). Each stack is a SAM project folder: its `template.yaml`, its
`samconfig.toml` (a section per environment, for `make deploy`) and the git-ignored `.aws-sam/` that
`sam build` writes and `sam deploy` reads. Every command runs in that folder, so it is the command
one would type there.

`sam build` builds each function through infra/samcli/Makefile (`BuildMethod: makefile` in the
function's Metadata), which puts the service's bundle (orderflow_iac.build) into the function's
artifact folder: no Python of the runtime's version and no Docker needed. The check then reads the
built template and fails a function whose artifact lacks its handler's module.

Telemetry is off in every command (SAM_CLI_TELEMETRY=0).
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from orderflow_iac.stacks import REPO_ROOT, SERVICES

SAM = REPO_ROOT / ".tools" / "samcli" / "bin" / "sam"
INFRA = "infra"
STACKS = (INFRA, *SERVICES)
# cfn-lint checks the resource types against one region's specification.
LINT_REGION = "us-east-1"
BUILT_TEMPLATE = Path(".aws-sam") / "build" / "template.yaml"


def stack_folder(stack: str) -> Path:
    return REPO_ROOT / INFRA if stack == INFRA else REPO_ROOT / "services" / stack


@dataclass(frozen=True)
class SamCommand:
    """One SAM CLI command, run in a stack's folder."""

    folder: Path
    arguments: tuple[str, ...]

    @property
    def argv(self) -> list[str]:
        return [os.path.relpath(SAM, self.folder), *self.arguments]

    def shell(self) -> str:
        """The command as one shell line, from the repository's root."""
        return f"cd {self.folder.relative_to(REPO_ROOT).as_posix()} && {shlex.join(self.argv)}"

    def run(self, capture: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - the project's own SAM CLI on its own templates
            self.argv,
            cwd=self.folder,
            env={**os.environ, "SAM_CLI_TELEMETRY": "0"},
            capture_output=capture,
            text=True,
            check=False,
        )


def validate(stack: str) -> SamCommand:
    return SamCommand(stack_folder(stack), ("validate", "--lint", "--region", LINT_REGION))


def build(stack: str, *arguments: str) -> SamCommand:
    return SamCommand(stack_folder(stack), ("build", *arguments))


def artifact_problems(folder: Path) -> list[str]:
    """Each function of the template `sam build` wrote in a stack's folder whose artifact lacks its
    handler's module (a build that put nothing, or the wrong service, there)."""
    from orderflow_local.templates import load_template  # the SAM translator's import is slow

    built = load_template(folder / BUILT_TEMPLATE)
    problems = []
    for name, resource in built.get("Resources", {}).items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource.get("Properties", {})
        module = str(properties.get("Handler", "")).rpartition(".")[0].replace(".", "/")
        artifact = (folder / BUILT_TEMPLATE).parent / str(properties.get("CodeUri", ""))
        if not module or not (artifact / f"{module}.py").is_file():
            problems.append(f"{folder.name}: {name}'s artifact {artifact} has no {module}.py")
    return problems


def check_stack(stack: str) -> tuple[bool, str]:
    """`sam validate --lint` and `sam build` of one stack: whether both passed, and what they said."""
    report = []
    for command in (validate(stack), build(stack)):
        started = time.monotonic()
        result = command.run(capture=True)
        report.append(f"{command.shell()}  ({time.monotonic() - started:.1f} s)")
        if result.returncode != 0:
            report.append(result.stdout + result.stderr)
            return False, "\n".join(report)
    problems = artifact_problems(stack_folder(stack))
    report += problems
    return not problems, "\n".join(report)


def check(stacks: Sequence[str]) -> bool:
    if not SAM.exists():
        print(f"the SAM CLI is not installed at {SAM}: `make lint` installs it", file=sys.stderr)
        return False
    # Two at a time: validating is CPU-bound, building mostly waits on files and subprocesses.
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(check_stack, stacks))
    for passed, report in results:
        print(report, file=sys.stdout if passed else sys.stderr)
    ok = all(passed for passed, _ in results)
    print(f"sam validate --lint and sam build: {len(stacks)} stacks {'ok' if ok else 'FAILED'}")
    return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    checking = commands.add_parser("check", help="sam validate --lint and sam build of each stack")
    checking.add_argument(
        "stacks", nargs="*", metavar="STACK", help=f"one of {', '.join(STACKS)} (all by default)"
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.stacks) - set(STACKS))
    if unknown:
        parser.error(f"unknown stack {', '.join(unknown)}: one of {', '.join(STACKS)}")
    return 0 if check(args.stacks or list(STACKS)) else 1


if __name__ == "__main__":
    sys.exit(main())
