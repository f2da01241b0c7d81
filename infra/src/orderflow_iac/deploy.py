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
given.

ENV=local redeploys one service into the running local runtime instead (`make run`, on
ORDERFLOW_API_PORT, default 8000; or `--api-url`): it asks the runtime's control path to update the
service's stack from the template and code in its folder (`--source`, default services/SERVICE) and
to restart only that service's functions and consumers (orderflow_local.redeploy, docs/deploy.md).
With `--dry-run` it prints the request and sends nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

from orderflow_iac.sam import INFRA, SAM, STACKS, SamCommand, stack_folder
from orderflow_iac.stacks import REPO_ROOT

# The environments every samconfig.toml has a section of.
ENVIRONMENTS = ("dev", "prod")
LOCAL = "local"
# The running local runtime's control path for ENV=local (orderflow_local.redeploy), and how long a
# redeploy may take: new processes run their INIT, old ones finish their invocation in progress.
LOCAL_DEPLOY_PATH = "/_orderflow/deploy"
LOCAL_DEPLOY_TIMEOUT = 300
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


def local_request(stack: str, source: Path | None, api_url: str) -> str:
    """The URL `ENV=local` posts to: the running runtime's control path on its API port."""
    if stack == INFRA:
        raise DeployError(
            "ENV=local redeploys a service; infra is deployed once, when the local system starts "
            "(restart `make run` to change it)"
        )
    folder = (source or stack_folder(stack)).resolve()
    if not (folder / "template.yaml").is_file():
        raise DeployError(f"{folder} has no template.yaml: --source names a service's folder")
    query = urllib.parse.urlencode({"service": stack, "source": str(folder)})
    return f"{api_url.rstrip('/')}{LOCAL_DEPLOY_PATH}?{query}"


def deploy_local(stack: str, dry_run: bool, source: Path | None = None, api_url: str | None = None) -> int:
    """ENV=local: redeploy one service into the running local runtime (`make run`, or a test's stack)
    from its folder's template and code, while the other services keep running
    (orderflow_local.redeploy)."""
    url = local_request(stack, source, api_url or _local_api_url())
    if dry_run:
        print(f"POST {url}")
        return 0
    print(f"+ POST {url}", file=sys.stderr)
    # Only the local runtime's own http:// endpoint on 127.0.0.1 is called.
    request = urllib.request.Request(url, data=b"", method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=LOCAL_DEPLOY_TIMEOUT) as response:  # noqa: S310
            answer = json.loads(response.read())
    except urllib.error.HTTPError as error:
        message = json.loads(error.read() or b"{}").get("message", error.reason)
        print(f"error: redeploying {stack} failed ({error.code}): {message}", file=sys.stderr)
        return 2 if error.code == HTTPStatus.BAD_REQUEST else 1
    except OSError as error:
        print(
            f"error: no local runtime answered at {url.split('/_orderflow')[0]} ({error}): start it with "
            "`make run` (ORDERFLOW_API_PORT names its API port)",
            file=sys.stderr,
        )
        return 1
    changes = answer["changes"]
    print(
        f"redeployed {answer['stack']} in {answer['seconds']} s from {answer['template']}: "
        + ", ".join(f"{len(changes[kind])} {kind}" for kind in ("created", "updated", "deleted", "kept"))
    )
    for kind in ("created", "updated", "deleted"):
        for logical_id in changes[kind]:
            print(f"  {kind} {logical_id}")
    for function, pids in answer["functions"].items():
        print(f"  restarted {function} (pid {', '.join(str(pid) for pid in pids)})")
    return 0


def _local_api_url() -> str:
    return (
        os.environ.get("ORDERFLOW_API_URL")
        or f"http://127.0.0.1:{os.environ.get('ORDERFLOW_API_PORT', '8000')}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("stack", metavar="SERVICE", help=f"one of {', '.join(STACKS)}")
    parser.add_argument(
        "environment", metavar="ENV", help=f"{', '.join(ENVIRONMENTS)} (each samconfig.toml's)"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("--parameters", default="", help='more parameter overrides: "KEY=VALUE KEY=VALUE"')
    parser.add_argument(
        "--source",
        type=Path,
        help="ENV=local: the service's folder to deploy from (default services/SERVICE)",
    )
    parser.add_argument(
        "--api-url",
        help="ENV=local: the running runtime's API (default http://127.0.0.1:$ORDERFLOW_API_PORT)",
    )
    args = parser.parse_args(argv)
    try:
        if args.environment == LOCAL and args.stack in STACKS:
            if args.parameters:
                raise DeployError(
                    "ENV=local takes no PARAMS: the local runtime sets every stack's parameters"
                )
            return deploy_local(args.stack, args.dry_run, args.source, args.api_url)
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
