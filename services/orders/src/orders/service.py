"""Placing and reading orders: the use cases behind the orders API."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from orderflow_shared.publisher import EventPublisher, PublishFailedError
from orders.domain.announcements import order_received
from orders.domain.order import (
    PlaceOrderRequest,
    new_order_id,
    new_order_record,
    now_iso,
    order_id_for_retries,
    workflow_input_text,
)
from orders.domain.status import ordered_history
from orders.repository import OrdersRepository
from orders.workflow import OrderWorkflow, StartedExecution

logger = logging.getLogger(__name__)

# What a failed announcement, StartExecution or bookkeeping write may raise; anything else is a bug
# and propagates.
_AWS_ERRORS = (ClientError, BotoCoreError, PublishFailedError)


# Seals a payment token for payments, bound to its order: (order id, token) -> sealed token.
PaymentTokenSealer = Callable[[str, str], str]


class OrdersService:
    def __init__(
        self,
        repository: OrdersRepository,
        workflow: OrderWorkflow,
        publisher: EventPublisher,
        seal_payment_token: PaymentTokenSealer | None = None,  # only placing orders needs it
    ) -> None:
        self._repository = repository
        self._workflow = workflow
        self._publisher = publisher
        self._seal_payment_token = seal_payment_token

    def place_order(self, request: PlaceOrderRequest, idempotency_key: str | None = None) -> dict[str, Any]:
        """Stores the order as RECEIVED, announces it, then starts its saga: one execution per order,
        never zero, and OrderReceived before the saga's first command.

        The stored order is the commitment. It is announced and its saga started here and, should
        either fail or this process die first, by the pending-start sweep (``start_pending_sagas``);
        the execution is named after the order, so however many starts race, one execution runs, and
        every announcement of the order is the same event. With an Idempotency-Key the order id is
        derived from it, so a client's retry finds this order.
        """
        order_id = (
            order_id_for_retries(request.customer.id, idempotency_key) if idempotency_key else new_order_id()
        )
        if self._seal_payment_token is None:
            raise RuntimeError("placing orders needs a payment token sealer")
        sealed = self._seal_payment_token(order_id, request.payment.token)
        record = new_order_record(
            order_id, request, now_iso(), workflow_input_text(order_id, request, sealed)
        )
        stored = self._repository.create_or_get(record)
        if "startPending" in stored:
            # The row keeps its pending mark: the order's first status change removes it, together
            # with the start input, in the write it makes anyway (OrdersRepository.apply).
            self._start(stored)
        return order_view(stored)

    def start_pending_sagas(self, grace: timedelta = timedelta(0)) -> int:
        """Announces and starts the saga of every order still marked pending and removes its mark;
        returns how many executions it began (the orders the API could not start).

        An order keeps the mark until its first status change, so the sweep also meets orders the API
        did start whose first step takes longer than ``grace``: their start, repeated with the same
        name and input, answers the execution they have (running or ended), which was begun before
        the sweep's cutoff, and only their mark is removed. ``grace`` leaves alone the orders the API
        is starting right now.
        """
        began = 0
        # At the precision of createdAt and of Step Functions' start dates.
        cutoff = _to_milliseconds(datetime.now(UTC) - grace)
        for order_id in self._repository.pending_starts(created_before=_iso(cutoff)):
            record = self._repository.get(order_id)
            if record is None or "startPending" not in record:
                continue
            execution = self._start(record)
            if execution is None:
                continue
            try:
                self._repository.mark_started(order_id)
            except _AWS_ERRORS:
                logger.exception(
                    "saga started but not recorded; the next sweep will find it", extra={"order_id": order_id}
                )
            if not execution.began_before(cutoff):
                began += 1
        return began

    def _start(self, record: dict[str, Any]) -> StartedExecution | None:
        """Announces the order and starts its saga; None if either failed (the sweep tries again)."""
        order_id = record["orderId"]
        try:
            # Announced before the start, so that no subscriber hears of a reservation for an order
            # it was never told about; a start that fails leaves the order for the sweep, which
            # announces it again as the same event.
            self._publisher.publish(order_received(record))
            return self._workflow.start(order_id, record["executionInput"])
        except _AWS_ERRORS:
            # The order is stored: the pending-start sweep starts it. Answering an error instead
            # would invite a client without an Idempotency-Key to place the order a second time.
            logger.exception(
                "saga start failed; the pending-start sweep will start it", extra={"order_id": order_id}
            )
            return None

    def get_order(self, order_id: str) -> dict[str, Any] | None:
        record = self._repository.get(order_id)
        return order_view(record) if record else None


def order_view(record: dict[str, Any]) -> dict[str, Any]:
    """The public representation of an order (GET /orders/{orderId} and POST's answer)."""
    view: dict[str, Any] = {
        "orderId": record["orderId"],
        "status": record["status"],
        "customerId": record["customerId"],
        "items": [{"sku": item["sku"], "quantity": int(item["quantity"])} for item in record["items"]],
        "totalAmount": _int_or_none(record.get("totalAmount")),
        "currency": record.get("currency"),
        "createdAt": record["createdAt"],
        "history": ordered_history(record.get("history", {})),
    }
    for optional in ("invoiceUrl", "invoiceNumber", "failureReason", "stalled"):
        if optional in record:
            view[optional] = record[optional]
    if "failureReason" in record:
        view["reason"] = record["failureReason"]
    return view


def _to_milliseconds(moment: datetime) -> datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _int_or_none(value: Any) -> int | None:
    # DynamoDB hands numbers back as Decimal.
    return None if value is None else int(value)
