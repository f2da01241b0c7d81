"""`python -m orderflow_iac.check`: lint and scan every template and state machine, offline.

cfn-lint (since 1.54) no longer expands SAM, so on a SAM source it misses real errors; it runs
here on each template after the SAM translator has turned it into plain CloudFormation, where it
catches them, with the house rules of orderflow_iac.cfn_rules and the serverless rules of
cfn-lint-serverless added. statelint validates each ASL file. checkov scans the same translated
templates for security misconfigurations (orderflow_iac.checkov), from its own environment.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orderflow_iac.stacks import REPO_ROOT, state_machines, templates
from orderflow_local.templates import load_template, translate

# orderflow's own rules (events:source on PutEvents, no wildcard action, a DLQ on every queue, ...).
HOUSE_RULES = Path(__file__).parent / "cfn_rules"
# The serverless rules (awslabs serverless-rules, as cfn-lint rules).
SERVERLESS_RULES = "cfn_lint_serverless.rules"
# Serverless rules left out, each because it is wrong about this design and a house rule checks what
# it means to.
REPLACED_SERVERLESS_RULES = {
    # It finds a function's log group by a LogGroupName naming the function only; the functions here
    # name theirs in LoggingConfig (created before the function, so Lambda never creates one first).
    "WS1004": "E9005 checks every function's log group and its retention, LoggingConfig included",
    # It recognises a dead-letter queue only through a Ref in a RedrivePolicy, not the GetAtt every
    # template uses, and so asks each DLQ for a DLQ of its own.
    "ES6000": "E9003 checks a DLQ on every queue that is not one",
    # It asks every event source mapping for an OnFailure destination, which Lambda supports for
    # stream sources only; an SQS source's failures go to its queue's own DLQ.
    "ES1001": "E9003 checks the DLQ of every queue a function reads",
}


def _tool(name: str) -> str:
    # The linters are installed next to this interpreter, whether or not that folder is on PATH.
    return str(Path(sys.executable).parent / name)


def translated_copy(template: Path, into: Path) -> Path:
    translated = translate(template)
    document = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Parameters": _parameters_left(template, translated.parameters, translated),
        "Conditions": translated.conditions,
        "Resources": translated.resources,
        "Outputs": translated.outputs,
    }
    # The name keeps the repository path: E9007 reads from it which service the template is.
    name = (
        template.resolve().relative_to(REPO_ROOT).as_posix()
        if template.resolve().is_relative_to(REPO_ROOT)
        else template.name
    )
    target = into / (name.replace("/", "__") + ".json")
    target.write_text(json.dumps(document, indent=1))
    return target


def _references(document: Any, name: str) -> bool:
    text = json.dumps(document)
    return json.dumps({"Ref": name}) in text or f"${{{name}}}" in text


def _parameters_left(template: Path, parameters: dict[str, Any], translated: Any) -> dict[str, Any]:
    """The parameters without those the SAM transform consumed: a parameter the source template uses
    only where SAM resolves it during the transform (a DeploymentPreference's Type) is gone from the
    translated template, and cfn-lint would call it unused (W2001). One the source does not use at all
    stays, and is reported."""
    source = load_template(template)
    body = [translated.resources, translated.outputs, translated.conditions]
    return {
        name: declaration
        for name, declaration in parameters.items()
        if _references(body, name) or not _references(source, name)
    }


def lint_templates(paths: Sequence[Path]) -> bool:
    with tempfile.TemporaryDirectory() as workdir:
        return lint_translated([translated_copy(path, Path(workdir)) for path in paths])


def lint_translated(paths: Sequence[Path]) -> bool:
    """cfn-lint with the house and serverless rules, on templates translated by translated_copy."""
    command = [
        _tool("cfn-lint"),
        "--append-rules",
        str(HOUSE_RULES),
        SERVERLESS_RULES,
        "--ignore-checks",
        *REPLACED_SERVERLESS_RULES,
        "--",
        *map(str, paths),
    ]
    return subprocess.run(command, check=False).returncode == 0  # noqa: S603 - our own files


def lint_state_machines(paths: Sequence[Path]) -> bool:
    command = [_tool("statelint"), *map(str, paths)]
    return subprocess.run(command, check=False).returncode == 0  # noqa: S603 - our own files


def main() -> int:
    # Imported here: orderflow_iac.checkov builds on translated_copy above.
    from orderflow_iac.checkov import scan_templates

    template_paths, machine_paths = templates(), state_machines()
    ok = lint_templates(template_paths) & lint_state_machines(machine_paths) & scan_templates(template_paths)
    verdict = "ok" if ok else "FAILED"
    print(f"checked {len(template_paths)} templates, {len(machine_paths)} state machines: {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
