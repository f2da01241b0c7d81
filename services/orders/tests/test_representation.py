"""What the orders API answers is what its OpenAPI document describes: no AWS."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import email_validator
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from orders.domain.order import PlaceOrderRequest, ReachableEmail, new_order_record, now_iso
from orders.representation import OrderView
from orders.service import order_view

REQUEST = PlaceOrderRequest.model_validate(
    {
        "customer": {"id": "c-1", "email": "ana@example.com"},
        "items": [{"sku": "KB-001", "quantity": 2}],
        "payment": {"token": "tok_visa"},
        "shippingAddress": {"name": "A", "line1": "1 St", "city": "X", "postalCode": "1", "country": "PT"},
    }
)
RECEIVED = new_order_record("o-1", REQUEST, now_iso(), "{}")
PRICED = {**RECEIVED, "status": "INVENTORY_CONFIRMED", "totalAmount": Decimal(5000), "currency": "USD"}
INVOICED = {**PRICED, "status": "INVOICED", "invoiceUrl": "https://x/i.pdf", "invoiceNumber": "INV-1"}
FAILED = {**RECEIVED, "status": "OUT_OF_STOCK", "failureReason": "Not enough stock for the order"}
STALLED = {**INVOICED, "stalled": {"step": "SendConfirmation", "reason": "States.Timeout", "since": ""}}


@pytest.mark.parametrize(
    "record",
    [RECEIVED, PRICED, INVOICED, FAILED, STALLED],
    ids=["received", "priced", "invoiced", "failed", "stalled"],
)
def test_every_order_view_is_an_order_view_of_the_document(record: dict[str, Any]) -> None:
    record = {**record, "history": {record["status"]: now_iso(), "RECEIVED": record["createdAt"]}}
    view = order_view(record)

    OrderView.model_validate(view)
    assert set(view) <= set(OrderView.model_json_schema(by_alias=True)["properties"])


def test_the_document_refuses_fields_the_view_never_sends() -> None:
    with pytest.raises(ValidationError):
        OrderView.model_validate({**order_view(RECEIVED), "paymentToken": "tok_visa"})


TOP_LEVEL = st.sampled_from(["com", "io", "example", "Test", *email_validator.SPECIAL_USE_DOMAIN_NAMES])
ADDRESS = st.builds(
    "{}@{}{}".format,
    st.from_regex(r"[a-z0-9!#$%&'*+/=?^_`{|}~-]{1,8}", fullmatch=True),
    st.sampled_from(["", "mail.", "a.b."]),
    TOP_LEVEL,
)


@given(ADDRESS)
def test_an_email_is_refused_exactly_when_the_document_says(address: str) -> None:
    schema = TypeAdapter(ReachableEmail).json_schema()
    documented = re.search(schema["pattern"], address) and not re.search(schema["not"]["pattern"], address)
    try:
        TypeAdapter(ReachableEmail).validate_python(address)
    except ValidationError:
        assert not documented
    else:
        assert documented
