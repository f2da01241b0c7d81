"""The reservation sweeper: finishes settlements whose order's final word is known, and counts the
reservations held past the saga's bound without one.

A reservation with no word is never settled here: the order may be paid with its PaymentSucceeded
still on the way, and releasing its units would sell them twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from inventory.reservation import HeldReservation
from inventory.service import Inventory, Settlement

logger = logging.getLogger(__name__)


class SweepAction(StrEnum):
    SETTLE = "SETTLE"
    """The order's word is recorded: settle as it says (idempotent with the handler that recorded it)."""

    OVERDUE = "OVERDUE"
    """Held past the saga's bound with no word: counted for the alarm, left alone."""

    WAIT = "WAIT"
    """Held within the bound with no word: the order is still running."""


def sweep_action(held: HeldReservation, now: datetime, overdue_after: timedelta) -> SweepAction:
    if held.order_outcome is not None:
        return SweepAction.SETTLE
    if now - held.held_since > overdue_after:
        return SweepAction.OVERDUE
    return SweepAction.WAIT


@dataclass
class SweepReport:
    settled: list[Settlement] = field(default_factory=list)
    """Settlements this sweep applied (not those another delivery had already applied)."""
    overdue: list[HeldReservation] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    """Order ids whose settlement raised; the others were still swept."""


class Sweeper:
    def __init__(
        self,
        inventory: Inventory,
        held_reservations: Callable[[], Iterable[HeldReservation]],
        overdue_after: timedelta,
    ) -> None:
        self._inventory = inventory
        self._held_reservations = held_reservations
        self._overdue_after = overdue_after

    def sweep(self, now: datetime) -> SweepReport:
        report = SweepReport()
        for held in self._held_reservations():
            action = sweep_action(held, now, self._overdue_after)
            if action is SweepAction.OVERDUE:
                report.overdue.append(held)
            if action is not SweepAction.SETTLE or held.order_outcome is None:
                continue
            try:
                settlement = self._inventory.settle(held.order_id, held.order_outcome)
            except Exception:
                # One order's broken books must not stop the others from being settled.
                logger.exception("could not settle a held reservation", extra={"order_id": held.order_id})
                report.failed.append(held.order_id)
                continue
            if settlement is not None and settlement.applied:
                logger.info(
                    "finished a settlement left half done",
                    extra={"order_id": held.order_id, "state": settlement.state},
                )
                report.settled.append(settlement)
        return report
