"""`python -m orderflow_iac.build SERVICE`: a deployable bundle of one service, built alone.

Lambda needs each function's code with its dependencies for the runtime in the template
(python3.13 on arm64). This builds that folder from the lock file, whatever machine it runs on,
and writes a copy of the service's template pointing at it, ready for
`sam deploy --template-file build/<service>/template.json`.

The bundle ships its bytecode, compiled by a Python of the runtime's version (bytecode is read only
by the version that wrote it): found by uv, or named in ORDERFLOW_LAMBDA_PYTHON. Without one the
bundle is built without it, and every cold start compiles each module it imports.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from orderflow_iac.stacks import REPO_ROOT, SERVICES
from orderflow_local.templates import load_template

LAMBDA_PLATFORM = "aarch64-manylinux2014"  # Architectures: [arm64]
LAMBDA_PYTHON = "3.13"  # Runtime: python3.13
SHARED_PACKAGE = REPO_ROOT / "shared" / "src" / "orderflow_shared"
# Local builds' bytecode is for the workspace's Python, not the runtime's.
NOT_SHIPPED = shutil.ignore_patterns("__pycache__", "*.pyc")


def _uv() -> str:
    return os.environ.get("UV") or shutil.which("uv") or str(REPO_ROOT / ".tools" / "bin" / "uv")


def _run(*command: str) -> None:
    subprocess.run(command, check=True, cwd=REPO_ROOT)  # noqa: S603 - fixed commands, our own paths


def build(service: str, output: Path) -> Path:
    service_root = REPO_ROOT / "services" / service
    bundle = output / service
    shutil.rmtree(bundle, ignore_errors=True)
    code = bundle / "function"
    code.mkdir(parents=True)
    requirements = bundle / "requirements.txt"
    # Third-party pins of this service alone, from the one lock file of the workspace.
    _run(
        _uv(), "export", "--quiet", "--frozen", "--no-dev", "--no-hashes", "--no-header",
        "--no-emit-workspace", "--package", f"orderflow-{service}", "--output-file", str(requirements),
    )  # fmt: skip
    _run(
        _uv(), "pip", "install", "--quiet", "--target", str(code), "--python-platform", LAMBDA_PLATFORM,
        "--python-version", LAMBDA_PYTHON, "--only-binary", ":all:", "--requirement", str(requirements),
    )  # fmt: skip
    shutil.copytree(service_root / "src" / service, code / service, ignore=NOT_SHIPPED)
    shutil.copytree(SHARED_PACKAGE, code / "orderflow_shared", ignore=NOT_SHIPPED)
    interpreter = lambda_python()
    if interpreter is None:
        print(
            f"warning: no Python {LAMBDA_PYTHON} found (uv python find {LAMBDA_PYTHON}, or set "
            "ORDERFLOW_LAMBDA_PYTHON): the bundle ships without bytecode",
            file=sys.stderr,
        )
    else:
        compile_bytecode(code, interpreter)
    template = _point_at_bundle(load_template(service_root / "template.yaml"), service_root, bundle)
    (bundle / "template.json").write_text(json.dumps(template, indent=2))
    return bundle


def lambda_python() -> str | None:
    """An interpreter of the Lambda runtime's Python version, if this machine has one."""
    configured = os.environ.get("ORDERFLOW_LAMBDA_PYTHON")
    if configured:
        return configured
    found = subprocess.run(  # noqa: S603 - fixed command
        [_uv(), "python", "find", "--no-project", LAMBDA_PYTHON],
        capture_output=True,
        text=True,
        check=False,
        cwd=REPO_ROOT,
    )
    if found.returncode != 0 or not found.stdout.strip():
        return None
    return found.stdout.strip()


def compile_bytecode(code: Path, interpreter: str) -> None:
    """Compiles every module under ``code`` with ``interpreter``, so a cold start loads bytecode.

    Unchecked hashes: a bundle never changes once built, and its sources' modification times, which
    timestamp-checked bytecode is matched against, need not survive packaging (a zip keeps them to two
    seconds); a mismatch would have Python compile again on every cold start, the code folder being
    read-only.
    """
    _run(interpreter, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash", str(code))


def _point_at_bundle(template: dict[str, Any], service_root: Path, bundle: Path) -> dict[str, Any]:
    sections = [template.get("Globals", {}).get("Function", {})]
    sections += [resource.get("Properties", {}) for resource in template.get("Resources", {}).values()]
    for properties in sections:
        if isinstance(properties.get("CodeUri"), str):
            properties["CodeUri"] = "function/"
        # A SAM state machine's DefinitionUri, or a plain one's DefinitionS3Location, as a local file.
        definition = properties.get("DefinitionUri") or properties.get("DefinitionS3Location")
        if isinstance(definition, str):
            target = bundle / definition
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(service_root / definition, target)
    return template


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("service", choices=SERVICES)
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "build")
    args = parser.parse_args()
    bundle = build(args.service, args.output)
    template = bundle / "template.json"
    print(f"built {bundle}: sam deploy --template-file {template} --stack-name orderflow-{args.service}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
