"""Every Lambda function's ``handler``, made the same way in every service.

A handler module parses what arrives into its model, calls the domain and answers; its ``handler``
is one of these entry points, built from the service's telemetry (``<service>.handlers.wiring``):

- ``events_handler``: an SQS batch of orderflow contracts (events and workflow commands), each
  parsed into its model and routed by source and detail-type (``EventRouter``);
- ``records_handler``: an SQS batch of messages that are not contracts (a schedule's ticks, AWS's
  own events), handed over record by record;
- ``api_handler``: an API Gateway REST proxy event, answered by a Powertools resolver;
- ``lambda_handler``: any other event, as it comes.

Around every invocation each does the same: the Lambda context in every log line, with the keys
of the previous invocation cleared; a trace segment while tracing is on; the metrics flushed.
While tracing is on, each request, record or event is also handled in a segment that continues the
trace it arrived with (``observability.traced``): one order, one trace.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from orderflow_shared.observability import Telemetry, handler_name, traced

if TYPE_CHECKING:
    # Imported by the entry points that use them: an API function never loads Powertools' batch
    # processing, nor a queue consumer its event handler.
    from aws_lambda_powertools.event_handler import APIGatewayRestResolver

    from orderflow_shared.consumer import EventHandler, EventRouter
    from orderflow_shared.contracts.base import Event

LambdaHandler = Callable[[dict[str, Any], LambdaContext], dict[str, Any]]
InvocationHook = Callable[[LambdaContext], None]


class EntryPoint:
    """``handle(event, context)`` as a function's handler, with the per-invocation telemetry.

    ``on_invocation(context)`` runs first in every invocation, for what must know the invocation
    (e.g. an idempotency config, which keeps an interrupted record locked only until its deadline).
    """

    def __init__(
        self,
        telemetry: Telemetry,
        handle: LambdaHandler,
        *,
        correlation_id_path: str | None = None,
        on_invocation: InvocationHook | None = None,
    ) -> None:
        def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
            if on_invocation is not None:
                on_invocation(context)
            return handle(event, context)

        wrapped: LambdaHandler = telemetry.metrics.log_metrics(handler)
        if telemetry.tracer is not None:
            wrapped = telemetry.tracer.capture_lambda_handler(wrapped)
        self._handler: LambdaHandler = telemetry.logger.inject_lambda_context(
            wrapped, correlation_id_path=correlation_id_path, clear_state=True
        )

    def __call__(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        return self._handler(event, context)


class EventsEntryPoint(EntryPoint):
    """An entry point for contracts, which says what its router parses (the contract tests ask)."""

    def __init__(
        self, telemetry: Telemetry, router: EventRouter, *, on_invocation: InvocationHook | None = None
    ) -> None:
        super().__init__(telemetry, router.handle, on_invocation=on_invocation)
        self.router = router


def events_handler(
    telemetry: Telemetry,
    routes: Mapping[type[Event], EventHandler],
    *,
    on_invocation: InvocationHook | None = None,
) -> EventsEntryPoint:
    """Each record's contract parsed into its model and handed to its route; a record that fails is
    reported as a batch item failure, alone."""
    from orderflow_shared.consumer import EventRouter

    return EventsEntryPoint(telemetry, EventRouter(routes, telemetry.logger), on_invocation=on_invocation)


def records_handler(
    telemetry: Telemetry, handle_record: Callable[..., None], *, raise_on_entire_batch_failure: bool = True
) -> EntryPoint:
    """``handle_record(record)`` (or ``handle_record(record, lambda_context)``) for each SQS record."""
    from orderflow_shared.consumer import TracedRecordConsumer

    consumer = TracedRecordConsumer(
        handle_record, raise_on_entire_batch_failure=raise_on_entire_batch_failure, logger=telemetry.logger
    )
    return EntryPoint(telemetry, consumer.handle)


def api_handler(telemetry: Telemetry, app: APIGatewayRestResolver) -> EntryPoint:
    """The resolver's answer; API Gateway's request id is every log line's correlation id, and the
    order a request names (its path's ``orderId``) is in every log line."""

    def handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        order_id = (event.get("pathParameters") or {}).get("orderId")
        if order_id:
            telemetry.logger.append_keys(order_id=order_id)
        with traced(
            handler_name(),
            _request_trace_header(event),
            logger=telemetry.logger,
            handled=f"{event.get('httpMethod')} {event.get('resource')}",
        ) as segment:
            response = app.resolve(event, context)
            if segment is not None:  # no JSON parse of every answer while tracing is off
                answered = order_id or _answered_order_id(response)
                if answered:
                    segment.annotate(order_id=answered)
            return response

    return EntryPoint(telemetry, handle, correlation_id_path=correlation_paths.API_GATEWAY_REST)


def lambda_handler(telemetry: Telemetry, handle: LambdaHandler) -> EntryPoint:
    def traced_handle(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        with traced(handler_name(), None, logger=telemetry.logger):
            return handle(event, context)

    return EntryPoint(telemetry, traced_handle)


def _request_trace_header(event: dict[str, Any]) -> str | None:
    """The X-Amzn-Trace-Id header API Gateway (with tracing on) adds to the request, if any."""
    for name, value in (event.get("headers") or {}).items():
        if name.lower() == "x-amzn-trace-id":
            return str(value)
    return None


def _answered_order_id(response: dict[str, Any]) -> str | None:
    """The order an answer is about (a placed order's id is known only once it is answered)."""
    import json

    body = response.get("body")
    if not isinstance(body, str) or not body.startswith("{"):
        return None
    try:
        document = json.loads(body)
    except ValueError:
        return None
    order_id = document.get("orderId") if isinstance(document, dict) else None
    return order_id if isinstance(order_id, str) else None
