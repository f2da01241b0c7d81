"""The orders API: POST /orders, GET /orders/{orderId} and its invoice (API Gateway REST, Lambda proxy)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.exceptions import ForbiddenError, NotFoundError, ServiceError
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path
from pydantic import ValidationError

from orderflow_shared.api.caller import SIGNED_IN, caller_from
from orderflow_shared.api.parameters import NotNullable
from orderflow_shared.api.resolver import json_api_resolver
from orderflow_shared.api.responses import api_responses, error, header, json_answer, redirect
from orderflow_shared.entry_points import api_handler
from orders.domain.order import CustomerMismatch, OrderBody, OrderingCustomer, PlaceOrderRequest
from orders.handlers.wiring import (
    TELEMETRY,
    idempotency_config,
    invoice_downloads,
    once_per_retry_identity,
    orders_service,
)
from orders.representation import OrderView

logger, metrics = TELEMETRY.logger, TELEMETRY.metrics
app = json_api_resolver()

OrderId = Annotated[str, Path(min_length=1, max_length=80)]
IdempotencyKey = Annotated[
    str | None, NotNullable(), Header(alias="Idempotency-Key", min_length=1, max_length=255)
]


def place_order_once(retry_identity: dict[str, Any], request: PlaceOrderRequest, key: str) -> dict[str, Any]:
    """Run once per ``retry_identity`` (the caller and the Idempotency-Key); the idempotency records
    are keyed by this function's module and name, so renaming either forgets the retries in flight."""
    return orders_service().place_order(request, idempotency_key=key)


@app.post(
    "/orders",
    operation_id="createOrder",
    summary="Place an order",
    tags=["orders"],
    security=SIGNED_IN,
    responses=api_responses(
        {
            201: json_answer(
                OrderView,
                "Received: the order is stored and its saga started (a retry with the same "
                "Idempotency-Key answers the same order)",
                {"Location": header("The order's URL", r"^/orders/[^/]+$")},
            ),
            403: error("The customer block names someone other than the caller, or the token has no email"),
            409: error("A request with this Idempotency-Key is in progress"),
        },
        takes_body=True,
        refusal_422="the Idempotency-Key was already used with a different request",
    ),
)
def create_order(
    body: Annotated[OrderBody, Body()], idempotency_key: IdempotencyKey = None
) -> Response[dict[str, Any]]:
    order = _placed_by_caller(body)
    if idempotency_key is None:
        view = orders_service().place_order(order)
    else:
        view = _placed_once(order, idempotency_key)
    logger.set_correlation_id(view["orderId"])
    logger.info("order received", extra={"order_id": view["orderId"]})
    metrics.add_metric(name="OrdersReceived", unit="Count", value=1)
    return Response(
        status_code=HTTPStatus.CREATED,
        content_type="application/json",
        body=view,
        headers={"Location": f"/orders/{view['orderId']}"},
    )


@app.get(
    "/orders/<order_id>",
    operation_id="getOrder",
    summary="An order's status, history, total and invoice",
    tags=["orders"],
    security=SIGNED_IN,
    responses=api_responses(
        {200: json_answer(OrderView, "The order"), 404: error("No such order")},
    ),
)
def get_order(order_id: OrderId) -> dict[str, Any]:
    return _readable_order(order_id)


@app.get(
    "/orders/<order_id>/invoice",
    operation_id="getOrderInvoice",
    summary="Download an order's invoice (PDF): a redirect to a short-lived link",
    tags=["orders"],
    security=SIGNED_IN,
    responses=api_responses(
        {
            302: redirect(
                "The invoice PDF is at Location, a link signed for this download that expires within "
                "minutes (follow it without the Authorization header)",
                {
                    "Location": header("A presigned download of the invoice PDF", r"^https?://\S+$"),
                    "Cache-Control": header("Never keep the signed link", r"^no-store$"),
                },
            ),
            404: error("No such order, or the order has no invoice yet"),
        },
    ),
)
def get_order_invoice(order_id: OrderId) -> Response[None]:
    view = _readable_order(order_id)
    # Invoicing announces the invoice (InvoiceGenerated) only once its PDF is stored.
    if "invoiceNumber" not in view:
        raise NotFoundError(f"order {order_id} has no invoice yet")
    return Response(
        status_code=HTTPStatus.FOUND,
        headers={"Location": invoice_downloads().url(order_id), "Cache-Control": "no-store"},
    )


def _placed_once(order: PlaceOrderRequest, idempotency_key: str) -> dict[str, Any]:
    """The order placed once per caller and Idempotency-Key: a retry is answered with the first view."""
    from aws_lambda_powertools.utilities.idempotency.exceptions import (
        IdempotencyAlreadyInProgressError,
        IdempotencyValidationError,
    )

    # A placement interrupted by a timeout then blocks its retries only until this invocation's
    # deadline, not for the whole record lifetime.
    idempotency_config().register_lambda_context(app.lambda_context)
    identity = {"key": f"{order.customer.id}:{idempotency_key}", "body": order.to_wire()}
    try:
        return once_per_retry_identity(place_order_once)(
            retry_identity=identity, request=order, key=idempotency_key
        )
    except IdempotencyValidationError as error:
        raise ServiceError(
            HTTPStatus.UNPROCESSABLE_ENTITY, "Idempotency-Key was already used with a different request"
        ) from error
    except IdempotencyAlreadyInProgressError as error:
        raise ServiceError(
            HTTPStatus.CONFLICT, "a request with this Idempotency-Key is in progress"
        ) from error


def _readable_order(order_id: str) -> dict[str, Any]:
    """The order as the caller may see it: their own, or any if they are an operator."""
    logger.set_correlation_id(order_id)
    caller = caller_from(app.current_event)
    view = orders_service().get_order(order_id)
    # Another customer's order is answered exactly like one that does not exist.
    if view is None or not (caller.is_operator or view["customerId"] == caller.username):
        raise NotFoundError(f"order {order_id} not found")
    return view


def _placed_by_caller(body: OrderBody) -> PlaceOrderRequest:
    """The order as the signed-in caller places it: customer id and email come from their token."""
    caller = caller_from(app.current_event)
    if caller.email is None:
        raise ForbiddenError("the token carries no email for the confirmation")
    try:
        return body.placed_by(OrderingCustomer(id=caller.username, email=caller.email))
    except ValidationError as invalid:
        raise ForbiddenError("the token's username or email cannot place an order") from invalid
    except CustomerMismatch as mismatch:
        raise ForbiddenError(str(mismatch)) from mismatch


handler = api_handler(TELEMETRY, app)
