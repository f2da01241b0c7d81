"""A service builds alone into a Lambda bundle for python3.13 on arm64 with a deployable template."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from orderflow_iac.build import LAMBDA_PYTHON, build, compile_bytecode, lambda_python
from orderflow_iac.check import lint_templates

from orderflow_local.templates import load_template


@pytest.fixture(scope="module")
def orders_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build("orders", tmp_path_factory.mktemp("build"))


def test_the_bundle_holds_the_service_its_shared_package_and_arm64_dependencies(orders_bundle: Path) -> None:
    code = orders_bundle / "function"
    assert (code / "orders" / "handlers" / "api.py").exists()
    assert (code / "orderflow_shared" / "contracts" / "base.py").exists()
    # orderflow_shared ships whole: it holds runtime code only (shared/tests/test_runtime_only.py).
    shared = Path(__file__).resolve().parents[2] / "shared" / "src" / "orderflow_shared"
    assert _sources(code / "orderflow_shared") == _sources(shared)
    for tooling in ("orderflow_devtools", "pytest", "hypothesis", "jsonschema", "moto"):
        assert not (code / tooling).exists()
    (compiled,) = (code / "pydantic_core").glob("_pydantic_core*.so")
    assert "aarch64" in compiled.name
    assert "cpython-313" in compiled.name
    requirements = (orders_bundle / "requirements.txt").read_text()
    assert "aws-lambda-powertools==" in requirements
    assert "moto" not in requirements  # test and local-runtime tools stay out of the bundle


def test_the_bundle_template_points_at_the_bundle_and_lints_clean(orders_bundle: Path) -> None:
    template = load_template(orders_bundle / "template.json")
    assert template["Globals"]["Function"]["CodeUri"] == "function/"
    definition = template["Resources"]["OrderSagaStateMachine"]["Properties"]["DefinitionS3Location"]
    assert (orders_bundle / definition).read_bytes() == (
        Path(__file__).resolve().parents[2] / "services" / "orders" / definition
    ).read_bytes()
    assert lint_templates([orders_bundle / "template.json"])


def test_the_bundle_ships_bytecode_for_the_runtime_or_none_of_another_python(orders_bundle: Path) -> None:
    code = orders_bundle / "function"
    compiled = {path.name for path in (code / "orders" / "handlers" / "__pycache__").glob("*.pyc")}
    if lambda_python() is None:
        assert compiled == set()  # the workspace's own bytecode is for another Python
        pytest.skip(f"no Python {LAMBDA_PYTHON} here to compile the bundle with")
    version = LAMBDA_PYTHON.replace(".", "")
    assert f"api.cpython-{version}.pyc" in compiled
    assert list((code / "pydantic").glob(f"__pycache__/main.cpython-{version}.pyc"))


def test_bytecode_is_compiled_with_unchecked_hashes(tmp_path: Path) -> None:
    (tmp_path / "handler.py").write_text("ANSWER = 42\n")

    compile_bytecode(tmp_path, sys.executable)

    [compiled] = (tmp_path / "__pycache__").glob("handler.*.pyc")
    flags = int.from_bytes(compiled.read_bytes()[4:8], "little")
    assert flags == 0b01  # hash-based, source never checked: a bundle never changes once built


def _sources(package: Path) -> set[str]:
    return {str(path.relative_to(package)) for path in package.rglob("*.py")}
