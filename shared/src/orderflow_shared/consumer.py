"""Consuming EventBridge events delivered through a service's SQS queue.

Every subscription is rule -> queue (with a DLQ) -> Lambda. The handler gets a batch of SQS
records whose bodies are EventBridge events; each is parsed into its contract model and routed
by (source, detail-type). A record that fails is reported in ``batchItemFailures``, so only it is
redelivered and, after the queue's maxReceiveCount, lands in the DLQ: nothing is dropped.

While tracing is on, each record is handled in a segment of its own that continues the trace the
record arrived with: the event's ``metadata.traceHeader`` (the order's trace), else the message's
``AWSTraceHeader`` attribute (the trace of the PutEvents call, which EventBridge passes to SQS).
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.parser.models import EventBridgeModel
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import BaseModel, ValidationError

from orderflow_shared.contracts.base import Command, Contract, Event
from orderflow_shared.observability import handler_name, traced
from orderflow_shared.task_token import ServiceFault, TaskFailure, TaskReply

logger = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
C = TypeVar("C", bound=Command)

EventHandler = Callable[[Any], None]


class UnroutableEventError(ValueError):
    """The queue received an event its subscriptions do not cover (a rule/contract mismatch)."""


class InvalidEventError(ValueError):
    """A record its contract refuses. The message says where and why, never the values: a command
    carries its task token, ProcessPayment the payment token, and this message is logged."""


M = TypeVar("M", bound=BaseModel)


def _validated(model: type[M], data: Any, what: str) -> M:
    try:
        if isinstance(data, str):
            return model.model_validate_json(data)
        return model.model_validate(data)
    except ValidationError as invalid:
        problems = "; ".join(
            f"{'.'.join(map(str, error['loc'])) or 'body'}: {error['msg']}"
            for error in invalid.errors(include_input=False, include_url=False, include_context=False)
        )
        # from None: the original error (whose repr quotes the input) stays out of the traceback.
        raise InvalidEventError(f"{what} refused: {problems}") from None


def message_trace_header(record: SQSRecord) -> str | None:
    """The trace header SQS keeps with a message (its AWSTraceHeader system attribute)."""
    return record.attributes.aws_trace_header


class RecordConsumer:
    """An SQS batch handled record by record, with partial batch failures.

    For queues whose messages are not orderflow contracts (a schedule's ticks, AWS's own events);
    contract events go through ``EventRouter``, which builds on this.
    """

    def __init__(
        self, record_handler: Callable[..., None], raise_on_entire_batch_failure: bool = True
    ) -> None:
        """``record_handler(record)``, or ``record_handler(record, lambda_context)`` to get the context."""
        self._record_handler = record_handler
        self._processor = BatchProcessor(
            event_type=EventType.SQS, raise_on_entire_batch_failure=raise_on_entire_batch_failure
        )

    def handle(self, event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
        response = process_partial_response(
            event=event, record_handler=self._record_handler, processor=self._processor, context=context
        )
        return cast(dict[str, Any], response)  # a TypedDict: a plain dict at run time


class TracedRecordConsumer(RecordConsumer):
    """A ``RecordConsumer`` whose every record is handled in a segment of its own while tracing is on,
    continuing the message's trace header; a handler that finds the order's trace in the record (an
    AWS service's event carries none) joins it with ``observability.continue_trace``."""

    def __init__(
        self,
        record_handler: Callable[..., None],
        raise_on_entire_batch_failure: bool = True,
        logger: Logger | None = None,
    ) -> None:
        takes_context = _takes_context(record_handler)

        def traced_record(record: SQSRecord, lambda_context: LambdaContext | None = None) -> None:
            with traced(handler_name(), message_trace_header(record), logger=logger):
                if takes_context:
                    record_handler(record, lambda_context)
                else:
                    record_handler(record)

        super().__init__(traced_record, raise_on_entire_batch_failure)


def _takes_context(record_handler: Callable[..., None]) -> bool:
    return "lambda_context" in inspect.signature(record_handler).parameters


class EventRouter(RecordConsumer):
    def __init__(self, routes: Mapping[type[Event], EventHandler], logger: Logger) -> None:
        super().__init__(self._handle_record)
        self._routes = {
            (model.SOURCE, model.DETAIL_TYPE): (model, handle) for model, handle in routes.items()
        }
        self._logger = logger

    def parse(self, record: SQSRecord) -> Event:
        """The record's event, in the model of its route, for a consumer that handles a batch's events
        together rather than one by one.

        Raises ``InvalidEventError`` for a record its contract refuses and ``UnroutableEventError`` for
        an event no route covers: such a record is to be reported as a batch item failure.
        """
        event, _ = self._parse(record)
        return event

    def _parse(self, record: SQSRecord) -> tuple[Event, EventHandler]:
        envelope = _validated(EventBridgeModel, record.body, "EventBridge envelope")
        route = self._routes.get((envelope.source, envelope.detail_type))
        if route is None:
            raise UnroutableEventError(
                f"no handler for source={envelope.source!r} detail-type={envelope.detail_type!r}"
            )
        model, handle = route
        return _validated(model, envelope.detail, f"{envelope.source} {envelope.detail_type}"), handle

    def _handle_record(self, record: SQSRecord) -> None:
        event, handle = self._parse(record)
        self._logger.set_correlation_id(event.order_id)
        self._logger.append_keys(order_id=event.order_id, detail_type=event.DETAIL_TYPE)
        with traced(
            handler_name(),
            event_trace_header(event, record),
            logger=self._logger,
            order_id=event.order_id,
            handled=event.DETAIL_TYPE,
        ):
            handle(event)


def event_trace_header(event: Event, record: SQSRecord) -> str | None:
    """The trace an event continues: the order's, from its metadata, else the message's."""
    return event.metadata.trace_header or message_trace_header(record)


def answer_command(
    action: Callable[[C], Contract],
    reply: TaskReply | None = None,
    redeliver_on: tuple[type[Exception], ...] = (),
) -> Callable[[C], None]:
    """Runs a workflow command and reports its outcome through the command's task token.

    A TaskFailure is a business answer (e.g. OutOfStock) and goes back to the workflow as a typed
    error. Any other exception is reported as ``ServiceFault``: the workflow's Retry policy, not SQS
    redelivery, decides whether the step is tried again (with a fresh token), so a fault costs one
    backoff interval instead of a heartbeat timeout, and no stale command piles up in the DLQ.
    Only when the answer itself cannot be sent, or the action raised one of ``redeliver_on`` (a
    state that is not an answer, e.g. another delivery of the same command is still working), does
    the exception propagate, so SQS redelivers the command (domain actions are idempotent on the
    order id, so a redelivery is safe).
    """
    replies = reply or TaskReply()

    def run(command: C) -> None:
        try:
            result = action(command)
        except redeliver_on:
            raise
        except TaskFailure as failure:
            replies.failure(command, failure)
            return
        except Exception as error:
            logger.exception("command failed; reported to the workflow as ServiceFault")
            replies.failure(command, ServiceFault.of(error))
            return
        replies.success(command, result)

    return run
