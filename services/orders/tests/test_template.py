"""template.yaml keeps the service conventions."""

from __future__ import annotations

import pytest

from orderflow_devtools.testing.template import convention_problems

from .conftest import TEMPLATE


@pytest.mark.usefixtures("api")  # importing the API handler needs the tables and state machine it names
def test_the_template_keeps_the_service_conventions() -> None:
    assert convention_problems(TEMPLATE) == []
