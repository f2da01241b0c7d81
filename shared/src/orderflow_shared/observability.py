"""The Powertools setup every handler uses.

Service name, log level and metrics namespace come from the standard POWERTOOLS_* environment
variables that each template sets, so a handler only asks for its three tools.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from aws_lambda_powertools import Logger, Metrics, Tracer

METRICS_NAMESPACE = "orderflow"


@dataclass(frozen=True)
class Telemetry:
    logger: Logger
    tracer: Tracer
    metrics: Metrics


def telemetry() -> Telemetry:
    namespace = os.environ.get("POWERTOOLS_METRICS_NAMESPACE", METRICS_NAMESPACE)
    return Telemetry(logger=Logger(), tracer=Tracer(), metrics=Metrics(namespace=namespace))
