"""Order statuses, the forward-only rule of the status projection, and the mark of an order whose saga
is not known to have started."""

from __future__ import annotations

from enum import StrEnum

# The value of ``startPending`` while an order's saga is not known to have started; the attribute
# keys the sparse index the pending-start sweep reads, so it exists only on such orders.
START_PENDING = "1"


class OrderStatus(StrEnum):
    RECEIVED = "RECEIVED"
    INVENTORY_CONFIRMED = "INVENTORY_CONFIRMED"
    PAYMENT_SUCCESS = "PAYMENT_SUCCESS"
    INVOICED = "INVOICED"
    COMPLETED = "COMPLETED"
    OUT_OF_STOCK = "OUT_OF_STOCK"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    FAILED = "FAILED"

    @property
    def rank(self) -> int:
        """Position in the order's life: a status may only replace one of lower rank.

        The terminal failures outrank every step, so a late or duplicated success event can
        never resurrect a failed order, and nothing moves a terminal order again.
        """
        return _RANKS[self]

    @property
    def is_terminal(self) -> bool:
        return self in (
            OrderStatus.COMPLETED,
            OrderStatus.OUT_OF_STOCK,
            OrderStatus.PAYMENT_FAILED,
            OrderStatus.FAILED,
        )


_RANKS = {
    OrderStatus.RECEIVED: 0,
    OrderStatus.INVENTORY_CONFIRMED: 1,
    OrderStatus.PAYMENT_SUCCESS: 2,
    OrderStatus.INVOICED: 3,
    OrderStatus.COMPLETED: 4,
    OrderStatus.OUT_OF_STOCK: 5,
    OrderStatus.PAYMENT_FAILED: 5,
    OrderStatus.FAILED: 5,
}


def ordered_history(history: dict[str, str]) -> list[dict[str, str]]:
    """The history map (status -> first time reached) as the list the API returns, in life order."""
    entries = [(OrderStatus(status), at) for status, at in history.items()]
    entries.sort(key=lambda entry: (entry[0].rank, entry[1]))
    return [{"status": status.value, "at": at} for status, at in entries]
