"""`sam build` builds every function through infra/samcli/Makefile from the service's bundle, with no
Python of the runtime's version: each function says so in its Metadata, the bundle is built once per
change and linked into each function's artifact, and the check fails an artifact without its handler.

`make lint` runs the real `sam validate --lint` and `sam build` of every stack (orderflow_iac.sam)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from orderflow_iac import build
from orderflow_iac.sam import BUILT_TEMPLATE, artifact_problems
from orderflow_iac.stacks import SERVICES

from orderflow_local.templates import load_template

REPO_ROOT = Path(__file__).resolve().parents[2]
MAKEFILE = REPO_ROOT / "infra" / "samcli" / "Makefile"


@pytest.mark.parametrize("service", SERVICES)
def test_every_function_is_built_by_the_project_s_makefile_in_its_service_folder(service: str) -> None:
    folder = REPO_ROOT / "services" / service
    functions = {
        name: resource.get("Metadata", {})
        for name, resource in load_template(folder / "template.yaml")["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    assert functions
    for name, metadata in functions.items():
        assert metadata.get("BuildMethod") == "makefile", name
        assert (folder / metadata.get("ContextPath", "") / "Makefile").resolve() == MAKEFILE, name
        assert (folder / metadata.get("WorkingDirectory", "")).resolve() == folder, name


def test_the_makefile_refuses_to_build_outside_a_service_folder(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            shutil.which("make") or "make",
            "-f",
            str(MAKEFILE),
            "build-SomeFunction",
            f"ARTIFACTS_DIR={tmp_path}",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )

    assert done.returncode == 2
    assert "sam build runs this Makefile in a service's folder" in done.stderr


def test_a_service_s_functions_share_one_bundle_built_once_per_change(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    builds = []

    def fake_build(service: str, output: Path) -> Path:
        builds.append(service)
        code = output / service / "function"
        shutil.rmtree(output / service, ignore_errors=True)
        (code / service).mkdir(parents=True)
        (code / service / "__init__.py").write_text(f"BUILD = {len(builds)}\n")
        return output / service

    fingerprint = ["a"]
    monkeypatch.setattr(build, "build", fake_build)
    monkeypatch.setattr(build, "bundle_fingerprint", lambda service: fingerprint[0])
    output = tmp_path / "bundles"

    build.function_code("orders", tmp_path / "First", output)
    build.function_code("orders", tmp_path / "Second", output)
    assert builds == ["orders"]
    fingerprint[0] = "b"
    build.function_code("orders", tmp_path / "Third", output)

    assert builds == ["orders", "orders"]
    assert (tmp_path / "First" / "orders" / "__init__.py").read_text() == "BUILD = 1\n"
    assert (tmp_path / "Second" / "orders" / "__init__.py").read_text() == "BUILD = 1\n"
    assert (tmp_path / "Third" / "orders" / "__init__.py").read_text() == "BUILD = 2\n"


def test_the_fingerprint_follows_the_service_the_shared_package_and_the_lock(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for path in ("uv.lock", "services/orders/src/orders/api.py", "shared/src/orderflow_shared/events.py"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("1\n")
    (tmp_path / "services/orders/src/orders/__pycache__").mkdir()
    monkeypatch.setattr(build, "REPO_ROOT", tmp_path)
    monkeypatch.setattr(build, "SHARED_PACKAGE", tmp_path / "shared/src/orderflow_shared")
    monkeypatch.delenv("ORDERFLOW_LAMBDA_PYTHON", raising=False)
    seen = {build.bundle_fingerprint("orders")}

    (tmp_path / "services/orders/src/orders/__pycache__/api.cpython-311.pyc").write_text("local bytecode")
    assert build.bundle_fingerprint("orders") in seen  # the workspace's bytecode is never shipped
    for path in ("services/orders/src/orders/api.py", "shared/src/orderflow_shared/events.py", "uv.lock"):
        (tmp_path / path).write_text("2\n")
        fingerprint = build.bundle_fingerprint("orders")
        assert fingerprint not in seen, path
        seen.add(fingerprint)
    monkeypatch.setenv("ORDERFLOW_LAMBDA_PYTHON", "/opt/python3.13/bin/python3.13")
    assert build.bundle_fingerprint("orders") not in seen


def test_the_check_fails_a_function_whose_artifact_lacks_its_handler(tmp_path: Path) -> None:
    built = tmp_path / BUILT_TEMPLATE
    (built.parent / "ApiFunction" / "orders" / "handlers").mkdir(parents=True)
    (built.parent / "ApiFunction" / "orders" / "handlers" / "api.py").write_text("")
    (built.parent / "EmptyFunction").mkdir()
    functions = {"ApiFunction": "orders.handlers.api.handler", "EmptyFunction": "orders.handlers.api.handler"}
    built.write_text(
        json.dumps(
            {
                "Resources": {
                    name: {
                        "Type": "AWS::Serverless::Function",
                        "Properties": {"CodeUri": name, "Handler": handler},
                    }
                    for name, handler in functions.items()
                }
            }
        )
    )

    empty = built.parent / "EmptyFunction"
    assert artifact_problems(tmp_path) == [
        f"{tmp_path.name}: EmptyFunction's artifact {empty} has no orders/handlers/api.py"
    ]
