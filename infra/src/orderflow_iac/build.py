"""`python -m orderflow_iac.build SERVICE`: a deployable bundle of one service, built alone.

Lambda needs each function's code with its dependencies for the runtime in the template
(python3.13 on arm64). This builds that folder from the lock file, whatever machine it runs on,
and writes a copy of the service's template pointing at it, ready for
`sam deploy --template-file build/<service>/template.json`.
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
    shutil.copytree(service_root / "src" / service, code / service)
    # The contract tooling (registry, compatibility, testing) is for development, not for Lambda.
    shutil.copytree(
        SHARED_PACKAGE,
        code / "orderflow_shared",
        ignore=shutil.ignore_patterns("registry", "compatibility.py", "testing", "__pycache__"),
    )
    template = _point_at_bundle(load_template(service_root / "template.yaml"), service_root, bundle)
    (bundle / "template.json").write_text(json.dumps(template, indent=2))
    return bundle


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
