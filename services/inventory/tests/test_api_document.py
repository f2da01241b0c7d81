"""The inventory API's models say in the OpenAPI document what they refuse: no AWS."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from inventory.handlers.api import NOT_ONLY_WHITESPACE, StockAdjustment, StockView
from inventory.stock import StockLevel


@given(st.text(max_size=8))
def test_a_reason_is_refused_exactly_when_the_document_says(reason: str) -> None:
    documented = re.search(NOT_ONLY_WHITESPACE, reason) is not None
    try:
        StockAdjustment.model_validate({"delta": 1, "reason": reason})
    except ValidationError:
        assert not documented
    else:
        assert documented


@pytest.mark.parametrize("reason", ["\u3000", "\x85 \t", "\u2028"])
def test_a_reason_of_unicode_whitespace_alone_is_refused(reason: str) -> None:
    with pytest.raises(ValidationError):
        StockAdjustment.model_validate({"delta": 1, "reason": reason})


def test_the_document_says_a_delta_is_never_zero() -> None:
    assert StockAdjustment.model_json_schema()["properties"]["delta"]["not"] == {"const": 0}
    with pytest.raises(ValidationError):
        StockAdjustment.model_validate({"delta": 0, "reason": "none"})


def test_a_stock_view_sends_exactly_the_fields_it_documents() -> None:
    level = StockLevel(
        sku="KB-001", available=3, reserved=1, sold=2, unit_price=100, currency="USD", version=4
    )
    sent = StockView.of(level).model_dump(by_alias=True)

    assert set(sent) == set(StockView.model_json_schema(by_alias=True)["properties"])
    assert StockView.model_json_schema()["additionalProperties"] is False
