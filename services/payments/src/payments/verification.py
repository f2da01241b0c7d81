"""Checking a ProcessPayment before anything is charged: the command is not trusted, the facts are.

The amount a ProcessPayment asks for is what the workflow was told when inventory answered its
ReserveStock step; whoever held that step's task token could have answered with any total. So
payments keeps its own copy of every order's priced reservation, from the StockReserved facts that
only inventory can publish (``PricedReservations``), and charges only a command whose amount and
currency agree with it. The payment token arrives sealed for this order (orderflow_shared.
payment_tokens); a token that does not open for it refuses the command too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from orderflow_shared.contracts import ProcessPayment
from orderflow_shared.payment_tokens import UnreadablePaymentToken
from payments.errors import PaymentCommandRefused, PricedReservationNotSeen

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PricedTotal:
    amount: int
    currency: str


class PricedReservations(Protocol):
    def total(self, order_id: str) -> PricedTotal | None: ...


class ProcessPaymentVerifier:
    """``verify(command)`` answers the customer's payment token, once the command has proved right.

    Inventory publishes StockReserved before it answers its step, so the fact usually arrives first;
    it may still be in flight (its own queue), so a missing reservation is waited for a little
    (``wait_seconds``), then the command goes back to SQS (PricedReservationNotSeen).
    """

    def __init__(
        self,
        reservations: PricedReservations,
        open_token: Callable[[str, str], str],
        wait_seconds: float,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reservations = reservations
        self._open_token = open_token
        self._wait_seconds = wait_seconds
        self._sleep = sleep
        self._clock = clock

    def verify(self, command: ProcessPayment) -> str:
        order_id, data = command.order_id, command.data
        priced = self._priced_total(order_id)
        if (data.amount, data.currency) != (priced.amount, priced.currency):
            logger.error(
                "ProcessPayment disagrees with the priced reservation; not charging",
                extra={
                    "asked": f"{data.amount} {data.currency}",
                    "reserved": f"{priced.amount} {priced.currency}",
                },
            )
            raise PaymentCommandRefused(
                f"the command asks for {data.amount} {data.currency}, but the order's stock was "
                f"reserved at {priced.amount} {priced.currency}"
            )
        try:
            return self._open_token(order_id, data.payment_token)
        except UnreadablePaymentToken as unreadable:
            raise PaymentCommandRefused(str(unreadable)) from None

    def _priced_total(self, order_id: str) -> PricedTotal:
        deadline = self._clock() + self._wait_seconds
        delay = 0.05
        while (priced := self._reservations.total(order_id)) is None:
            if self._clock() >= deadline:
                raise PricedReservationNotSeen(f"no StockReserved seen yet for order {order_id}")
            self._sleep(delay)
            delay = min(delay * 2, 1.0)
        return priced
