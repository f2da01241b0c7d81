from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from orderflow_devtools.registry.generation import REPO_ROOT
from orderflow_devtools.testing import mocked_aws, use_fake_aws


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_aws(monkeypatch, "devtools")


@pytest.fixture
def aws() -> Iterator[None]:
    with mocked_aws():
        yield


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A copy of what the event contract registry reads and generates, to mutate freely."""
    services = [path.relative_to(REPO_ROOT) for path in REPO_ROOT.glob("services/*/*.yaml")]
    for relative in [
        Path("shared/contracts"),
        Path("docs/events.md"),
        Path("infra/template.yaml"),
        *services,
    ]:
        source, target = REPO_ROOT / relative, tmp_path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
    return tmp_path
