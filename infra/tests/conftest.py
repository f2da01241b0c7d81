from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.server import ThreadedMotoServer

from orderflow_local import moto_compat
from orderflow_local.provisioner import DeployedStack, Provisioner
from orderflow_local.stacks import INFRA_STACK

INFRA_TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "template.yaml"


@pytest.fixture
def fake_aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """moto in-process, with dummy credentials and nothing pointing at a real endpoint."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        yield


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    """The URL of a moto server of the module's own, on a free port (tests using it need sockets)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def provisioner(fake_aws: None) -> Iterator[Provisioner]:
    """A provisioner into in-process moto as the local runtime runs it: with moto_compat applied
    (stock moto has no SES v2 event destinations, for one)."""
    applied = all(fix.applied for fix in moto_compat.FIXES)
    if not applied:
        moto_compat.apply()
    try:
        yield Provisioner(lambda service: boto3.client(service, region_name="us-east-1"))
    finally:
        if not applied:
            moto_compat.revert()


@pytest.fixture
def infra(provisioner: Provisioner) -> DeployedStack:
    return provisioner.deploy(INFRA_STACK, INFRA_TEMPLATE, {})


@pytest.fixture
def write_template(tmp_path: Path) -> Callable[[dict[str, Any]], Path]:
    """Writes a template (JSON, which is YAML too) into the test's directory and returns its path."""

    def write(template: dict[str, Any]) -> Path:
        path = tmp_path / "template.yaml"
        path.write_text(json.dumps(template))
        return path

    return write
