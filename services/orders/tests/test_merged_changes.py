"""One order's status changes merged into one: the change the projector writes for a batch."""

from __future__ import annotations

import pytest

from orders.domain.projection import StatusChange, merged
from orders.domain.status import OrderStatus

T1, T2, T3 = "2026-01-01T00:00:01.000Z", "2026-01-01T00:00:02.000Z", "2026-01-01T00:00:03.000Z"
TOTALS = {"totalAmount": 5000, "currency": "USD", "lines": []}


def _change(status: OrderStatus, at: str, order_id: str = "o-1", **attributes: object) -> StatusChange:
    return StatusChange(order_id, status, {status: at}, attributes)


def test_the_facts_of_an_order_merge_into_its_furthest_status_with_every_entry_and_attribute() -> None:
    change = merged(
        [
            _change(OrderStatus.PAYMENT_SUCCESS, T2, paymentId="ch_1"),
            _change(OrderStatus.INVOICED, T3, invoiceNumber="INV-1"),
            _change(OrderStatus.INVENTORY_CONFIRMED, T1, **TOTALS),
        ]
    )

    assert change == StatusChange(
        "o-1",
        OrderStatus.INVOICED,
        {
            OrderStatus.PAYMENT_SUCCESS: T2,
            OrderStatus.INVOICED: T3,
            OrderStatus.INVENTORY_CONFIRMED: T1,
        },
        {"paymentId": "ch_1", "invoiceNumber": "INV-1", **TOTALS},
    )
    assert change.at == T3


def test_a_status_reached_twice_keeps_its_earlier_time_whichever_arrives_first() -> None:
    later_first = merged(
        [_change(OrderStatus.INVENTORY_CONFIRMED, T3), _change(OrderStatus.INVENTORY_CONFIRMED, T1)]
    )
    earlier_first = merged(
        [_change(OrderStatus.INVENTORY_CONFIRMED, T1), _change(OrderStatus.INVENTORY_CONFIRMED, T3)]
    )

    assert later_first.history == earlier_first.history == {OrderStatus.INVENTORY_CONFIRMED: T1}


def test_of_failures_of_equal_rank_the_first_to_arrive_wins_with_its_reason() -> None:
    change = merged(
        [
            _change(OrderStatus.PAYMENT_SUCCESS, T1, paymentId="ch_1"),
            _change(OrderStatus.PAYMENT_FAILED, T3, failureReason="card declined"),
            _change(OrderStatus.FAILED, T2, failureReason="other"),
        ]
    )

    assert change.status is OrderStatus.PAYMENT_FAILED
    assert change.attributes == {"failureReason": "card declined", "paymentId": "ch_1"}
    assert set(change.history) == {
        OrderStatus.PAYMENT_SUCCESS,
        OrderStatus.PAYMENT_FAILED,
        OrderStatus.FAILED,
    }


def test_a_single_change_merges_into_itself() -> None:
    change = _change(OrderStatus.INVENTORY_CONFIRMED, T1, **TOTALS)

    assert merged([change]) == change


def test_only_changes_of_one_order_merge() -> None:
    with pytest.raises(ValueError, match="different orders"):
        merged([_change(OrderStatus.INVOICED, T1), _change(OrderStatus.INVOICED, T1, order_id="o-2")])
    with pytest.raises(ValueError, match="no change"):
        merged([])
