"""The Powertools setup every handler uses.

Service name, log level and metrics namespace come from the standard POWERTOOLS_* environment
variables that each template sets, so a handler only asks for its tools. There is a tracer only
while tracing is on: Powertools' Tracer loads the X-Ray SDK even to stay disabled, which would cost
every cold start of a function that does not trace.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from aws_lambda_powertools import Logger, Metrics, Tracer

METRICS_NAMESPACE = "orderflow"


@dataclass(frozen=True)
class Telemetry:
    logger: Logger
    metrics: Metrics
    tracer: Tracer | None  # None while tracing is off


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
