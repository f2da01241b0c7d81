"""Runtime patches that make moto behave like AWS where our saga relies on it.

moto (5.2.5) only runs state machine definitions when ``stepfunctions.execute_state_machine`` is
enabled, and then uses a port of LocalStack's interpreter (``moto/stepfunctions/parser``). The
order saga depends on a few behaviours that this port gets wrong or lacks (execution status-change
events, RedriveExecution), on a few of EventBridge's, on DynamoDB's atomicity, and on the events
SES publishes; each is fixed here by a small, named, reversible patch of moto's classes. ``FIXES``
lists them, each documenting the gap, what AWS does and when the fix can be dropped.

The fixes live in modules by what they patch: ``callbacks`` (task tokens and the tasks that wait on
them), ``executions`` (status-change events and RedriveExecution), ``events`` (EventBridge),
``dynamodb`` (atomic requests and transactions) and ``ses`` (configuration sets' event destinations
and the "Email Sent" events); ``time_scale`` holds the time scale, and ``_base`` the version
check and the ``Fix`` base class.

``SPEEDUPS`` (``speed``) stop moto recomputing what depends only on its input (the backend of a
host, a parsed definition, a parsed JSONPath, a service client); they change no answer.

Separately, ``apply(time_scale=...)`` multiplies every Retry interval, Wait state duration,
TimeoutSeconds and HeartbeatSeconds by a factor, so that tests exercise the real policy quickly.
This deliberately departs from AWS (which waits in real time) and is not one of ``FIXES``;
execution histories still report the declared values.

The patches reach into interpreter internals, so the package refuses any moto release other than
the one it was written against: re-verify every gap (the tests in ``infra/tests/test_moto_compat.py``
show each one on unpatched moto) before moving the pin.

Usage::

    from orderflow_local import moto_compat

    moto_compat.apply(time_scale=0.02)  # idempotent; call again to change the scale
    ...
    moto_compat.revert()  # back to stock moto
"""

from __future__ import annotations

import threading
from typing import Final

from orderflow_local.moto_compat._base import (
    SUPPORTED_MOTO_VERSION,
    Fix,
    UnsupportedMotoVersion,
    _require_supported_moto,
)

# isort: split
# The fixes import moto's internals, so they come only once _base has checked the version.
from orderflow_local.moto_compat.callbacks import (
    FirstTaskAnswerWins,
    FreshTaskTokenPerAttempt,
    HeartbeatEndpointBeforePublish,
    HeartbeatTimeoutErrorName,
    SendTaskFailureKeepsCause,
    StopExecutionWhileWaiting,
)
from orderflow_local.moto_compat.dynamodb import AtomicDynamoDBWrites
from orderflow_local.moto_compat.events import DeliveredEventsCarryAccount, ScheduleOnlyRulesMatchNoEvents
from orderflow_local.moto_compat.executions import (
    ExecutionStatusChangeEvents,
    ExecutionTimeoutRecordedAtOnce,
    RedriveExecution,
)
from orderflow_local.moto_compat.ses import ConfigurationSetEventDestinations, EmailSentEvents
from orderflow_local.moto_compat.speed import SPEEDUPS
from orderflow_local.moto_compat.time_scale import _CLOCK, TimeScale

__all__ = [
    "FIXES",
    "SPEEDUPS",
    "SUPPORTED_MOTO_VERSION",
    "Fix",
    "UnsupportedMotoVersion",
    "apply",
    "revert",
]


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------

FIXES: Final[tuple[Fix, ...]] = (
    FreshTaskTokenPerAttempt(),
    HeartbeatTimeoutErrorName(),
    StopExecutionWhileWaiting(),
    SendTaskFailureKeepsCause(),
    FirstTaskAnswerWins(),
    HeartbeatEndpointBeforePublish(),
    DeliveredEventsCarryAccount(),
    ExecutionStatusChangeEvents(),
    ExecutionTimeoutRecordedAtOnce(),
    RedriveExecution(),
    ScheduleOnlyRulesMatchNoEvents(),
    AtomicDynamoDBWrites(),
    ConfigurationSetEventDestinations(),
    EmailSentEvents(),
)

_TIME_SCALE: Final = TimeScale()
_lock = threading.Lock()


def apply(time_scale: float = 1.0) -> None:
    """Apply every fix in ``FIXES`` and set the time scale (1.0 = real time).

    Idempotent; calling it again only changes the scale, which takes effect for waits that start
    afterwards (including those of executions already running).
    """
    if not time_scale > 0:
        raise ValueError(f"time_scale must be a positive number, got {time_scale!r}")
    _require_supported_moto()
    with _lock:
        for fix in (*FIXES, *SPEEDUPS, _TIME_SCALE):
            fix.apply()
        _CLOCK.scale = float(time_scale)


def revert() -> None:
    """Undo every patch and reset the time scale, leaving moto exactly as shipped."""
    with _lock:
        for fix in reversed((*FIXES, *SPEEDUPS, _TIME_SCALE)):
            fix.revert()
        _CLOCK.scale = 1.0
