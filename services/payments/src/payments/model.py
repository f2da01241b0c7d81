"""The payment's vocabulary: what is asked of the provider, what it answers, what the ledger keeps."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class PaymentStatus(StrEnum):
    PENDING = "PENDING"  # a charge is being attempted (or the last attempt ended in a fault)
    SUCCEEDED = "SUCCEEDED"  # final: the customer was charged
    DECLINED = "DECLINED"  # final: the provider refused the charge
    UNAVAILABLE = "UNAVAILABLE"  # the last attempt could not reach the provider; a retry may succeed


SETTLED_STATUSES = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.DECLINED})


@dataclass(frozen=True)
class PaymentRecord:
    """One order's payment as the Payments table keeps it."""

    order_id: str
    status: PaymentStatus
    attempts: int
    amount: int
    currency: str
    payment_id: str | None = None
    announced: bool = False  # PaymentSucceeded was published
    last_error: str | None = None


@dataclass(frozen=True)
class ChargeRequest:
    order_id: str
    customer_id: str
    amount: int
    currency: str
    payment_token: str = field(repr=False)

    @property
    def idempotency_key(self) -> str:
        """One charge per order, whatever the number of deliveries or workflow retries."""
        return f"order-{self.order_id}-charge"


@dataclass(frozen=True)
class Charge:
    charge_id: str
