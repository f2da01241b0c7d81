"""template.yaml keeps the service conventions and feeds each function exactly the contracts it routes."""

from __future__ import annotations

import pytest

from orderflow_shared.contracts import (
    Event,
    OrderOutOfStock,
    OrderPaymentFailed,
    PaymentSucceeded,
    ReserveStock,
)
from orderflow_shared.testing.template import convention_problems

from .conftest import TEMPLATE


def test_the_template_keeps_the_service_conventions() -> None:
    assert convention_problems(TEMPLATE) == []


@pytest.mark.parametrize(
    ("function", "contracts"),
    [
        ("ReserveStockFunction", [ReserveStock]),
        ("CommitStockFunction", [PaymentSucceeded]),
        ("ReleaseStockFunction", [OrderPaymentFailed, OrderOutOfStock]),
    ],
)
def test_each_consumer_is_fed_by_a_rule_for_exactly_its_contracts(
    function: str, contracts: list[type[Event]]
) -> None:
    assert TEMPLATE.rule_feeding(function)["EventPattern"] == {
        "source": sorted({contract.SOURCE for contract in contracts}),
        "detail-type": [contract.DETAIL_TYPE for contract in contracts],
    }
