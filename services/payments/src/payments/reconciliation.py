"""Giving back what a failed order was charged, without AWS.

A failed order fences its payment (status CANCELLED: no attempt starts any more), then the
provider's charges for the order are searched and every succeeded one is refunded with its own key
(``order-<id>-refund-<chargeId>``, so a retried refund replays the first), recorded in the ledger,
and announced once as PaymentRefunded (published when the ledger has not recorded it announced).

The search alone is not proof (the provider's search is eventually consistent), so a charge id the
ledger recorded is refunded even when the search does not show it. Where the outcome of a charge
attempt is not known yet (an attempt still in flight, crashed, or that lost its answer), the
payment stays due for reconciliation and the scheduled reconciler searches again, until the
outcome is certain or ``RECONCILE_WINDOW`` after the last attempt has passed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from orderflow_shared.contracts import PaymentRefunded
from orderflow_shared.contracts.payments import PaymentRefundedData
from payments.errors import ChargeAlreadyRefunded
from payments.model import PaymentRecord, PaymentStatus, ProviderCharge, Refund, RefundRecord, refund_key

logger = logging.getLogger(__name__)

# Long after any attempt has ended at the provider (the function's timeout is minutes, a request's
# seconds) and after its search has caught up (normally within a minute, up to an hour in an
# incident): a charge not found by then was not made.
RECONCILE_WINDOW = timedelta(hours=1)
# How soon the scheduled reconciler looks at an uncertain payment again (it runs every 5 minutes).
RECHECK_AFTER = timedelta(minutes=5)
DEFAULT_REASON = "The order failed."


class RefundingProvider(Protocol):
    def find_charges(self, order_id: str) -> list[ProviderCharge]: ...
    def refund(self, charge_id: str, idempotency_key: str, reason: str) -> Refund: ...


class FencedLedger(Protocol):
    def get(self, order_id: str) -> PaymentRecord | None: ...
    def cancel(self, order_id: str, reason: str, reconcile_due: str) -> PaymentRecord: ...
    def record_refund(self, order_id: str, refund: Refund) -> RefundRecord: ...
    def record_refund_announced(self, order_id: str, charge_id: str) -> None: ...
    def schedule_reconcile(self, order_id: str, due: str) -> None: ...
    def clear_reconcile(self, order_id: str) -> None: ...
    def due_for_reconcile(self, now: str, limit: int) -> list[str]: ...


def instant(moment: datetime) -> str:
    """The one string form of a time that ``reconcileDue`` holds: fixed width, so it sorts as it compares."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Reconciliation:
    """What one reconciliation of a payment did."""

    refunds_announced: int
    certain: bool  # the payment is no longer due: every charge the order could have is refunded


@dataclass(frozen=True)
class ReconcileTiming:
    """How soon an uncertain payment is searched again, and for how long after its last attempt."""

    recheck_after: timedelta = RECHECK_AFTER
    window: timedelta = RECONCILE_WINDOW

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> ReconcileTiming:
        return cls(
            recheck_after=timedelta(
                seconds=float(env.get("RECONCILE_RECHECK_SECONDS", RECHECK_AFTER.total_seconds()))
            ),
            window=timedelta(
                seconds=float(env.get("RECONCILE_WINDOW_SECONDS", RECONCILE_WINDOW.total_seconds()))
            ),
        )


@dataclass
class ReconcileRun:
    """What one run of the scheduled reconciler did, per order id."""

    reconciled: list[str] = field(default_factory=list)
    still_due: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    refunds_announced: int = 0


class PaymentReconciler:
    def __init__(
        self,
        ledger: FencedLedger,
        provider: RefundingProvider,
        publish: Callable[[PaymentRefunded], None],
        now: Callable[[], datetime] = _utc_now,
        timing: ReconcileTiming | None = None,
    ) -> None:
        self._ledger = ledger
        self._provider = provider
        self._publish = publish
        self._now = now
        self._timing = timing or ReconcileTiming()

    def fence(self, order_id: str, reason: str) -> Reconciliation:
        """The order failed: no charge may stand for it."""
        record = self._ledger.cancel(order_id, reason, instant(self._now() + self._timing.recheck_after))
        return self.reconcile(record)

    def reconcile(self, record: PaymentRecord) -> Reconciliation:
        """Refunds every charge of the fenced payment, and keeps it due while a charge may still appear."""
        if record.status is not PaymentStatus.CANCELLED:
            raise ValueError(f"payment of order {record.order_id} is {record.status}, not CANCELLED")
        charge_ids = self._charges_of(record) if record.attempts else []
        announced = sum(self._refund(record, charge_id) for charge_id in charge_ids)
        # One key per order: a charge found is the charge, so the outcome is then known.
        certain = bool(charge_ids) or record.charge_outcome_known
        if not certain and self._window_passed(record):
            logger.warning(
                "no charge found for a cancelled payment whose outcome stayed unknown; reconciliation ends",
                extra={"last_attempt_at": record.last_attempt_at},
            )
            certain = True
        if certain:
            if record.reconcile_due is not None:
                self._ledger.clear_reconcile(record.order_id)
        else:
            self._ledger.schedule_reconcile(
                record.order_id, instant(self._now() + self._timing.recheck_after)
            )
        return Reconciliation(refunds_announced=announced, certain=certain)

    def reconcile_due(self, limit: int, out_of_time: Callable[[], bool] = lambda: False) -> ReconcileRun:
        """Reconciles the payments due now, at most ``limit`` of them, until ``out_of_time``.

        One order's failure does not stop the others: it stays due, and the next run retries it.
        """
        run = ReconcileRun()
        for order_id in self._ledger.due_for_reconcile(instant(self._now()), limit):
            if out_of_time():
                break
            try:
                outcome = self._reconcile_order(order_id)
            except Exception:
                logger.exception("reconciliation failed; the order stays due", extra={"order_id": order_id})
                run.failed.append(order_id)
                continue
            run.refunds_announced += outcome.refunds_announced
            (run.reconciled if outcome.certain else run.still_due).append(order_id)
        return run

    def _reconcile_order(self, order_id: str) -> Reconciliation:
        record = self._ledger.get(order_id)
        if record is None or record.status is not PaymentStatus.CANCELLED:
            # Only a fence makes a payment due; the index may lag behind a clear.
            self._ledger.clear_reconcile(order_id)
            return Reconciliation(refunds_announced=0, certain=True)
        return self.reconcile(record)

    def _charges_of(self, record: PaymentRecord) -> list[str]:
        found = [
            charge.charge_id for charge in self._provider.find_charges(record.order_id) if charge.succeeded
        ]
        if record.payment_id is not None and record.payment_id not in found:
            # The search may not show a fresh charge yet; the recorded charge id is proof enough.
            found.append(record.payment_id)
        return found

    def _refund(self, record: PaymentRecord, charge_id: str) -> int:
        """Refunds the charge unless the ledger recorded its refund; announces it once. 1 if announced now."""
        order_id = record.order_id
        reason = record.cancel_reason or DEFAULT_REASON
        refunded = record.refunds.get(charge_id)
        if refunded is None:
            try:
                # Also for a charge the search shows refunded already: if that refund was ours and
                # its recording was lost, the key replays it; if it was not ours, nothing is left.
                refund = self._provider.refund(charge_id, refund_key(order_id, charge_id), reason)
            except ChargeAlreadyRefunded:
                logger.warning(
                    "charge refunded outside orderflow; nothing to give back", extra={"payment_id": charge_id}
                )
                return 0
            refunded = self._ledger.record_refund(order_id, refund)
            logger.info("charge refunded", extra={"payment_id": charge_id, "refund_id": refunded.refund_id})
        if refunded.announced:
            return 0
        data = PaymentRefundedData(
            payment_id=charge_id,
            refund_id=refunded.refund_id,
            amount=refunded.amount,
            currency=refunded.currency,
            reason=reason,
        )
        self._publish(PaymentRefunded.create(order_id, data))
        self._ledger.record_refund_announced(order_id, charge_id)
        return 1

    def _window_passed(self, record: PaymentRecord) -> bool:
        if record.last_attempt_at is None:
            return True
        last_attempt = datetime.fromisoformat(record.last_attempt_at)
        return self._now() >= last_attempt + self._timing.window
