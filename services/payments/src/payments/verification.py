"""Checking a ProcessPayment before anything is charged: the command is not trusted, the seals are.

The amount a ProcessPayment asks for is what the workflow was told when inventory answered its
ReserveStock step; whoever held that step's task token could have answered with any total. So
inventory's answer carries the total sealed for payments (orderflow_shared.priced_reservations),
which the workflow passes on in the command, and payments charges only a command whose amount and
currency are the sealed ones. The payment token arrives sealed for this order too
(orderflow_shared.payment_tokens). A seal or token that does not open for the order refuses the
command.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from orderflow_shared.contracts import ProcessPayment
from orderflow_shared.priced_reservations import PricedTotal
from orderflow_shared.sealing import UnreadableSeal
from payments.errors import PaymentCommandRefused

logger = logging.getLogger(__name__)

# (order id, sealed priced reservation) -> the total inventory sealed, or UnreadableSeal.
OpenPricedReservation = Callable[[str, str], PricedTotal]
# (order id, sealed payment token) -> the customer's token, or UnreadableSeal.
OpenPaymentToken = Callable[[str, str], str]


class ProcessPaymentVerifier:
    """``verify(command)`` answers the customer's payment token, once the command has proved right."""

    def __init__(self, open_priced_reservation: OpenPricedReservation, open_token: OpenPaymentToken) -> None:
        self._open_priced_reservation = open_priced_reservation
        self._open_token = open_token

    def verify(self, command: ProcessPayment) -> str:
        order_id, data = command.order_id, command.data
        if data.priced_reservation is None:
            # A command of a workflow version from before inventory sealed its totals.
            raise PaymentCommandRefused("the command carries no total sealed by inventory")
        try:
            priced = self._open_priced_reservation(order_id, data.priced_reservation)
        except UnreadableSeal as unreadable:
            raise PaymentCommandRefused(str(unreadable)) from None
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
        except UnreadableSeal as unreadable:
            raise PaymentCommandRefused(str(unreadable)) from None
