"""`make deploy SERVICE=<stack> ENV=<env>`: sam build, then sam deploy with the environment's section of
the stack's samconfig.toml, never asking; DRY_RUN=1 prints the commands and touches nothing."""

from __future__ import annotations

import os
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
from orderflow_iac import deploy
from orderflow_iac.deploy import ENVIRONMENTS, main
from orderflow_iac.sam import STACKS, stack_folder

from orderflow_local.templates import is_ssm_parameter, load_template

REPO_ROOT = Path(__file__).resolve().parents[2]
MAKE = shutil.which("make") or "make"
ORDERS_DEV = [
    "cd services/orders && ../../.tools/samcli/bin/sam build --config-env dev",
    "cd services/orders && ../../.tools/samcli/bin/sam deploy --config-env dev --no-confirm-changeset "
    "--no-fail-on-empty-changeset",
    "# services/orders/samconfig.toml [dev]: stack orderflow-dev-orders, region us-east-1, capabilities "
    "CAPABILITY_IAM",
    "# parameter EventBusName=/orderflow-dev/event-bus/name",
    "# parameter CommandsBusName=/orderflow-dev/commands-bus/name",
    "# parameter PaymentTokenKeyArn=/orderflow-dev/payment-token-key/arn",
    "# parameter UserPoolArn=/orderflow-dev/user-pool/arn",
    "# parameter OperatorsGroupName=/orderflow-dev/operators-group/name",
    "# parameter LogLevel=INFO",
    "# InvoicesBucketName has no default and is not set: the stack keeps its value (a first deployment "
    'needs PARAMS="InvoicesBucketName=...")',
]


@pytest.fixture
def no_subprocess(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any command started from here fails the test: a dry run starts none."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"a dry run started {args}")

    monkeypatch.setattr(subprocess, "run", refuse)
    monkeypatch.setattr(subprocess, "Popen", refuse)


def test_the_dry_run_prints_the_build_and_the_deploy_with_what_samconfig_gives_them(
    no_subprocess: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["orders", "dev", "--dry-run"]) == 0

    assert capsys.readouterr().out.splitlines() == ORDERS_DEV


def test_make_deploy_dry_run_works_without_aws_credentials_or_the_sam_cli(tmp_path: Path) -> None:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("AWS_")}
    environment |= {
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_EC2_METADATA_DISABLED": "true",
        # Were the SAM CLI started, it would not be found.
        "PATH": os.pathsep.join(p for p in environment["PATH"].split(os.pathsep) if "samcli" not in p),
    }
    done = subprocess.run(
        [MAKE, "--no-print-directory", "-s", "deploy", "SERVICE=orders", "ENV=dev", "DRY_RUN=1"],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ORDERS_DEV


def test_infra_deploys_its_environment_s_buses_and_ssm_prefix(
    no_subprocess: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["infra", "prod", "--dry-run"]) == 0

    assert capsys.readouterr().out.splitlines() == [
        "cd infra && ../.tools/samcli/bin/sam build --config-env prod",
        "cd infra && ../.tools/samcli/bin/sam deploy --config-env prod --no-confirm-changeset "
        "--no-fail-on-empty-changeset",
        "# infra/samconfig.toml [prod]: stack orderflow-prod-infra, region us-east-1, "
        "capabilities CAPABILITY_IAM",
        "# parameter EventBusName=orderflow-prod",
        "# parameter SharedParameterPrefix=/orderflow-prod",
        *(
            f"# parameter {name}StackName=orderflow-prod-{name.lower()}"
            for name in ("Orders", "Inventory", "Payments")
            if f"{name}StackName" in load_template(REPO_ROOT / "infra" / "template.yaml")["Parameters"]
        ),
    ]


def test_given_parameters_join_the_configured_ones_on_the_deploy_command(
    no_subprocess: None, capsys: pytest.CaptureFixture[str]
) -> None:
    # sam deploy's --parameter-overrides replaces samconfig's, so the command carries them all.
    parameters = "InvoicesBucketName=orderflow-prod-invoices-1 InvoiceLinkBaseUrl=https://api.example.com"

    assert main(["invoicing", "prod", "--dry-run", "--parameters", parameters]) == 0

    lines = capsys.readouterr().out.splitlines()
    assert lines[1] == (
        "cd services/invoicing && ../../.tools/samcli/bin/sam deploy --config-env prod "
        "--no-confirm-changeset --no-fail-on-empty-changeset --parameter-overrides "
        "EventBusName=/orderflow-prod/event-bus/name CommandsBusName=/orderflow-prod/commands-bus/name "
        "LogLevel=WARN InvoicesBucketName=orderflow-prod-invoices-1 InvoiceLinkBaseUrl=https://api.example.com"
    )
    assert "# parameter InvoiceLinkBaseUrl=https://api.example.com" in lines
    assert not [line for line in lines if "has no default" in line]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["shipping", "dev"], "error: unknown service 'shipping': one of infra, orders, inventory, payments"),
        (
            ["", "dev"],
            "error: usage: make deploy SERVICE=<infra|orders|inventory|payments|invoicing|notifications>",
        ),
        (
            ["orders", "qa"],
            "error: unknown environment 'qa' for orders: services/orders/samconfig.toml has dev, prod",
        ),
        (["orders", ""], "error: usage: make deploy SERVICE=<infra|"),
        (
            ["orders", "dev", "--parameters", "InvoiceBucketName=x"],
            "error: orders's template has no parameter InvoiceBucketName",
        ),
        (
            ["orders", "dev", "--parameters", "InvoicesBucketName"],
            "error: parameter override 'InvoicesBucketName' is not KEY=VALUE",
        ),
    ],
)
def test_an_unknown_service_environment_or_parameter_is_refused_with_status_2(
    no_subprocess: None, capsys: pytest.CaptureFixture[str], arguments: list[str], message: str
) -> None:
    assert main([*arguments, "--dry-run"]) == 2

    captured = capsys.readouterr()
    assert captured.err.startswith(message)
    assert captured.out == ""


def test_a_deployment_builds_then_deploys_in_the_stack_folder_without_telemetry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ran = _record_commands(monkeypatch, tmp_path, failing=None)

    assert main(["payments", "dev"]) == 0

    folder = REPO_ROOT / "services" / "payments"
    assert ran == [
        (folder, ["../../.tools/samcli/bin/sam", "build", "--config-env", "dev"], "0"),
        (
            folder,
            [*("../../.tools/samcli/bin/sam", "deploy", "--config-env", "dev"), *deploy.DEPLOY_FLAGS],
            "0",
        ),
    ]


def test_a_failed_build_deploys_nothing_and_fails_the_same_way(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ran = _record_commands(monkeypatch, tmp_path, failing="build")

    assert main(["notifications", "prod"]) == 7

    assert [argv[1] for _, argv, _ in ran] == ["build"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_every_stack_names_its_stack_and_region_for_the_environment(environment: str) -> None:
    regions = set()
    for stack in STACKS:
        settings = deploy.plan(stack, environment).settings
        assert settings["stack_name"] == f"orderflow-{environment}-{stack}"
        assert settings["s3_prefix"] == settings["stack_name"]
        assert "CAPABILITY_IAM" in settings["capabilities"].split()
        assert settings["resolve_s3"] is True
        regions.add(settings["region"])
    # SSM parameters are regional: a service reads infra's only in infra's region.
    assert len(regions) == 1


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_each_service_reads_the_ssm_parameters_its_environment_s_infra_publishes(environment: str) -> None:
    infra = deploy.plan("infra", environment).overrides
    prefix = infra["SharedParameterPrefix"]
    assert prefix == f"/orderflow-{environment}"
    assert infra["EventBusName"] == f"orderflow-{environment}"
    # The bus and key policies admit the roles of the stacks infra's *StackName parameters name.
    named = [
        name
        for name in load_template(stack_folder("infra") / "template.yaml")["Parameters"]
        if name.endswith("StackName")
    ]
    assert "OrdersStackName" in named
    for name in named:
        service = name.removesuffix("StackName").lower()
        assert infra.get(name) == deploy.plan(service, environment).settings["stack_name"], name
    for stack in STACKS[1:]:
        overrides = deploy.plan(stack, environment).overrides
        declared = load_template(stack_folder(stack) / "template.yaml")["Parameters"]
        shared = {name: value for name, value in declared.items() if is_ssm_parameter(value)}
        assert shared, stack
        for name, declaration in shared.items():
            # The template's default is the name under /orderflow; the environment's is under its prefix.
            assert overrides.get(name) == prefix + declaration["Default"].removeprefix("/orderflow"), (
                stack,
                name,
            )


def test_no_samconfig_has_a_default_environment() -> None:
    # `sam deploy` without --config-env would deploy the default one: there is none to deploy.
    for stack in STACKS:
        config = tomllib.loads((stack_folder(stack) / "samconfig.toml").read_text())
        assert sorted(name for name, value in config.items() if isinstance(value, dict)) == sorted(
            ENVIRONMENTS
        )


def _record_commands(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, failing: str | None
) -> list[tuple[Path, list[str], str]]:
    fake_sam = tmp_path / "sam"
    fake_sam.write_text("")
    monkeypatch.setattr(deploy, "SAM", fake_sam)  # installed, as far as the deployment can tell
    ran: list[tuple[Path, list[str], str]] = []

    def run(
        argv: list[str], *, cwd: Path, env: dict[str, str], **kwargs: Any
    ) -> subprocess.CompletedProcess[str]:
        ran.append((cwd, argv, env["SAM_CLI_TELEMETRY"]))
        return subprocess.CompletedProcess(argv, 7 if argv[1] == failing else 0)

    monkeypatch.setattr(subprocess, "run", run)
    return ran
