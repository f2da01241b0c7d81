"""When a confirmed order is expected at the customer's door."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

EARLIEST_BUSINESS_DAYS = 3
LATEST_BUSINESS_DAYS = 5
_SATURDAY = 5


@dataclass(frozen=True)
class DeliveryWindow:
    earliest: date
    latest: date

    def describe(self) -> str:
        return (
            f"between {self.earliest:%a %d %b %Y} and {self.latest:%a %d %b %Y} "
            f"({EARLIEST_BUSINESS_DAYS}-{LATEST_BUSINESS_DAYS} business days)"
        )


def estimated_delivery(confirmed_on: date) -> DeliveryWindow:
    return DeliveryWindow(
        earliest=add_business_days(confirmed_on, EARLIEST_BUSINESS_DAYS),
        latest=add_business_days(confirmed_on, LATEST_BUSINESS_DAYS),
    )


def add_business_days(start: date, days: int) -> date:
    """The date ``days`` working days (Monday to Friday) after ``start``."""
    current = start
    remaining = days
    while remaining:
        current += timedelta(days=1)
        if current.weekday() < _SATURDAY:
            remaining -= 1
    return current
