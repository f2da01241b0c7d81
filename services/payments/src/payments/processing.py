"""Charging an order: the ProcessPayment step of the order workflow, without AWS.

The Payments ledger makes the step idempotent on the order: a settled payment is answered from the
ledger (a success without calling the provider again, a decline as the same decline), and every
charge carries the order's Idempotency-Key, so even a charge retried after an unknown outcome is made
once. Every delivery that answers a success publishes PaymentSucceeded, always as the same event (its
id derived from the order, its time the charge's): a repeated announcement is a copy that consumers
drop by id, so the ledger keeps no record of it.

Nothing is charged before the command is verified (``verification``): its amount must be the
order's priced reservation, and its sealed payment token must open for this order.

A cancelled payment (the order failed: see ``reconciliation``) is never charged. A charge that lands
while the fence goes up is refunded at once by the delivery that made it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from orderflow_shared.contracts import PaymentSucceeded, ProcessPayment
from orderflow_shared.contracts.orders import PaymentResult
from orderflow_shared.contracts.payments import PaymentSucceededData
from payments.errors import (
    ChargeInProgress,
    ChargeOutcomeUnknown,
    PaymentCancelled,
    PaymentDeclined,
    PaymentProviderUnavailable,
    PaymentRequestRejected,
)
from payments.model import Charge, ChargeRequest, PaymentRecord, PaymentStatus
from payments.reconciliation import Reconciliation

logger = logging.getLogger(__name__)


class PaymentProvider(Protocol):
    def charge(self, request: ChargeRequest) -> Charge: ...


class PaymentLedger(Protocol):
    def begin_attempt(self, order_id: str, amount: int, currency: str) -> PaymentRecord: ...
    def record_succeeded(self, order_id: str, payment_id: str) -> PaymentRecord: ...
    def record_declined(self, order_id: str, reason: str) -> None: ...
    def record_unavailable(self, order_id: str, reason: str, *, outcome_unknown: bool = False) -> None: ...
    def record_rejected(self, order_id: str, reason: str) -> None: ...
    def record_key_busy(self, order_id: str) -> None: ...


class PaymentProcessor:
    def __init__(
        self,
        ledger: PaymentLedger,
        provider: PaymentProvider,
        publish: Callable[[PaymentSucceeded], None],
        reconcile: Callable[[PaymentRecord], Reconciliation],
        verify: Callable[[ProcessPayment], str],
    ) -> None:
        self._ledger = ledger
        self._provider = provider
        self._publish = publish
        self._reconcile = reconcile
        self._verify = verify  # the customer's payment token, once the command proved right

    def process(self, command: ProcessPayment) -> PaymentResult:
        order_id, data = command.order_id, command.data
        payment_token = self._verify(command)
        record = self._ledger.begin_attempt(order_id, data.amount, data.currency)
        if record.status is PaymentStatus.SUCCEEDED:
            logger.info("payment already succeeded; answering from the ledger")
            return self._confirm(record)
        if record.status is PaymentStatus.DECLINED:
            logger.info("payment already declined; answering from the ledger")
            raise PaymentDeclined(record.last_error or "The payment was declined.")
        if record.status is PaymentStatus.CANCELLED:
            logger.warning("payment cancelled: the order failed; not charging")
            self._reconcile(record)  # a delivery that charged and crashed may come back this way
            raise PaymentCancelled("The order failed before it could be charged.")

        request = ChargeRequest(
            order_id=order_id,
            customer_id=data.customer_id,
            amount=data.amount,
            currency=data.currency,
            payment_token=payment_token,
        )
        try:
            charge = self._provider.charge(request)
        except PaymentDeclined as declined:
            self._ledger.record_declined(order_id, declined.cause)
            raise
        except ChargeOutcomeUnknown as unknown:
            logger.warning("charge outcome unknown on attempt %d", record.attempts)
            self._ledger.record_unavailable(order_id, unknown.cause, outcome_unknown=True)
            raise
        except PaymentProviderUnavailable as unavailable:
            logger.warning("payment provider unavailable on attempt %d", record.attempts)
            self._ledger.record_unavailable(order_id, unavailable.cause)
            raise
        except ChargeInProgress:
            # Nothing final: the delivery holding the key records the outcome.
            self._ledger.record_key_busy(order_id)
            raise
        except PaymentRequestRejected as rejected:
            self._ledger.record_rejected(order_id, str(rejected))
            raise
        record = self._ledger.record_succeeded(order_id, charge.charge_id)
        if record.status is PaymentStatus.CANCELLED:
            logger.warning("the order failed while it was being charged; refunding the charge")
            self._reconcile(record)
            raise PaymentCancelled("The order failed while it was being charged; the charge was refunded.")
        return self._confirm(record)

    def _confirm(self, record: PaymentRecord) -> PaymentResult:
        if (
            record.payment_id is None
            or record.amount is None
            or record.currency is None
            or record.succeeded_at is None
        ):
            raise ValueError(f"payment of order {record.order_id} is SUCCEEDED without its charge")
        # Published by every delivery that gets here, always as the same event: a copy costs less than
        # a write recording that the first one went out.
        self._publish(
            PaymentSucceeded.create(
                record.order_id,
                PaymentSucceededData(
                    payment_id=record.payment_id, amount=record.amount, currency=record.currency
                ),
                event_id=PaymentSucceeded.stable_event_id(record.order_id),
                occurred_at=datetime.fromisoformat(record.succeeded_at),
            )
        )
        return PaymentResult(payment_id=record.payment_id)
