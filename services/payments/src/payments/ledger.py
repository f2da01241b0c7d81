"""The Payments table: one item per order (key ``orderId``), owned by this service.

Items: ``status`` (PENDING/SUCCEEDED/DECLINED/UNAVAILABLE/CANCELLED), ``amount`` and ``currency``,
``paymentId`` (the provider's charge id), ``lastError``, and the timestamps ``createdAt``,
``updatedAt`` and ``succeededAt`` (the charge recorded: the time PaymentSucceeded carries).

What the fence and the reconciler need to know whether a charge may exist:
``attempts`` (charge attempts begun), ``attemptsEnded`` (attempts that recorded how they ended),
``outcomeUnknown`` (an attempt lost the provider's answer), ``declinedAt``, ``lastAttemptAt``;
``cancelledAt`` and ``cancelReason`` (the fence); ``refunds`` (a map: charge id ->
``{refundId, amount, currency, refundedAt, announcedAt}``, announcedAt once PaymentRefunded was
published); ``reconcileDue`` with ``reconcileShard`` (present only while a reconciliation is due:
the sparse ``ReconcileDue`` index the scheduled reconciler queries).

Every write is one conditional UpdateItem, so concurrent deliveries cannot move a settled payment
back, and no attempt starts once the order is fenced.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from payments.model import CLOSED_STATUSES, PaymentRecord, PaymentStatus, Refund, RefundRecord

RECONCILE_INDEX = "ReconcileDue"
# The sparse index needs a partition key: every due item shares this one. Due items are few (failed
# orders whose charge outcome is not yet certain), far below one partition's throughput.
RECONCILE_SHARD = "due"

_CLOSED = "attribute_not_exists(#status) OR NOT #status IN (:succeeded, :declined, :cancelled)"
_CLOSED_VALUES = {f":{status.value.lower()}": status.value for status in CLOSED_STATUSES}
_NOT_CANCELLED = "attribute_not_exists(#status) OR #status <> :cancelled"
_NAME = re.compile(r"#(\w+)")


def _utc_now() -> str:
    return datetime.now(UTC).isoformat()


class DynamoDbPaymentLedger:
    def __init__(self, table: Any, clock: Callable[[], str] = _utc_now) -> None:
        self._table = table
        self._clock = clock

    def get(self, order_id: str) -> PaymentRecord | None:
        item = self._table.get_item(Key={"orderId": order_id}, ConsistentRead=True).get("Item")
        return _record(item) if item else None

    # --- charge attempts -----------------------------------------------------------------------

    def begin_attempt(self, order_id: str, amount: int, currency: str) -> PaymentRecord:
        """Counts a new charge attempt, unless the payment is settled or cancelled: then returns it
        unchanged."""
        try:
            item = self._update(
                order_id,
                "SET #status = :pending, #amount = :amount, #currency = :currency,"
                " #createdAt = if_not_exists(#createdAt, :now), #updatedAt = :now, #lastAttemptAt = :now"
                " ADD #attempts :one",
                {
                    ":pending": PaymentStatus.PENDING.value,
                    ":amount": amount,
                    ":currency": currency,
                    ":one": 1,
                    **_CLOSED_VALUES,
                },
                condition=_CLOSED,
            )
        except ClientError as error:
            if not _condition_failed(error):
                raise
            return self._existing(order_id)
        return _record(item)

    def record_succeeded(self, order_id: str, payment_id: str) -> PaymentRecord:
        """Marks the payment charged; the first charge id recorded is kept.

        On a cancelled payment only the charge id is kept: the status stays CANCELLED and the
        returned record says so, for the caller to refund at once.
        """
        charge = (
            "#paymentId = if_not_exists(#paymentId, :paymentId), #updatedAt = :now ADD #attemptsEnded :one"
        )
        values = {":paymentId": payment_id, ":one": 1}
        try:
            item = self._update(
                order_id,
                f"SET #status = :succeeded, #succeededAt = if_not_exists(#succeededAt, :now), {charge}",
                {
                    **values,
                    ":succeeded": PaymentStatus.SUCCEEDED.value,
                    ":cancelled": PaymentStatus.CANCELLED.value,
                },
                condition=_NOT_CANCELLED,
            )
        except ClientError as error:
            if not _condition_failed(error):
                raise
            item = self._update(order_id, f"SET {charge}", values)
        return _record(item)

    def record_declined(self, order_id: str, reason: str) -> None:
        self._end_attempt(
            order_id, PaymentStatus.DECLINED, reason, "#declinedAt = if_not_exists(#declinedAt, :now)"
        )

    def record_unavailable(self, order_id: str, reason: str, *, outcome_unknown: bool = False) -> None:
        """The attempt got no charge; ``outcome_unknown`` when the provider may have charged after all."""
        self._end_attempt(
            order_id,
            PaymentStatus.UNAVAILABLE,
            reason,
            "#outcomeUnknown = :true" if outcome_unknown else None,
        )

    def record_rejected(self, order_id: str, reason: str) -> None:
        """The provider refused the request itself: nothing was charged, the status stays as it is."""
        self._update(
            order_id,
            "SET #lastError = :reason, #updatedAt = :now ADD #attemptsEnded :one",
            {":reason": reason, ":one": 1},
        )

    def record_key_busy(self, order_id: str) -> None:
        """The attempt found the charge key in use by another delivery: it ends knowing nothing, and
        the other delivery's attempt, still open, is what the outcome depends on."""
        self._update(order_id, "SET #updatedAt = :now ADD #attemptsEnded :one", {":one": 1})

    def _end_attempt(self, order_id: str, status: PaymentStatus, reason: str, extra: str | None) -> None:
        ended = "#updatedAt = :now" + (f", {extra}" if extra else "")
        values = {":one": 1, ":true": True}
        try:
            self._update(
                order_id,
                f"SET #status = :status, #lastError = :reason, {ended} ADD #attemptsEnded :one",
                {**values, ":status": status.value, ":reason": reason, **_CLOSED_VALUES},
                condition=_CLOSED,
            )
        except ClientError as error:
            if not _condition_failed(error):
                raise
            # Settled or cancelled meanwhile: that status stands, but how this attempt ended still
            # counts for whether a charge may exist.
            self._update(order_id, f"SET {ended} ADD #attemptsEnded :one", values)

    # --- the fence and its refunds -------------------------------------------------------------

    def cancel(self, order_id: str, reason: str, reconcile_due: str) -> PaymentRecord:
        """Fences the payment: no attempt starts from now on, whatever its status was.

        Marks it due for reconciliation at ``reconcile_due`` at the same time, so that a fence whose
        refunds do not complete (a crash, a provider outage) is picked up by the scheduled reconciler.
        """
        item = self._update(
            order_id,
            "SET #status = :cancelled, #cancelledAt = if_not_exists(#cancelledAt, :now),"
            " #cancelReason = if_not_exists(#cancelReason, :reason),"
            " #refunds = if_not_exists(#refunds, :none), #attempts = if_not_exists(#attempts, :zero),"
            " #createdAt = if_not_exists(#createdAt, :now), #updatedAt = :now,"
            " #reconcileDue = :due, #reconcileShard = :shard",
            {
                ":cancelled": PaymentStatus.CANCELLED.value,
                ":reason": reason,
                ":none": {},
                ":zero": 0,
                ":due": reconcile_due,
                ":shard": RECONCILE_SHARD,
            },
        )
        return _record(item)

    def record_refund(self, order_id: str, refund: Refund) -> RefundRecord:
        """Keeps the provider's refund under its charge; an earlier record of that charge's refund wins."""
        names = {"#charge": refund.charge_id}
        value = {
            "refundId": refund.refund_id,
            "amount": refund.amount,
            "currency": refund.currency,
            "refundedAt": self._clock(),
        }
        try:
            item = self._update(
                order_id,
                "SET #refunds.#charge = :refund, #updatedAt = :now",
                {":refund": value},
                condition="attribute_not_exists(#refunds.#charge)",
                names=names,
            )
        except ClientError as error:
            if not _condition_failed(error):
                raise
            return self._existing(order_id).refunds[refund.charge_id]
        return _record(item).refunds[refund.charge_id]

    def record_refund_announced(self, order_id: str, charge_id: str) -> None:
        self._update(
            order_id,
            "SET #refunds.#charge.#announcedAt = if_not_exists(#refunds.#charge.#announcedAt, :now),"
            " #updatedAt = :now",
            {},
            names={"#charge": charge_id},
        )

    # --- reconciliation schedule ---------------------------------------------------------------

    def schedule_reconcile(self, order_id: str, due: str) -> None:
        self._update(
            order_id,
            "SET #reconcileDue = :due, #reconcileShard = :shard, #updatedAt = :now",
            {":due": due, ":shard": RECONCILE_SHARD},
        )

    def clear_reconcile(self, order_id: str) -> None:
        self._update(order_id, "SET #updatedAt = :now REMOVE #reconcileDue, #reconcileShard", {})

    def due_for_reconcile(self, now: str, limit: int) -> list[str]:
        """Ids of orders whose reconciliation is due at ``now``, the longest due first.

        The index is eventually consistent: callers re-read each record before acting on it.
        """
        response = self._table.query(
            IndexName=RECONCILE_INDEX,
            KeyConditionExpression="#reconcileShard = :shard AND #reconcileDue <= :now",
            ExpressionAttributeNames={"#reconcileShard": "reconcileShard", "#reconcileDue": "reconcileDue"},
            ExpressionAttributeValues={":shard": RECONCILE_SHARD, ":now": now},
            Limit=limit,
        )
        return [str(item["orderId"]) for item in response.get("Items", [])]

    # --- plumbing ------------------------------------------------------------------------------

    def _existing(self, order_id: str) -> PaymentRecord:
        return _record(self._table.get_item(Key={"orderId": order_id}, ConsistentRead=True)["Item"])

    def _update(
        self,
        order_id: str,
        expression: str,
        values: Mapping[str, Any],
        condition: str | None = None,
        names: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        text = f"{expression} {condition or ''}"
        # Each "#name" is the attribute of that name, unless ``names`` says otherwise (map keys).
        attribute_names = {f"#{name}": name for name in _NAME.findall(text)}
        attribute_names.update(names or {})
        all_values = {":now": self._clock(), **values}
        # DynamoDB rejects values that the expressions do not use.
        request: dict[str, Any] = {
            "Key": {"orderId": order_id},
            "UpdateExpression": expression,
            "ExpressionAttributeNames": attribute_names,
            "ExpressionAttributeValues": {
                name: value for name, value in all_values.items() if re.search(rf"{name}\b", text)
            },
            "ReturnValues": "ALL_NEW",
        }
        if condition:
            request["ConditionExpression"] = condition
        if not request["ExpressionAttributeValues"]:
            del request["ExpressionAttributeValues"]
        attributes: dict[str, Any] = self._table.update_item(**request)["Attributes"]
        return attributes


def _condition_failed(error: ClientError) -> bool:
    code: str = error.response.get("Error", {}).get("Code", "")
    return code == "ConditionalCheckFailedException"


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _refunds(value: Any) -> dict[str, RefundRecord]:
    if not isinstance(value, dict):
        return {}
    return {
        charge_id: RefundRecord(
            refund_id=str(refund["refundId"]),
            amount=int(refund["amount"]),
            currency=str(refund["currency"]),
            announced="announcedAt" in refund,
        )
        for charge_id, refund in value.items()
    }


def _record(item: dict[str, Any]) -> PaymentRecord:
    return PaymentRecord(
        order_id=item["orderId"],
        status=PaymentStatus(item["status"]),
        attempts=int(item.get("attempts", 0)),
        amount=_optional_int(item.get("amount")),
        currency=item.get("currency"),
        payment_id=item.get("paymentId"),
        succeeded_at=item.get("succeededAt"),
        last_error=item.get("lastError"),
        attempts_ended=int(item.get("attemptsEnded", 0)),
        outcome_unknown=bool(item.get("outcomeUnknown", False)),
        declined="declinedAt" in item,
        last_attempt_at=item.get("lastAttemptAt"),
        cancel_reason=item.get("cancelReason"),
        refunds=_refunds(item.get("refunds")),
        reconcile_due=item.get("reconcileDue"),
    )
