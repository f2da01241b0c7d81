"""An order as the API accepts it and as the Orders table stores it."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import email_validator
from pydantic import ConfigDict, EmailStr, Field, field_validator

from orderflow_shared.api.parameters import NotNullable
from orderflow_shared.contracts.base import Contract
from orderflow_shared.contracts.values import Customer, OrderItem, ShippingAddress
from orderflow_shared.observability import current_trace_header
from orders.domain.status import START_PENDING, OrderStatus

MAX_ORDER_LINES = 50


def _any_case(name: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in name)


# What pydantic's email check (email_validator) refuses beyond the syntax the `email` format names: a
# domain without a dot, or under a special-use name such as .test or .localhost. Said in the OpenAPI
# document too, from the validator's own list.
_DOTTED_DOMAIN = r"@[^@]+\.[^@]+$"
_SPECIAL_USE_DOMAIN = r"(@|\.)(" + "|".join(map(_any_case, email_validator.SPECIAL_USE_DOMAIN_NAMES)) + r")$"
ReachableEmail = Annotated[
    EmailStr,
    Field(json_schema_extra={"pattern": _DOTTED_DOMAIN, "not": {"pattern": _SPECIAL_USE_DOMAIN}}),
]


def _omitted_when_absent(schema: dict[str, Any]) -> None:
    schema.pop("default", None)  # a default of null would contradict the non-null type


class OrderingCustomer(Customer):
    """The customer as an order names them: an address the confirmation email can reach."""

    email: ReachableEmail


class PaymentDetails(Contract):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=255, description="Payment provider token, e.g. tok_visa")


class OrderBody(Contract):
    """The body of POST /orders. Prices are not accepted: they come from the catalogue. Who orders
    comes from the caller's token; a `customer` block, if sent, must name that same customer."""

    model_config = ConfigDict(extra="forbid")

    customer: Annotated[OrderingCustomer | None, NotNullable()] = Field(
        default=None,
        description="Optional: the signed-in customer (their token's username and email); anyone else is 403",
        json_schema_extra=_omitted_when_absent,
    )
    items: list[OrderItem] = Field(min_length=1, max_length=MAX_ORDER_LINES)
    payment: PaymentDetails
    shipping_address: ShippingAddress

    @field_validator("customer", mode="before")
    @classmethod
    def _absent_not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("leave customer out rather than send null")
        return value

    def placed_by(self, customer: OrderingCustomer) -> PlaceOrderRequest:
        """This order as `customer` places it; CustomerMismatch if the body names someone else."""
        named = self.customer
        if named is not None and (named.id != customer.id or named.email.lower() != customer.email.lower()):
            raise CustomerMismatch("the customer block names someone other than the signed-in customer")
        return PlaceOrderRequest(
            customer=customer, items=self.items, payment=self.payment, shipping_address=self.shipping_address
        )


class CustomerMismatch(ValueError):
    pass


class PlaceOrderRequest(Contract):
    """An order to place, for a customer the caller's token vouched for."""

    model_config = ConfigDict(extra="forbid")

    customer: OrderingCustomer
    items: list[OrderItem] = Field(min_length=1, max_length=MAX_ORDER_LINES)
    payment: PaymentDetails
    shipping_address: ShippingAddress


# Namespace of the order ids derived from a client's Idempotency-Key (any fixed UUID would do; it
# must never change, or retries across a deploy would mint new orders).
_RETRY_NAMESPACE = uuid.UUID("6f1b2c4e-93a7-4d5e-b8c1-0a2d3e4f5a6b")


def new_order_id() -> str:
    return str(uuid.uuid4())


def order_id_for_retries(customer_id: str, idempotency_key: str) -> str:
    """The same order id for every request a customer sends with one Idempotency-Key.

    So a client retrying after a 5xx (a crash after the order was stored, a lost response) lands on
    the order it already placed, whatever state the first attempt left behind.
    """
    return str(uuid.uuid5(_RETRY_NAMESPACE, f"{customer_id}\n{idempotency_key}"))


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_order_record(
    order_id: str, request: PlaceOrderRequest, created_at: str, execution_input: str
) -> dict[str, Any]:
    """The Orders table item for a just-received order, its saga not started yet.

    ``executionInput`` is the exact text the saga is started with, kept only until the execution
    exists (a retried start is idempotent only with the same name and input). It holds the payment
    token, sealed for payments (see ``workflow_input``), and goes with ``startPending`` in the order's
    first status change, which only a running saga causes, or when the pending-start sweep finds the
    execution.
    """
    return {
        "orderId": order_id,
        "customerId": request.customer.id,
        "items": [item.to_wire() for item in request.items],
        "status": OrderStatus.RECEIVED.value,
        "statusRank": OrderStatus.RECEIVED.rank,
        "history": {OrderStatus.RECEIVED.value: created_at},
        "createdAt": created_at,
        "startPending": START_PENDING,
        "executionInput": execution_input,
    }


def workflow_input(order_id: str, request: PlaceOrderRequest, sealed_payment_token: str) -> dict[str, Any]:
    """The order saga's execution input: everything the steps need, nothing they do not.

    The payment token travels sealed (orderflow_shared.payment_tokens): the input, the execution's
    history and the ProcessPayment command never hold the customer's token in the clear.
    """
    return {
        "orderId": order_id,
        **request.to_wire(),
        "payment": {"token": sealed_payment_token},
        # Every command and compensation the saga publishes continues the order's trace from here
        # (null while tracing is off).
        "traceHeader": current_trace_header(),
    }


def workflow_input_text(order_id: str, request: PlaceOrderRequest, sealed_payment_token: str) -> str:
    document = workflow_input(order_id, request, sealed_payment_token)
    return json.dumps(document, separators=(",", ":"), sort_keys=True)
