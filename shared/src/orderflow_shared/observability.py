"""The Powertools setup every handler uses.

Service name, log level and metrics namespace come from the standard POWERTOOLS_* environment
variables that each template sets, so a handler only asks for its tools. There is a tracer only
while tracing is on: Powertools' Tracer loads the X-Ray SDK even to stay disabled, which would cost
every cold start of a function that does not trace.

One order is one trace (below, ``traced``): each handled request, command or event is a segment
continuing the trace header it arrived with, and what it publishes carries its own header on.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit

if TYPE_CHECKING:
    from orderflow_shared.contracts.base import Command

METRICS_NAMESPACE = "orderflow"


@dataclass(frozen=True)
class Telemetry:
    logger: Logger
    metrics: Metrics
    tracer: Tracer | None  # None while tracing is off

    def record_step_latency(self, command: Command) -> None:
        """``<DetailType>StepSeconds``: from the workflow's command (the step's entry) to its answer,
        recorded by the step's owner when it answers with success."""
        self.metrics.add_metric(
            name=f"{command.DETAIL_TYPE}StepSeconds",
            unit=MetricUnit.Seconds,
            value=(datetime.now(UTC) - command.metadata.occurred_at).total_seconds(),
        )


def tracing_enabled() -> bool:
    """Whether Powertools' Tracer would trace here: not turned off by POWERTOOLS_TRACE_DISABLED, and
    running in Lambda (not outside it, nor in SAM's local emulation). Its own rule, asked without
    building a Tracer."""
    return not Tracer._is_tracer_disabled()


def telemetry() -> Telemetry:
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", METRICS_NAMESPACE)
    return Telemetry(
        logger=Logger(),
        metrics=Metrics(namespace=namespace),
        tracer=Tracer() if tracing_enabled() else None,
    )


# --- One order, one trace ------------------------------------------------------------------------
#
# An order's trace is continued across every hop by its X-Ray trace header, which travels in each
# event's ``metadata.traceHeader`` (EventBridge hands a target the header of the PutEvents call, but
# never puts it in the event, and AWS services' own events carry none). Each handled API request,
# command or event is one X-Ray segment whose parent is the header it arrived with, sent to the
# X-Ray daemon (AWS_XRAY_DAEMON_ADDRESS) when it ends. Nothing of the X-Ray SDK is imported while
# tracing is off.

TRACE_HEADER_ENVIRONMENT = "_X_AMZN_TRACE_ID"  # the invocation's own trace header, set by Lambda
SEGMENTS_ENVIRONMENT = "ORDERFLOW_TRACE_SEGMENTS"  # "true": emit segments without Powertools' tracer
# The order trace's id in every log line. Not Powertools' `xray_trace_id`, which is always the
# invocation's own trace (`_X_AMZN_TRACE_ID`): on AWS a queue-fed function runs in a trace of its own,
# linked to the order's.
TRACE_ID_KEY = "trace_id"


def segments_enabled() -> bool:
    """Whether handlers emit their segments: where Powertools traces (Lambda with active tracing), or
    where the runtime asks for them (the local runtime, which collects them)."""
    return os.environ.get(SEGMENTS_ENVIRONMENT) == "true" or tracing_enabled()


def handler_name() -> str:
    """The name of the segments this function emits: the function's, as X-Ray names its own."""
    return os.environ.get("AWS_LAMBDA_FUNCTION_NAME") or os.environ.get(
        "POWERTOOLS_SERVICE_NAME", "orderflow"
    )


@dataclass(frozen=True)
class TraceHeader:
    """``Root=<trace id>;Parent=<segment id>;Sampled=<0|1>``, the X-Amzn-Trace-Id format."""

    root: str
    parent: str | None = None
    sampled: bool = True

    @classmethod
    def parse(cls, header: str | None) -> TraceHeader | None:
        if not header:
            return None
        fields = dict(part.strip().split("=", 1) for part in header.split(";") if "=" in part)
        root = fields.get("Root", "")
        if not _TRACE_ID.fullmatch(root):
            return None
        parent = fields.get("Parent")
        return cls(
            root=root,
            parent=parent if parent and _SEGMENT_ID.fullmatch(parent) else None,
            sampled=fields.get("Sampled", "1") != "0",
        )

    def __str__(self) -> str:
        parent = f";Parent={self.parent}" if self.parent else ""
        return f"Root={self.root}{parent};Sampled={int(self.sampled)}"


_TRACE_ID = re.compile(r"1-[0-9a-f]{8}-[0-9a-f]{24}")
_SEGMENT_ID = re.compile(r"[0-9a-f]{16}")


class TraceSegment:
    """The segment of one handled request, command or event; emitted when it ends."""

    def __init__(self, name: str, parent: TraceHeader | None, origin: str) -> None:
        from aws_xray_sdk.core.models.segment import Segment

        self._segment = Segment(
            name,
            traceid=parent.root if parent else None,
            parent_id=parent.parent if parent else None,
            sampled=parent.sampled if parent else True,
        )
        self._segment.origin = origin

    @property
    def trace_id(self) -> str:
        return str(self._segment.trace_id)

    @property
    def header(self) -> TraceHeader:
        """What this segment's work passes on: the same trace, with this segment as the parent."""
        return TraceHeader(root=self.trace_id, parent=str(self._segment.id), sampled=self._segment.sampled)

    def continue_from(self, parent: TraceHeader) -> None:
        """Joins the trace of ``parent`` (e.g. when the order's header is found only after the record
        was read); nothing has been sent yet, so the whole segment moves."""
        self._segment.trace_id = parent.root
        self._segment.parent_id = parent.parent
        self._segment.sampled = parent.sampled

    def annotate(self, **annotations: str) -> None:
        for key, value in annotations.items():
            self._segment.put_annotation(key, value)

    def fail(self, error: BaseException) -> None:
        import traceback

        self._segment.add_fault_flag()
        self._segment.add_exception(error, traceback.extract_tb(error.__traceback__))

    def end(self) -> None:
        self._segment.close()
        if self._segment.sampled:
            _emitter().send_entity(self._segment)


_current: ContextVar[TraceSegment | None] = ContextVar("orderflow_trace_segment", default=None)


@functools.cache
def _emitter() -> Any:
    from aws_xray_sdk.core.emitters.udp_emitter import DEFAULT_DAEMON_ADDRESS, UDPEmitter

    return UDPEmitter(os.environ.get("AWS_XRAY_DAEMON_ADDRESS", DEFAULT_DAEMON_ADDRESS))


def current_segment() -> TraceSegment | None:
    return _current.get()


def current_trace_header() -> str | None:
    """The header to pass on from here: the current segment's, else the invocation's own (Lambda's
    ``_X_AMZN_TRACE_ID``), else None (not tracing)."""
    segment = _current.get()
    if segment is not None:
        return str(segment.header)
    if not segments_enabled():
        return None
    own = TraceHeader.parse(os.environ.get(TRACE_HEADER_ENVIRONMENT))
    return str(own) if own else None


@contextlib.contextmanager
def traced(
    name: str,
    parent_header: str | None,
    *,
    logger: Logger | None = None,
    origin: str = "AWS::Lambda::Function",
    **annotations: str,
) -> Iterator[TraceSegment | None]:
    """A segment named ``name`` around the block, continuing ``parent_header`` (or the invocation's
    own trace, or a new one); its trace id in every log line of ``logger`` meanwhile. Yields None
    and does nothing while segments are off."""
    if not segments_enabled():
        yield None
        return
    parent = TraceHeader.parse(parent_header) or TraceHeader.parse(os.environ.get(TRACE_HEADER_ENVIRONMENT))
    segment = TraceSegment(name, parent, origin)
    segment.annotate(**annotations)
    token = _current.set(segment)
    if logger is not None:
        logger.append_keys(**{TRACE_ID_KEY: segment.trace_id})
    try:
        yield segment
    except BaseException as error:
        segment.fail(error)
        raise
    finally:
        _current.reset(token)
        segment.end()


def continue_trace(header: str | None, logger: Logger | None = None, **annotations: str) -> None:
    """Moves the current segment into the trace of ``header`` and annotates it, for a handler that
    learns the order's trace from what it reads (e.g. an AWS service's event, which carries none)."""
    segment = _current.get()
    if segment is None:
        return
    segment.annotate(**annotations)
    parent = TraceHeader.parse(header)
    if parent is None:
        return
    segment.continue_from(parent)
    if logger is not None:
        logger.append_keys(**{TRACE_ID_KEY: segment.trace_id})


TRACE_ROOT_TAG = "xray_root"
TRACE_PARENT_TAG = "xray_parent"


def trace_tags() -> dict[str, str]:
    """The current trace header as tags of a message that cannot carry it otherwise (an SES email,
    whose "Email Sent" event returns its tags): values of letters, digits and '-' only. Empty while
    not tracing."""
    header = TraceHeader.parse(current_trace_header())
    if header is None or not header.sampled:
        return {}
    return {TRACE_ROOT_TAG: header.root, **({TRACE_PARENT_TAG: header.parent} if header.parent else {})}


def trace_header_from_tags(tags: Mapping[str, str]) -> str | None:
    """The trace header ``trace_tags`` wrote, or None."""
    header = TraceHeader.parse(
        f"Root={tags.get(TRACE_ROOT_TAG, '')};Parent={tags.get(TRACE_PARENT_TAG, '')};Sampled=1"
    )
    return str(header) if header else None
