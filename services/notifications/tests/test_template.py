"""template.yaml keeps the service conventions."""

from __future__ import annotations

from orderflow_devtools.testing.template import convention_problems

from .conftest import TEMPLATE


def test_the_template_keeps_the_service_conventions() -> None:
    assert convention_problems(TEMPLATE) == []
