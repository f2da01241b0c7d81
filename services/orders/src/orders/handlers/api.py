"""The orders API: POST /orders, GET /orders/{orderId} and its invoice (API Gateway REST, Lambda proxy)."""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from http import HTTPStatus
from typing import Annotated, Any, TypeVar

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.exceptions import ForbiddenError, NotFoundError, ServiceError
from aws_lambda_powertools.event_handler.openapi.params import Body, Header, Path
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyValidationError,
)
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from orderflow_shared.api import (
    SIGNED_IN,
    NotNullable,
    api_responses,
    caller_from,
    error,
    header,
    json_answer,
    json_api_resolver,
    redirect,
)
from orderflow_shared.aws import client, dynamodb_table
from orderflow_shared.observability import telemetry
from orderflow_shared.payment_tokens import seal_payment_token
from orders.domain.order import CustomerMismatch, OrderBody, OrderingCustomer, PlaceOrderRequest
from orders.invoices import InvoiceDownloads
from orders.repository import OrdersRepository
from orders.representation import OrderView
from orders.service import OrdersService
from orders.workflow import OrderWorkflow

tel = telemetry()
app = json_api_resolver()
service = OrdersService(
    OrdersRepository(dynamodb_table(os.environ["ORDERS_TABLE"])),
    OrderWorkflow(client("stepfunctions"), os.environ["STATE_MACHINE_ARN"]),
    functools.partial(seal_payment_token, client("kms"), os.environ["PAYMENT_TOKEN_KEY_ARN"]),
)
invoice_downloads = InvoiceDownloads(
    client("s3"), os.environ["INVOICES_BUCKET"], int(os.environ["INVOICE_DOWNLOAD_SECONDS"])
)

# A retried POST with the same Idempotency-Key returns the first answer for 24 h; reusing a key
# for a different body is refused rather than silently answered with the other order.
idempotency_config = IdempotencyConfig(
    event_key_jmespath="key", payload_validation_jmespath="body", expires_after_seconds=24 * 3600
)
idempotency_store = DynamoDBPersistenceLayer(
    table_name=os.environ["IDEMPOTENCY_TABLE"], boto3_client=client("dynamodb")
)

OrderId = Annotated[str, Path(min_length=1, max_length=80)]
IdempotencyKey = Annotated[
    str | None, NotNullable(), Header(alias="Idempotency-Key", min_length=1, max_length=255)
]
F = TypeVar("F", bound=Callable[..., Any])


def _idempotent_per_retry_identity(function: F) -> F:
    """Powertools' (untyped) idempotent_function; the function it returns keeps the signature."""
    idempotent: F = idempotent_function(
        function,
        data_keyword_argument="retry_identity",
        config=idempotency_config,
        persistence_store=idempotency_store,
    )
    return idempotent


@_idempotent_per_retry_identity
def place_order_once(retry_identity: dict[str, Any], request: PlaceOrderRequest, key: str) -> dict[str, Any]:
    return service.place_order(request, idempotency_key=key)


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
    try:
        if idempotency_key is None:
            view = service.place_order(order)
        else:
            identity = {"key": f"{order.customer.id}:{idempotency_key}", "body": order.to_wire()}
            view = place_order_once(retry_identity=identity, request=order, key=idempotency_key)
    except IdempotencyValidationError as error:
        raise ServiceError(
            HTTPStatus.UNPROCESSABLE_ENTITY, "Idempotency-Key was already used with a different request"
        ) from error
    except IdempotencyAlreadyInProgressError as error:
        raise ServiceError(
            HTTPStatus.CONFLICT, "a request with this Idempotency-Key is in progress"
        ) from error
    tel.logger.set_correlation_id(view["orderId"])
    tel.logger.info("order received", extra={"order_id": view["orderId"]})
    tel.metrics.add_metric(name="OrdersReceived", unit="Count", value=1)
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
        headers={"Location": invoice_downloads.url(order_id), "Cache-Control": "no-store"},
    )


def _readable_order(order_id: str) -> dict[str, Any]:
    """The order as the caller may see it: their own, or any if they are an operator."""
    tel.logger.set_correlation_id(order_id)
    caller = caller_from(app.current_event)
    view = service.get_order(order_id)
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


@tel.logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
@tel.tracer.capture_lambda_handler
@tel.metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    idempotency_config.register_lambda_context(context)
    return app.resolve(event, context)
