"""checkov on every template, as the CloudFormation it becomes after the SAM transform.

checkov reads a SAM source only in part (no state machine, no IAM role, no API stage), so it scans
the translated copies that cfn-lint reads. It runs from its own environment (`.tools/checkov`,
installed by `make lint` from the hashed, pinned `infra/checkov/requirements.txt`): it pins boto3,
networkx and others to releases the workspace does not use.

A finding is either fixed in the template or suppressed in the Metadata of the resource it is about
(`checkov: skip: [{id, comment}]`), next to what it excuses. SAM copies a resource's Metadata onto
the main resource it generates only: an `AWS::Serverless::Api`'s goes to its RestApi, not to the
Stage generated with it, so the copy scanned here extends a RestApi's checkov skips to the stages
that name it. The checks skipped for every function are in `infra/checkov/config.yaml`, with why.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from orderflow_iac.check import translated_copy
from orderflow_iac.stacks import REPO_ROOT, templates

CHECKOV = REPO_ROOT / ".tools" / "checkov" / "bin" / "checkov"
CONFIG = REPO_ROOT / "infra" / "checkov" / "config.yaml"


def scanned_copy(template: Path, into: Path) -> Path:
    """The translated template as checkov scans it: with each RestApi's skips on its stages."""
    path = translated_copy(template, into)
    document = json.loads(path.read_text())
    extend_api_skips(document["Resources"])
    path.write_text(json.dumps(document, indent=1))
    return path


def extend_api_skips(resources: dict[str, Any]) -> None:
    for resource in resources.values():
        if resource.get("Type") != "AWS::ApiGateway::Stage":
            continue
        api = resource.get("Properties", {}).get("RestApiId")
        owner = resources.get(api.get("Ref", "")) if isinstance(api, dict) else None
        skips = (owner or {}).get("Metadata", {}).get("checkov")
        if skips and "checkov" not in resource.get("Metadata", {}):
            resource.setdefault("Metadata", {})["checkov"] = skips


def scan_templates(paths: Sequence[Path]) -> bool:
    """True when checkov finds nothing in any of the templates (suppressed findings aside)."""
    if not CHECKOV.exists():
        print(f"checkov is not installed at {CHECKOV}: `make lint` installs it", file=sys.stderr)
        return False
    with tempfile.TemporaryDirectory() as workdir:
        for path in paths:
            scanned_copy(path, Path(workdir))
        command = [str(CHECKOV), "--config-file", str(CONFIG), "--directory", workdir]
        return subprocess.run(command, check=False).returncode == 0  # noqa: S603 - our own files


def main() -> int:
    return 0 if scan_templates(templates()) else 1


if __name__ == "__main__":
    sys.exit(main())
