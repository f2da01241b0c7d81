"""The Payments table: one item per order (key ``orderId``), owned by this service.

Items: ``status`` (PENDING/SUCCEEDED/DECLINED/UNAVAILABLE), ``attempts`` (charge attempts made),
``amount`` and ``currency``, ``paymentId`` (the provider's charge id), ``lastError``, and the
timestamps ``createdAt``, ``updatedAt``, ``succeededAt`` and ``announcedAt`` (PaymentSucceeded was
published). Every write is one conditional UpdateItem, so concurrent deliveries of the same command
cannot move a settled payment back.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from payments.model import PaymentRecord, PaymentStatus

_NAMES = {
    "#status": "status",
    "#attempts": "attempts",
    "#amount": "amount",
    "#currency": "currency",
    "#paymentId": "paymentId",
    "#lastError": "lastError",
    "#createdAt": "createdAt",
    "#updatedAt": "updatedAt",
    "#succeededAt": "succeededAt",
    "#announcedAt": "announcedAt",
}
_NOT_SETTLED = "attribute_not_exists(#status) OR NOT #status IN (:succeeded, :declined)"
_SETTLED_VALUES = {":succeeded": PaymentStatus.SUCCEEDED.value, ":declined": PaymentStatus.DECLINED.value}


def _utc_now() -> str:
    return datetime.now(UTC).isoformat()


class DynamoDbPaymentLedger:
    def __init__(self, table: Any, clock: Callable[[], str] = _utc_now) -> None:
        self._table = table
        self._clock = clock

    def begin_attempt(self, order_id: str, amount: int, currency: str) -> PaymentRecord:
        """Counts a new charge attempt, unless the payment is settled: then returns it unchanged."""
        try:
            item = self._update(
                order_id,
                "SET #status = :pending, #amount = :amount, #currency = :currency,"
                " #createdAt = if_not_exists(#createdAt, :now), #updatedAt = :now ADD #attempts :one",
                {
                    ":pending": PaymentStatus.PENDING.value,
                    ":amount": amount,
                    ":currency": currency,
                    ":one": 1,
                    **_SETTLED_VALUES,
                },
                condition=_NOT_SETTLED,
            )
        except ClientError as error:
            if not _condition_failed(error):
                raise
            item = self._table.get_item(Key={"orderId": order_id}, ConsistentRead=True)["Item"]
        return _record(item)

    def record_succeeded(self, order_id: str, payment_id: str) -> PaymentRecord:
        """Marks the payment charged; the first charge id recorded is kept."""
        item = self._update(
            order_id,
            "SET #status = :succeeded, #paymentId = if_not_exists(#paymentId, :paymentId),"
            " #succeededAt = if_not_exists(#succeededAt, :now), #updatedAt = :now",
            {":succeeded": PaymentStatus.SUCCEEDED.value, ":paymentId": payment_id},
        )
        return _record(item)

    def record_announced(self, order_id: str) -> None:
        self._update(order_id, "SET #announcedAt = if_not_exists(#announcedAt, :now), #updatedAt = :now", {})

    def record_declined(self, order_id: str, reason: str) -> None:
        self._record_failure(order_id, PaymentStatus.DECLINED, reason)

    def record_unavailable(self, order_id: str, reason: str) -> None:
        self._record_failure(order_id, PaymentStatus.UNAVAILABLE, reason)

    def _record_failure(self, order_id: str, status: PaymentStatus, reason: str) -> None:
        try:
            self._update(
                order_id,
                "SET #status = :status, #lastError = :reason, #updatedAt = :now",
                {":status": status.value, ":reason": reason, **_SETTLED_VALUES},
                condition=_NOT_SETTLED,
            )
        except ClientError as error:
            # A concurrent delivery settled the payment first; its outcome stands.
            if not _condition_failed(error):
                raise

    def _update(
        self, order_id: str, expression: str, values: dict[str, Any], condition: str | None = None
    ) -> dict[str, Any]:
        values = {":now": self._clock(), **values}
        # DynamoDB rejects attribute names that the expressions do not use.
        used_names = {name: attribute for name, attribute in _NAMES.items() if name in expression}
        if condition:
            used_names.update({n: a for n, a in _NAMES.items() if n in condition})
        request: dict[str, Any] = {
            "Key": {"orderId": order_id},
            "UpdateExpression": expression,
            "ExpressionAttributeNames": used_names,
            "ExpressionAttributeValues": values,
            "ReturnValues": "ALL_NEW",
        }
        if condition:
            request["ConditionExpression"] = condition
        attributes: dict[str, Any] = self._table.update_item(**request)["Attributes"]
        return attributes


def _condition_failed(error: ClientError) -> bool:
    code: str = error.response.get("Error", {}).get("Code", "")
    return code == "ConditionalCheckFailedException"


def _record(item: dict[str, Any]) -> PaymentRecord:
    return PaymentRecord(
        order_id=item["orderId"],
        status=PaymentStatus(item["status"]),
        attempts=int(item.get("attempts", 0)),
        amount=int(item["amount"]),
        currency=item["currency"],
        payment_id=item.get("paymentId"),
        announced="announcedAt" in item,
        last_error=item.get("lastError"),
    )
