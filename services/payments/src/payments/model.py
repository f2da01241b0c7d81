"""The payment's vocabulary: what is asked of the provider, what it answers, what the ledger keeps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class PaymentStatus(StrEnum):
    PENDING = "PENDING"  # a charge is being attempted (or the last attempt ended in a fault)
    SUCCEEDED = "SUCCEEDED"  # the customer was charged
    DECLINED = "DECLINED"  # final: the provider refused the charge
    UNAVAILABLE = "UNAVAILABLE"  # the last attempt could not reach the provider; a retry may succeed
    # A fence: the order failed, so no charge may stand. No attempt starts any more, and whatever
    # the provider charged for the order is refunded.
    CANCELLED = "CANCELLED"


SETTLED_STATUSES = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.DECLINED})
# No new charge attempt starts from these.
CLOSED_STATUSES = SETTLED_STATUSES | {PaymentStatus.CANCELLED}


@dataclass(frozen=True)
class RefundRecord:
    """A refund the provider confirmed, as the ledger keeps it (under its charge's id)."""

    refund_id: str
    amount: int
    currency: str
    announced: bool = False  # PaymentRefunded was published


@dataclass(frozen=True)
class PaymentRecord:
    """One order's payment as the Payments table keeps it."""

    order_id: str
    status: PaymentStatus
    attempts: int
    # None only for an order fenced before any attempt: the failure events carry no amount.
    amount: int | None
    currency: str | None
    payment_id: str | None = None
    succeeded_at: str | None = None  # when the charge was recorded: the time of PaymentSucceeded
    last_error: str | None = None
    attempts_ended: int = 0  # attempts that recorded how they ended (whatever the outcome)
    outcome_unknown: bool = False  # an attempt ended without knowing whether the provider charged
    declined: bool = False  # the charge key's outcome was a decline: certainly nothing charged
    last_attempt_at: str | None = None
    cancel_reason: str | None = None
    refunds: Mapping[str, RefundRecord] = field(default_factory=dict)  # by charge id
    reconcile_due: str | None = None  # when the scheduled reconciler should search again

    @property
    def charge_outcome_known(self) -> bool:
        """Whether the ledger alone says for certain what the provider did with the order's key.

        Every attempt uses the same key, so the provider made at most one charge: known once a
        charge id or a decline was recorded, or when every attempt ended with an answer that
        means nothing was executed. An attempt still open (in flight, or crashed) or one that lost
        the provider's answer leaves it unknown.
        """
        if self.payment_id is not None or self.declined:
            return True
        return self.attempts_ended >= self.attempts and not self.outcome_unknown


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
        return charge_key(self.order_id)


def charge_key(order_id: str) -> str:
    return f"order-{order_id}-charge"


def refund_key(order_id: str, charge_id: str) -> str:
    """One refund per charge: a retried refund replays the first instead of failing or repeating."""
    return f"order-{order_id}-refund-{charge_id}"


@dataclass(frozen=True)
class Charge:
    charge_id: str


@dataclass(frozen=True)
class ProviderCharge:
    """A charge as the provider's search shows it."""

    charge_id: str
    amount: int
    currency: str
    status: str
    amount_refunded: int = 0

    @property
    def succeeded(self) -> bool:
        return self.status == "succeeded"


@dataclass(frozen=True)
class Refund:
    refund_id: str
    charge_id: str
    amount: int
    currency: str
