"""A service builds alone into a Lambda bundle for python3.13 on arm64 with a deployable template."""

from __future__ import annotations

from pathlib import Path

import pytest
from orderflow_iac.build import build
from orderflow_iac.check import lint_templates

from orderflow_local.templates import load_template


@pytest.fixture(scope="module")
def orders_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build("orders", tmp_path_factory.mktemp("build"))


def test_the_bundle_holds_the_service_its_shared_package_and_arm64_dependencies(orders_bundle: Path) -> None:
    code = orders_bundle / "function"
    assert (code / "orders" / "handlers" / "api.py").exists()
    assert (code / "orderflow_shared" / "contracts" / "base.py").exists()
    assert not (code / "orderflow_shared" / "testing").exists()  # development tooling stays out
    assert not (code / "orderflow_shared" / "registry").exists()
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
