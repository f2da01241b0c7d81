from __future__ import annotations

from collections.abc import Iterator

import pytest

from orderflow_devtools.testing import mocked_aws, use_fake_aws


@pytest.fixture(autouse=True)
def aws_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    use_fake_aws(monkeypatch, "shared")


@pytest.fixture
def aws() -> Iterator[None]:
    with mocked_aws():
        yield
