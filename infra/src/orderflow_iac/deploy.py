"""`python -m orderflow_iac.deploy STACK ENV [--dry-run] [--parameters "KEY=VALUE ..."]`: build and
deploy one stack (infra or a service) to an environment with the SAM CLI, without a prompt.

In the stack's folder it runs `sam build --config-env ENV`, then `sam deploy --config-env ENV
--no-confirm-changeset --no-fail-on-empty-changeset`: the stack's name, its region, its capabilities
and its parameter overrides are the ENV section of the folder's `samconfig.toml`. `--parameters`
adds overrides (values the repository cannot know, such as the invoices bucket's name) to that
section's; `sam deploy` is then given them all, since overrides given on its command line replace
the configured ones. `--dry-run` prints the commands and what `sam deploy` reads from samconfig.toml,
and runs nothing: it needs neither the SAM CLI nor AWS credentials.

A template parameter without a default that neither samconfig.toml nor --parameters sets keeps the
stack's previous value (`sam deploy` asks CloudFormation for it); a stack's first deployment needs it
given. ENV=local, redeploying one stack into the running local runtime, is not here yet.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from orderflow_iac.sam import SAM, STACKS, SamCommand, stack_folder
from orderflow_iac.stacks import REPO_ROOT

# The environments every samconfig.toml has a section of.
ENVIRONMENTS = ("dev", "prod")
LOCAL = "local"
CONFIG_FILE = "samconfig.toml"
# A deployment never stops to ask (CI runs it), and a stack with nothing to change is no failure.
DEPLOY_FLAGS = ("--no-confirm-changeset", "--no-fail-on-empty-changeset")


class DeployError(Exception):
    """A request this module refuses before running anything (exit status 2)."""


@dataclass(frozen=True)
class Deployment:
    stack: str
    environment: str
    settings: dict[str, Any]  # what `sam deploy --config-env ENV` reads: global, then deploy parameters
    overrides: dict[str, str]  # the section's parameter overrides, then --parameters
    extra: dict[str, str]  # --parameters alone
    unset: list[str]  # template parameters without a default that nothing sets

    @property
    def config_file(self) -> Path:
        return stack_folder(self.stack) / CONFIG_FILE

    def commands(self) -> list[SamCommand]:
        folder = stack_folder(self.stack)
        deploy: tuple[str, ...] = ("deploy", "--config-env", self.environment, *DEPLOY_FLAGS)
        if self.extra:
            deploy += ("--parameter-overrides", *(f"{key}={value}" for key, value in self.overrides.items()))
        return [SamCommand(folder, ("build", "--config-env", self.environment)), SamCommand(folder, deploy)]

    def describe(self) -> list[str]:
        """What `sam deploy` takes from samconfig.toml and --parameters, as shell comments."""
        config = self.config_file.relative_to(REPO_ROOT).as_posix()
        lines = [
            f"# {config} [{self.environment}]: stack {self.settings.get('stack_name')}, region "
            f"{self.settings.get('region')}, capabilities {_words(self.settings.get('capabilities'))}"
        ]
        lines += [f"# parameter {key}={value}" for key, value in self.overrides.items()]
        lines += [
            f"# {key} has no default and is not set: the stack keeps its value (a first deployment needs "
            f'PARAMS="{key}=...")'
            for key in self.unset
        ]
        return lines


def plan(stack: str, environment: str, parameters: str = "") -> Deployment:
    if not stack or not environment:
        raise DeployError(f"usage: make deploy SERVICE=<{'|'.join(STACKS)}> ENV=<{'|'.join(ENVIRONMENTS)}>")
    if stack not in STACKS:
        raise DeployError(f"unknown service {stack!r}: one of {', '.join(STACKS)}")
    config_file = stack_folder(stack) / CONFIG_FILE
    config = tomllib.loads(config_file.read_text())
    known = sorted(name for name, section in config.items() if isinstance(section, dict))
    if environment not in known:
        raise DeployError(
            f"unknown environment {environment!r} for {stack}: "
            f"{config_file.relative_to(REPO_ROOT).as_posix()} has {', '.join(known)}"
        )
    section = config[environment]
    settings = {
        **section.get("global", {}).get("parameters", {}),
        **section.get("deploy", {}).get("parameters", {}),
    }
    declared = _template_parameters(stack)
    configured = _overrides(settings.get("parameter_overrides", []))
    extra = _overrides(shlex.split(parameters))
    for key in (*configured, *extra):
        if key not in declared:
            raise DeployError(f"{stack}'s template has no parameter {key}: one of {', '.join(declared)}")
    overrides = {**configured, **extra}
    unset = [
        key for key, declaration in declared.items() if "Default" not in declaration and key not in overrides
    ]
    return Deployment(stack, environment, settings, overrides, extra, unset)


def deploy_local(stack: str, dry_run: bool) -> int:
    """ENV=local: redeploy one stack into the running local runtime. Not available yet."""
    print(
        f"error: ENV=local is not yet available: redeploying {stack} alone into the running local runtime "
        "is still to be built (`make run` deploys every stack locally)",
        file=sys.stderr,
    )
    return 2


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("stack", metavar="SERVICE", help=f"one of {', '.join(STACKS)}")
    parser.add_argument(
        "environment", metavar="ENV", help=f"{', '.join(ENVIRONMENTS)} (each samconfig.toml's)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--parameters", default="", help='more parameter overrides: "KEY=VALUE KEY=VALUE"')
    args = parser.parse_args(argv)
    try:
        if args.environment == LOCAL and args.stack in STACKS:
            return deploy_local(args.stack, args.dry_run)
        deployment = plan(args.stack, args.environment, args.parameters)
    except DeployError as refused:
        print(f"error: {refused}", file=sys.stderr)
        return 2
    commands = deployment.commands()
    if args.dry_run:
        print("\n".join([command.shell() for command in commands] + deployment.describe()))
        return 0
    if not SAM.exists():
        print(f"error: the SAM CLI is not installed at {SAM}: `make deploy` installs it", file=sys.stderr)
        return 2
    for line in deployment.describe():
        print(line, file=sys.stderr)
    for command in commands:
        print(f"+ {command.shell()}", file=sys.stderr)
        returncode = command.run().returncode
        if returncode != 0:
            return returncode
    return 0


def _template_parameters(stack: str) -> dict[str, dict[str, Any]]:
    from orderflow_local.templates import load_template  # the SAM translator's import is slow

    declared: dict[str, dict[str, Any]] = load_template(stack_folder(stack) / "template.yaml").get(
        "Parameters", {}
    )
    return declared


def _overrides(pairs: str | Sequence[str]) -> dict[str, str]:
    """KEY=VALUE pairs (a samconfig.toml list, or one string of them) as a mapping, in their order."""
    if isinstance(pairs, str):
        pairs = shlex.split(pairs)
    overrides = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key.isalnum():
            raise DeployError(f"parameter override {pair!r} is not KEY=VALUE")
        overrides[key] = value
    return overrides


def _words(value: Any) -> str:
    return " ".join(value) if isinstance(value, list) else str(value)


if __name__ == "__main__":
    sys.exit(main())
