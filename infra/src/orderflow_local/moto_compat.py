"""Runtime patches that make moto's Step Functions interpreter behave like AWS where our saga relies on it.

moto (5.2.5) only runs state machine definitions when ``stepfunctions.execute_state_machine`` is
enabled, and then uses a port of LocalStack's interpreter (``moto/stepfunctions/parser``). The
order saga depends on a few behaviours that this port gets wrong or lacks (execution status-change
events, RedriveExecution), and on a few of EventBridge's; each is fixed here by a small, named,
reversible patch of moto's classes. ``FIXES`` lists them, each documenting the gap, what AWS does
and when the fix can be dropped.

Separately, ``apply(time_scale=...)`` multiplies every Retry interval, Wait state duration,
TimeoutSeconds and HeartbeatSeconds by a factor, so that tests exercise the real policy quickly.
This deliberately departs from AWS (which waits in real time) and is not one of ``FIXES``;
execution histories still report the declared values.

The patches reach into interpreter internals, so the module refuses any moto release other than
the one it was written against: re-verify every gap (the tests in ``infra/tests/test_moto_compat.py``
show each one on unpatched moto) before moving the pin.

Usage::

    from orderflow_local import moto_compat

    moto_compat.apply(time_scale=0.02)  # idempotent; call again to change the scale
    ...
    moto_compat.revert()  # back to stock moto
"""

from __future__ import annotations

import abc
import copy
import dataclasses
import datetime
import json
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Final, cast

import moto

SUPPORTED_MOTO_VERSION: Final = "5.2.5"


class UnsupportedMotoVersion(RuntimeError):
    """Raised when the installed moto is not the release these patches were written against."""


def _require_supported_moto() -> None:
    # The patches replace private methods by name and rely on their bodies; on another release they
    # could silently do nothing or break the interpreter, so fail loudly instead.
    if moto.__version__ != SUPPORTED_MOTO_VERSION:
        raise UnsupportedMotoVersion(
            f"orderflow_local.moto_compat patches moto {SUPPORTED_MOTO_VERSION} internals, but moto "
            f"{moto.__version__} is installed. Pin moto=={SUPPORTED_MOTO_VERSION} or re-verify each "
            "fix against the new release (see infra/tests/test_moto_compat.py) and update the pin."
        )


# Checked before importing the internals: on another release those imports may fail first, with a
# far less helpful error.
_require_supported_moto()

# The internals below are imported only once the version is known to match.
# ruff: noqa: E402
from moto.core.responses import ActionResult, EmptyResult
from moto.events.models import EventsBackend, Rule, events_backends
from moto.events.utils import EventTemplateParser
from moto.stepfunctions.parser.api import (
    ExecutionNotRedrivable,
    ExecutionRedriveStatus,
    ExecutionStatus,
    ExecutionTimedOutEventDetails,
    HistoryEvent,
    HistoryEventType,
    StateMachineType,
    TaskTimedOut,
)
from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import (
    ErrorEqualsDecl,
)
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import (
    FailureEvent,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import (
    StatesErrorName,
)
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import (
    StatesErrorNameType,
)
from moto.stepfunctions.parser.asl.component.common.retry.jitter_strategy_decl import (
    JitterStrategyDecl,
)
from moto.stepfunctions.parser.asl.component.common.timeouts.heartbeat import Heartbeat
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import (
    Timeout,
    TimeoutSeconds,
)
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import (
    ExecutionState,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_callback,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    ResourceCondition,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
    StateTaskService,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import (
    StateTask,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_activitiy import (
    StateTaskActivity,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
    StateTaskLambda,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
    WaitFunction,
)
from moto.stepfunctions.parser.asl.eval.callback.callback import (
    CallbackEndpoint,
    CallbackOutcome,
    CallbackPoolManager,
    HeartbeatEndpoint,
    HeartbeatTimeoutError,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.evaluation_details import (
    EvaluationDetails,
    StateMachineDetails,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventManager
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
from moto.stepfunctions.parser.backend.execution import (
    BaseExecutionWorkerCommunication,
    Execution,
    SyncExecution,
)
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse

# Imported through its module: the full dotted path does not fit on one line.
StateTaskServiceCallback = state_task_service_callback.StateTaskServiceCallback

__all__ = [
    "FIXES",
    "SUPPORTED_MOTO_VERSION",
    "Fix",
    "UnsupportedMotoVersion",
    "apply",
    "revert",
]

logger = logging.getLogger(__name__)

# Marks an attribute that a patch adds to a class which only inherited it, so revert deletes it.
_INHERITED: Final = object()

_Patch = tuple[type, str, Callable[..., Any]]


class Fix(abc.ABC):
    """A named, reversible group of attribute replacements on moto classes.

    Subclasses document the moto gap, the AWS behaviour and when the fix can be dropped, and
    return their replacements from ``_patches``, which runs at apply time so that wrappers close
    over moto's own methods.
    """

    def __init__(self) -> None:
        self._saved: list[tuple[type, str, object]] = []

    @property
    def name(self) -> str:
        return type(self).__name__

    @property
    def applied(self) -> bool:
        return bool(self._saved)

    @abc.abstractmethod
    def _patches(self) -> list[_Patch]: ...

    def apply(self) -> None:
        if self.applied:
            return
        for owner, attribute, replacement in self._patches():
            self._saved.append((owner, attribute, owner.__dict__.get(attribute, _INHERITED)))
            setattr(owner, attribute, replacement)

    def revert(self) -> None:
        while self._saved:
            owner, attribute, original = self._saved.pop()
            if original is _INHERITED:
                delattr(owner, attribute)
            else:
                setattr(owner, attribute, original)

    def __repr__(self) -> str:
        return f"<{self.name} applied={self.applied}>"


def _original(owner: type, attribute: str) -> Callable[..., Any]:
    # Read before patching; every Fix patches a distinct attribute, so this is always moto's own.
    function: Callable[..., Any] = owner.__dict__[attribute]
    return function


# --------------------------------------------------------------------------------------------
# Fix 1: a fresh task token for every attempt of a .waitForTaskToken task.
# --------------------------------------------------------------------------------------------


class FreshTaskTokenPerAttempt(Fix):
    """Give every attempt of a ``.waitForTaskToken`` task its own task token.

    moto gap: ``StateTaskServiceCallback._eval_body`` creates ``$$.Task.Token`` (and its callback
    endpoint) once per state entry, outside the Retry loop in ``ExecutionState._eval_state``. Every
    retry therefore republishes the same token and waits on the same endpoint, which still holds
    the first answer (or the first timeout's interruption): each retry "finishes" at once with the
    previous outcome, so a Retry policy on a callback task never really retries.

    AWS: each attempt is a new task: its Parameters are evaluated with a new ``$$.Task.Token`` and
    the state waits for the answer to that token only. (A second answer to an earlier attempt's
    token is rejected by ``FirstTaskAnswerWins``.)

    Drop when moto creates the token per attempt (a retried callback task then publishes distinct
    tokens without this fix: ``test_retry_reuses_the_task_token_on_unpatched_moto`` fails).
    """

    def _patches(self) -> list[_Patch]:
        def _eval_execution(self: StateTaskServiceCallback, env: Environment) -> None:
            # env is this attempt's frame; the first attempt keeps the token made on state entry.
            state_data = env.states.context_object.context_object_data["State"]
            if state_data is not None and state_data["RetryCount"] > 0 and _issues_token(self):
                token = env.states.context_object.update_task_token()
                env.callback_pool_manager.add(token)
            super(StateTaskServiceCallback, self)._eval_execution(env)

        # StateTaskServiceCallback only inherits _eval_execution; revert removes this override.
        return [(StateTaskServiceCallback, "_eval_execution", _eval_execution)]


def _issues_token(state: StateTaskServiceCallback) -> bool:
    # The same condition under which StateTaskServiceCallback._eval_body creates the first token.
    return bool(
        state._is_integration_pattern()
        and ResourceCondition.WaitForTaskToken in state._supported_integration_patterns
    )


# --------------------------------------------------------------------------------------------
# Fix 2: heartbeat expiry is States.HeartbeatTimeout.
# --------------------------------------------------------------------------------------------


class HeartbeatTimeoutErrorName(Fix):
    """Report an expired HeartbeatSeconds as ``States.HeartbeatTimeout``.

    moto gap: ``HeartbeatTimeoutError`` subclasses ``TimeoutError`` and ``StateTask._from_error``
    maps every ``TimeoutError`` to ``States.Timeout``, so a missed heartbeat is indistinguishable
    from TimeoutSeconds in the history, the error output and the Retry/Catch matching.

    AWS: the task fails with ``States.HeartbeatTimeout`` (in a ``TaskTimedOut`` event for service
    integrations, ``ActivityTimedOut`` for activities). The documented ``States.Timeout`` also
    covers a missed heartbeat, so a Retrier or Catcher on ``States.Timeout`` still matches it,
    while ``States.HeartbeatTimeout`` matches only the heartbeat case.

    Drop when moto reports ``States.HeartbeatTimeout`` itself
    (``test_heartbeat_expiry_is_states_timeout_on_unpatched_moto`` then fails).
    """

    def _patches(self) -> list[_Patch]:
        error_equals = _original(ErrorEqualsDecl, "_eval_body")

        def _eval_body(self: ErrorEqualsDecl, env: Environment) -> None:
            # Keep States.Timeout matching a heartbeat timeout, as it did before the rename.
            error_name = getattr(env.stack[-1], "error_name", None)
            if error_name == _HEARTBEAT_TIMEOUT and any(
                name.error_name == _TIMEOUT for name in self.error_names
            ):
                env.stack.pop()
                env.stack.append(True)
                return
            error_equals(self, env)

        return [
            # Service integrations reach StateTask's mapping; activities map timeouts themselves.
            _heartbeat_timeout_renamed_by(StateTask),
            _heartbeat_timeout_renamed_by(StateTaskActivity),
            (ErrorEqualsDecl, "_eval_body", _eval_body),
        ]


def _heartbeat_timeout_renamed_by(state_class: type) -> _Patch:
    from_error = _original(state_class, "_from_error")

    def _from_error(self: StateTask, env: Environment, ex: Exception) -> FailureEvent:
        failure_event: FailureEvent = from_error(self, env, ex)
        if isinstance(ex, HeartbeatTimeoutError):
            return _renamed_heartbeat_timeout(env, failure_event)
        return failure_event

    return (state_class, "_from_error", _from_error)


_HEARTBEAT_TIMEOUT: Final = StatesErrorNameType.StatesHeartbeatTimeout.to_name()
_TIMEOUT: Final = StatesErrorNameType.StatesTimeout.to_name()


def _renamed_heartbeat_timeout(env: Environment, timed_out: FailureEvent) -> FailureEvent:
    # Keep moto's TaskTimedOut event (with its resource fields) and change only the error name.
    details: dict[str, Any] = copy.deepcopy(dict(timed_out.event_details or {}))
    for detail in details.values():
        detail["error"] = _HEARTBEAT_TIMEOUT
    return FailureEvent(
        env=env,
        error_name=StatesErrorName(typ=StatesErrorNameType.StatesHeartbeatTimeout),
        event_type=timed_out.event_type,
        event_details=cast(EventDetails, details),
    )


# --------------------------------------------------------------------------------------------
# Fix 3: StopExecution ends a task that waits for its token.
# --------------------------------------------------------------------------------------------


class StopExecutionWhileWaiting(Fix):
    """Let StopExecution abort an execution whose task is waiting for its token.

    moto gap: ``Environment.set_stop`` marks the program stopped but nothing wakes the thread that
    waits on the task token's callback endpoint, so the execution stays RUNNING until the task's
    TimeoutSeconds expires (never, with the default). The expiry then records a ``TaskTimedOut``,
    runs Retry/Catch, and the resulting error overwrites the stop: the execution ends FAILED with
    ``States.Timeout`` instead of ABORTED.

    AWS: StopExecution ends the execution at once with status ABORTED and an ``ExecutionAborted``
    event; the task records no failure and no Retry or Catch runs.

    Not covered: a stop during a Retry backoff still waits out the (scaled) interval, and a
    Parallel/Map whose branch is stopped this way records ``...StateSucceeded`` before the abort.

    Drop when moto interrupts callback waits on stop
    (``test_stop_execution_waits_for_the_task_timeout_on_unpatched_moto`` then fails).
    """

    def _patches(self) -> list[_Patch]:
        set_stop = _original(Environment, "set_stop")
        evaluate_with_timeout = _original(ExecutionState, "_evaluate_with_timeout")

        def _set_stop(self: Environment, *args: Any, **kwargs: Any) -> None:
            set_stop(self, *args, **kwargs)
            # Wake every waiter: the stopped frames then see the program is no longer running.
            for endpoint in list(self.callback_pool_manager._pool.values()):
                endpoint.interrupt_all()

        def _evaluate_with_timeout(self: ExecutionState, env: Environment) -> None:
            try:
                evaluate_with_timeout(self, env)
            except Exception:
                # After a stop AWS records nothing more for the task, whatever ended the attempt.
                if isinstance(env.program_state(), ProgramStopped):
                    return
                raise

        return [
            (Environment, "set_stop", _set_stop),
            (ExecutionState, "_evaluate_with_timeout", _evaluate_with_timeout),
        ]


# --------------------------------------------------------------------------------------------
# Fix 4: SendTaskFailure's cause reaches the failed task.
# --------------------------------------------------------------------------------------------


class SendTaskFailureKeepsCause(Fix):
    """Pass the ``cause`` given to SendTaskFailure on to the task it fails.

    moto gap: ``StepFunctionResponse.send_task_failure`` reads only ``taskToken`` and ``error``
    from the request and calls the backend without ``cause`` (which the interpreter's backend
    accepts). The ``TaskFailed`` event has no cause and a Catch's error output is
    ``{"Error": <error>, "Cause": null}``.

    AWS: the cause is the ``TaskFailed`` event's ``cause`` and the ``Cause`` of the error output
    that a Catch (through its ResultPath) and an uncaught failure report.

    Drop when moto forwards the cause
    (``test_send_task_failure_drops_the_cause_on_unpatched_moto`` then fails).
    """

    def _patches(self) -> list[_Patch]:
        send_task_failure = _original(StepFunctionResponse, "send_task_failure")

        def _send_task_failure(self: StepFunctionResponse) -> ActionResult:
            backend = self.stepfunction_backend
            if not isinstance(backend, StepFunctionsParserBackend):
                # Without execute_state_machine nothing runs and moto's backend takes no cause.
                result: ActionResult = send_task_failure(self)
                return result
            backend.send_task_failure(
                self._get_param("taskToken"),
                error=self._get_param("error"),
                cause=self._get_param("cause"),
            )
            return EmptyResult()

        return [(StepFunctionResponse, "send_task_failure", _send_task_failure)]


# --------------------------------------------------------------------------------------------
# Fix 5: the first answer to a task token closes the task.
# --------------------------------------------------------------------------------------------


class FirstTaskAnswerWins(Fix):
    """Close a task at the first SendTaskSuccess/SendTaskFailure for its token; reject later ones.

    moto gap: ``CallbackPoolManager.notify`` hands every answer to the token's endpoint, which
    overwrites any earlier outcome. While the execution runs, a second answer is accepted silently
    and, if it arrives before the interpreter has read the first, replaces it (a success followed
    at once by a failure ends FAILED). ``StepFunctionsParserBackend.send_task_failure`` also looks
    up tokens in executions that have ended, so a failure sent afterwards is accepted silently
    (SendTaskSuccess considers running executions only and fails with ``InvalidToken``).

    AWS: the first answer closes the task. Any later SendTaskSuccess/SendTaskFailure for that token
    (a redelivered command answering again, an answer to an earlier retry attempt's token, an
    answer after the execution ended) fails with ``TaskTimedOut`` and changes nothing.

    Not covered: the token of an attempt that timed out (TimeoutSeconds or HeartbeatSeconds) while
    the execution runs on still takes one answer silently, without effect (AWS: TaskTimedOut), and
    SendTaskHeartbeat is not checked against closed tokens.

    Drop when moto rejects repeated and late answers
    (``test_a_second_answer_is_accepted_silently_on_unpatched_moto`` then fails).
    """

    def _patches(self) -> list[_Patch]:
        notify = _original(CallbackPoolManager, "notify")
        send_task_failure = _original(StepFunctionsParserBackend, "send_task_failure")
        # Check and answer in one step, so that of two concurrent answers exactly one is taken.
        answering = threading.Lock()

        def _notify(self: CallbackPoolManager, callback_id: str, outcome: CallbackOutcome) -> bool:
            with answering:
                endpoint = self.get(callback_id)
                # Only an answer sets an endpoint's outcome; timeouts and interruptions leave None.
                if endpoint is not None and endpoint.get_outcome() is not None:
                    raise _task_timed_out()
                answered: bool = notify(self, callback_id, outcome)
                return answered

        def _send_task_failure(
            self: StepFunctionsParserBackend, task_token: str, *args: Any, **kwargs: Any
        ) -> Any:
            if _belongs_to_an_ended_execution(self, task_token):
                raise _task_timed_out()
            return send_task_failure(self, task_token, *args, **kwargs)

        return [
            (CallbackPoolManager, "notify", _notify),
            (StepFunctionsParserBackend, "send_task_failure", _send_task_failure),
        ]


def _task_timed_out() -> TaskTimedOut:
    # moto's TaskTimedOut has no constructor of its own; this is AWS's message for a closed task.
    return TaskTimedOut("Task Timed Out: 'Provided task does not exist anymore'", "TaskTimedOut")


def _belongs_to_an_ended_execution(backend: StepFunctionsParserBackend, task_token: str) -> bool:
    for execution in backend._get_executions():
        worker = execution.exec_worker
        if (
            worker is not None
            and execution.status != ExecutionStatus.RUNNING
            and worker.env.callback_pool_manager.get(task_token) is not None
        ):
            return True
    return False


# --------------------------------------------------------------------------------------------
# Time scale (not an AWS fix: a deliberate, test-only acceleration).
# --------------------------------------------------------------------------------------------


class _Clock:
    """The current time scale, and whether this thread is reporting declared values."""

    def __init__(self) -> None:
        self.scale = 1.0
        self._reporting = threading.local()

    def scaled(self, seconds: Any) -> Any:
        if self.scale == 1.0 or getattr(self._reporting, "active", False):
            return seconds
        return seconds * self.scale

    @contextmanager
    def reporting_declared_values(self) -> Iterator[None]:
        self._reporting.active = True
        try:
            yield
        finally:
            self._reporting.active = False


_CLOCK: Final = _Clock()


class TimeScale(Fix):
    """Multiply every Retry interval, Wait duration, TimeoutSeconds and HeartbeatSeconds by a factor.

    moto behaviour: these are honoured in real time (``time.sleep`` and event waits), so a
    5 s / x2 / 3-attempt Retry costs 35 s of wall clock in every test that exercises it.

    AWS: the same real-time waits; this is a deliberate test-only divergence, never dropped as a
    parity fix. The factor applies to the values the interpreter waits on, computed after
    BackoffRate, MaxDelaySeconds and jitter; ``TaskScheduled``/``LambdaFunctionScheduled``
    events keep reporting the declared seconds (``ActivityScheduled`` reports the scaled ones).
    A Timestamp Wait is scaled too: its remaining delay is what is waited on.
    """

    def _patches(self) -> list[_Patch]:
        return [
            _scaled_retry_interval(),
            _scaled_wait_state(),
            *_scaled_state_timeouts(),
            *_declared_timeouts_in_history(),
            _scaled_execution_timeout(),
        ]


def _scaled_retry_interval() -> _Patch:
    # RetrierDecl._eval_body sleeps on what IntervalSeconds -> BackoffRate -> MaxDelaySeconds ->
    # JitterStrategy leave on the stack; jitter is the last stage, so scaling its output scales
    # exactly the sleep (the backoff multiplier kept on env.heap stays unscaled).
    jitter = _original(JitterStrategyDecl, "_eval_body")

    def _eval_body(self: JitterStrategyDecl, env: Environment) -> None:
        jitter(self, env)
        env.stack.append(_CLOCK.scaled(env.stack.pop()))

    return (JitterStrategyDecl, "_eval_body", _eval_body)


def _scaled_wait_state() -> _Patch:
    # Replaces WaitFunction._wait_interval: moto's version re-waits until whole seconds have
    # elapsed (int rounding), so a sub-second scaled wait would never end.
    def _wait_interval(self: WaitFunction, env: Environment, wait_seconds: int) -> None:
        deadline = time.monotonic() + _CLOCK.scaled(wait_seconds)
        while env.is_running():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            # Woken early by a stop or failure elsewhere, like moto's wait.
            env.program_state_event.wait(remaining)

    return (WaitFunction, "_wait_interval", _wait_interval)


def _scaled_state_timeouts() -> list[_Patch]:
    # Every TimeoutSeconds/HeartbeatSeconds variant (literal, Path, JSONata) is evaluated through
    # these two bodies, and the interpreter waits on whatever they push.
    timeout = _original(Timeout, "_eval_body")
    heartbeat = _original(Heartbeat, "_eval_body")

    def _timeout_eval_body(self: Timeout, env: Environment) -> None:
        timeout(self, env)
        env.stack.append(_CLOCK.scaled(env.stack.pop()))

    def _heartbeat_eval_body(self: Heartbeat, env: Environment) -> None:
        heartbeat(self, env)
        env.stack.append(_CLOCK.scaled(env.stack.pop()))

    return [
        (Timeout, "_eval_body", _timeout_eval_body),
        (Heartbeat, "_eval_body", _heartbeat_eval_body),
    ]


def _declared_timeouts_in_history() -> list[_Patch]:
    # These evaluate TimeoutSeconds/HeartbeatSeconds only to put them in the history, where readers
    # expect the declared integers, not the scaled floats.
    before_service = _original(StateTaskService, "_before_eval_execution")
    lambda_execution = _original(StateTaskLambda, "_eval_execution")

    def _before_eval_execution(self: StateTaskService, *args: Any, **kwargs: Any) -> None:
        with _CLOCK.reporting_declared_values():
            before_service(self, *args, **kwargs)

    def _eval_execution(self: StateTaskLambda, env: Environment) -> None:
        with _CLOCK.reporting_declared_values():
            lambda_execution(self, env)

    return [
        (StateTaskService, "_before_eval_execution", _before_eval_execution),
        (StateTaskLambda, "_eval_execution", _eval_execution),
    ]


def _scaled_execution_timeout() -> _Patch:
    # Program.eval joins the worker thread on the state machine's own TimeoutSeconds, read as a
    # plain attribute; swap in a scaled copy for the duration of the run (one Program per execution).
    program_eval = _original(Program, "eval")

    def _eval(self: Program, env: Environment) -> None:
        declared: TimeoutSeconds | None = self.timeout_seconds
        if declared is None or _CLOCK.scale == 1.0:
            program_eval(self, env)
            return
        scaled = TimeoutSeconds(timeout_seconds=_CLOCK.scaled(declared.timeout_seconds))
        object.__setattr__(self, "timeout_seconds", scaled)
        try:
            program_eval(self, env)
        finally:
            object.__setattr__(self, "timeout_seconds", declared)

    return (Program, "eval", _eval)


# --------------------------------------------------------------------------------------------
# Fix 6: a task token takes heartbeats and answers as soon as it is published.
# --------------------------------------------------------------------------------------------


class HeartbeatEndpointBeforePublish(Fix):
    """Accept heartbeats and answers to a task token from the moment the task publishes it.

    moto gap: for a ``.waitForTaskToken`` task with HeartbeatSeconds,
    ``StateTaskServiceCallback._eval_integration_pattern`` sets up the token's heartbeat endpoint
    (``CallbackEndpoint.setup_heartbeat_endpoint``) only after the service call that publishes the
    token (putEvents) has returned. A consumer that reacts to the published command before then
    hits a window in which:

    - SendTaskHeartbeat fails with ``InvalidToken`` (``CallbackEndpoint.notify_heartbeat`` finds
      no heartbeat endpoint), which a consumer takes to mean the task is closed;
    - SendTaskSuccess/SendTaskFailure is accepted and stored but wakes no one: the heartbeat wait
      then starts on a fresh endpoint, never looks at the stored answer, and the task fails with
      ``States.HeartbeatTimeout`` although it was answered.

    AWS: the token takes SendTaskHeartbeat, SendTaskSuccess and SendTaskFailure as soon as the
    task has published it; an answer sent before the publishing call has returned completes
    the task.

    The fix sets the heartbeat endpoint up before the service call (for every attempt, with the
    same HeartbeatSeconds moto evaluates later) and makes moto's own setup keep it, together with
    any heartbeat or answer it has been told since. The heartbeat clock still starts when the
    task starts waiting, after the call, as on stock moto.

    Not covered: SendTaskHeartbeat to a task without HeartbeatSeconds fails with
    ``InvalidToken`` at any time, as on stock moto.

    Drop when moto sets the heartbeat endpoint up before the service call
    (``test_a_heartbeat_before_the_publish_returns_is_an_invalid_token_on_unpatched_moto`` and
    ``test_an_answer_before_the_publish_returns_is_lost_on_unpatched_moto`` then fail).
    """

    def _patches(self) -> list[_Patch]:
        setup_heartbeat_endpoint = _original(CallbackEndpoint, "setup_heartbeat_endpoint")

        def _before_eval_execution(
            self: StateTaskServiceCallback, env: Environment, *args: Any, **kwargs: Any
        ) -> None:
            # Runs on every attempt, after the attempt's token exists and before the service call.
            super(StateTaskServiceCallback, self)._before_eval_execution(env, *args, **kwargs)
            if self.heartbeat is None or not _issues_token(self):
                return
            task = env.states.context_object.context_object_data.get("Task")
            callback_endpoint = env.callback_pool_manager.get(task["Token"]) if task else None
            if callback_endpoint is None:
                return
            # The value moto evaluates (and waits on) in _eval_integration_pattern.
            self.heartbeat.eval(env=env)
            setup_heartbeat_endpoint(callback_endpoint, heartbeat_seconds=env.stack.pop())

        def _setup_heartbeat_endpoint(self: CallbackEndpoint, heartbeat_seconds: float) -> HeartbeatEndpoint:
            # moto's call after the publish: keep the endpoint that may already have been told a
            # heartbeat or an answer. Every attempt sets up its own before its call.
            existing = self._heartbeat_endpoint
            if existing is not None:
                return existing
            endpoint: HeartbeatEndpoint = setup_heartbeat_endpoint(self, heartbeat_seconds)
            return endpoint

        return [
            # StateTaskServiceCallback only inherits _before_eval_execution (TimeScale wraps the
            # StateTaskService one); revert removes this override.
            (StateTaskServiceCallback, "_before_eval_execution", _before_eval_execution),
            (CallbackEndpoint, "setup_heartbeat_endpoint", _setup_heartbeat_endpoint),
        ]


# --------------------------------------------------------------------------------------------
# Fix 7: events delivered to targets carry the account.
# --------------------------------------------------------------------------------------------


class DeliveredEventsCarryAccount(Fix):
    """Keep ``account`` in the event that EventBridge delivers to a target.

    moto gap: ``EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE`` (used for every target without
    an InputTransformer) lists every envelope field but ``account``, so an SQS target receives
    events with no ``account`` and Powertools' ``EventBridgeModel`` rejects them.

    AWS: a rule target without an input transformer receives the whole event, ``account``
    included.

    Drop when moto's default template includes ``account``
    (``test_delivered_events_lack_the_account_on_unpatched_moto`` then fails).
    """

    def _patches(self) -> list[_Patch]:
        template = EventTemplateParser.DEFAULT_EVENT_INPUT_TEMPLATE
        if '"account"' in template:
            return []
        fixed = template.replace('"version": "0",', '"version": "0", "account": "<account>",', 1)
        return [(EventTemplateParser, "DEFAULT_EVENT_INPUT_TEMPLATE", fixed)]  # type: ignore[list-item]


# --------------------------------------------------------------------------------------------
# Fix 8: execution status changes are events on the default bus.
# --------------------------------------------------------------------------------------------

_STATUS_CHANGE_SOURCE: Final = "aws.states"
_STATUS_CHANGE_DETAIL_TYPE: Final = "Step Functions Execution Status Change"
_REDRIVABLE: Final = frozenset({ExecutionStatus.FAILED, ExecutionStatus.TIMED_OUT, ExecutionStatus.ABORTED})

# Held while an execution reaches a terminal status (and its event is published) and while it is
# redriven: a redrive then always sees the final status, its RUNNING event follows the terminal one,
# and of two concurrent redrives of one execution only the first starts it.
_status_changes: Final = threading.RLock()


@dataclasses.dataclass
class _RedriveRecord:
    """What DescribeExecution and the status events report about an execution's redrives."""

    count: int = 0
    date: datetime.datetime | None = None
    # clientToken -> (the redrive date it was answered with, when it was first used), oldest first.
    client_tokens: dict[str, tuple[datetime.datetime, float]] = dataclasses.field(default_factory=dict)


# Kept beside moto's executions (and forgotten with them) rather than as attributes on them.
_redrives: Final[weakref.WeakKeyDictionary[Execution, _RedriveRecord]] = weakref.WeakKeyDictionary()


def _redrive_record(execution: Execution) -> _RedriveRecord:
    return _redrives.get(execution) or _RedriveRecord()


def _redrive_status(execution: Execution) -> tuple[ExecutionRedriveStatus, str | None]:
    """AWS's redriveStatus and redriveStatusReason for a Standard execution in its current status."""
    status = ExecutionStatus(execution.exec_status)
    if status in _REDRIVABLE:
        return ExecutionRedriveStatus.REDRIVABLE, None
    return ExecutionRedriveStatus.NOT_REDRIVABLE, f"Execution is {status.value} and cannot be redriven"


def _is_standard(execution: Execution) -> bool:
    # moto records every execution's sm_type as STANDARD; the state machine keeps the real type.
    machine_type = getattr(execution.state_machine, "type", StateMachineType.STANDARD)
    return not isinstance(execution, SyncExecution) and machine_type == StateMachineType.STANDARD


def _epoch_millis(moment: datetime.datetime | None) -> int | None:
    return None if moment is None else int(moment.timestamp() * 1000)


class ExecutionStatusChangeEvents(Fix):
    """Publish "Step Functions Execution Status Change" events to the default event bus.

    moto gap: the interpreter never tells EventBridge about an execution's status, so a rule on
    ``{"source": ["aws.states"]}`` receives nothing: an execution that fails, times out or is
    aborted goes unnoticed unless someone polls DescribeExecution.

    AWS: every status change of a Standard execution is delivered (best effort, no charge) to the
    account's default bus: RUNNING when it starts and again when it is redriven, then SUCCEEDED,
    FAILED, TIMED_OUT or ABORTED. The event has ``source`` ``aws.states``, ``detail-type``
    ``Step Functions Execution Status Change``, ``resources`` ``[executionArn]`` and a ``detail``
    with the DescribeExecution view: ``executionArn``, ``stateMachineArn``, ``name``, ``status``,
    ``startDate`` and ``stopDate`` (epoch milliseconds; ``stopDate`` null while running),
    ``input``, ``inputDetails`` ``{"included": true}``, ``output`` and ``outputDetails`` (null
    unless SUCCEEDED), ``error``, ``cause``, ``redriveCount``, ``redriveDate`` (epoch milliseconds
    or null), ``redriveStatus`` (REDRIVABLE once FAILED, TIMED_OUT or ABORTED, else
    NOT_REDRIVABLE) and ``redriveStatusReason`` (e.g. "Execution is RUNNING and cannot be
    redriven"; null when redrivable). Express workflows send none.

    The fix puts each event on moto's events backend of the execution's account and region, so the
    default bus's rules and targets receive it like any other event. RUNNING is published when the
    execution's worker starts (the first start and every redrive), before any state runs; the
    terminal status once moto has recorded it.

    Not covered: an input or output over 248 KB is still included (AWS then leaves it out and sets
    ``included`` to false), ``stateMachineVersionArn``/``stateMachineAliasArn`` are never set, and
    a redrivable execution stays REDRIVABLE after AWS's 14-day redrive window.

    Drop when moto publishes these events itself
    (``test_no_status_change_events_on_unpatched_moto`` then fails).
    """

    def _patches(self) -> list[_Patch]:
        start = _original(ExecutionWorker, "start")
        terminated = _original(BaseExecutionWorkerCommunication, "terminated")
        # AWS delivers these outside the account's PutEvents quota: publish through moto's own
        # put_events as it is now, so that a later stand-in for PutEvents throttling leaves them be.
        put_events: Callable[[EventsBackend, list[dict[str, Any]]], list[dict[str, Any]]] = (
            EventsBackend.put_events
        )

        def _start(self: ExecutionWorker) -> None:
            # Execution.start (and a redrive) set the status to RUNNING before starting the worker,
            # so this is the one point where the execution is RUNNING and no state has run yet.
            communication = self._execution_communication
            if isinstance(communication, BaseExecutionWorkerCommunication) and _is_standard(
                communication.execution
            ):
                _publish_status_change(communication.execution, put_events)
            start(self)

        def _terminated(self: BaseExecutionWorkerCommunication) -> None:
            with _status_changes:
                terminated(self)
                if _is_standard(self.execution):
                    _publish_status_change(self.execution, put_events)

        return [
            (ExecutionWorker, "start", _start),
            (BaseExecutionWorkerCommunication, "terminated", _terminated),
        ]


def _status_change_detail(execution: Execution) -> dict[str, Any]:
    status = ExecutionStatus(execution.exec_status)
    succeeded = status == ExecutionStatus.SUCCEEDED
    redrive = _redrive_record(execution)
    redrive_status, redrive_status_reason = _redrive_status(execution)
    return {
        "executionArn": execution.exec_arn,
        "stateMachineArn": execution.state_machine_arn,
        "name": execution.name,
        "status": status.value,
        "startDate": _epoch_millis(execution.start_date),
        "stopDate": None if status == ExecutionStatus.RUNNING else _epoch_millis(execution.stop_date),
        # The input exactly as StartExecution received it, as DescribeExecution reports it.
        "input": execution.execution_input,
        "inputDetails": {"included": True},
        "output": to_json_str(execution.output, separators=(",", ":")) if succeeded else None,
        "outputDetails": {"included": True} if succeeded else None,
        "error": execution.error,
        "cause": execution.cause,
        "redriveCount": redrive.count,
        "redriveDate": _epoch_millis(redrive.date),
        "redriveStatus": redrive_status.value,
        "redriveStatusReason": redrive_status_reason,
    }


def _status_change_time(execution: Execution) -> datetime.datetime:
    if execution.exec_status == ExecutionStatus.RUNNING:
        return _redrive_record(execution).date or execution.start_date
    return execution.stop_date or datetime.datetime.now(tz=datetime.UTC)


def _publish_status_change(
    execution: Execution, put_events: Callable[[EventsBackend, list[dict[str, Any]]], list[dict[str, Any]]]
) -> None:
    # Best effort, as on AWS: a failure to publish must never disturb the execution itself.
    try:
        entry = {
            "Source": _STATUS_CHANGE_SOURCE,
            "DetailType": _STATUS_CHANGE_DETAIL_TYPE,
            "Detail": json.dumps(_status_change_detail(execution)),
            "Resources": [execution.exec_arn],
            # moto's events backend takes the event time as epoch seconds.
            "Time": _status_change_time(execution).timestamp(),
        }
        (result,) = put_events(events_backends[execution.account_id][execution.region_name], [entry])
        if "ErrorCode" in result:
            logger.error("status change of %s not published: %s", execution.exec_arn, result)
    except Exception:
        logger.exception("status change of %s not published", execution.exec_arn)


# --------------------------------------------------------------------------------------------
# Fix 9: RedriveExecution resumes a failed execution from the state that failed.
# --------------------------------------------------------------------------------------------

# AWS answers the last 10 client tokens of successful redrives, each for 15 minutes.
_REMEMBERED_CLIENT_TOKENS: Final = 10
_CLIENT_TOKEN_LIFETIME: Final = 15 * 60.0


class RedriveExecution(Fix):
    """Implement RedriveExecution: resume a failed, timed-out or aborted execution where it stopped.

    moto gap: there is no RedriveExecution (the server answers HTTP 500, in-process moto raises
    ``NotImplementedError``), and DescribeExecution reports no ``redriveCount``/``redriveStatus``.

    AWS: only a Standard execution whose status is FAILED, TIMED_OUT or ABORTED can be redriven;
    any other fails with ``ExecutionNotRedrivable``. The same execution (same ARN, definition,
    input and ``$$.Execution`` context, which gains ``RedriveCount`` and ``RedriveTime``) becomes
    RUNNING again and resumes at the state that did not complete, with the input that state was
    given; the states that succeeded are not run again. The history is kept and continued from an
    ``ExecutionRedriven`` event (event ids go on from where they stopped), DescribeExecution
    reports ``redriveCount`` (+1), ``redriveDate`` and ``redriveStatus``/``redriveStatusReason``,
    a RUNNING status-change event is sent (``ExecutionStatusChangeEvents``), and the execution
    ends with its normal terminal status. A callback task that is re-entered publishes a new task
    token. The response is ``{"redriveDate"}``; a repeated ``clientToken`` (one of the last 10,
    within 15 minutes) answers the same date without redriving again.

    The fix resumes at the last top-level state that was entered and did not exit, found in the
    history, by running a new interpreter worker on the state machine's definition with
    ``StartAt`` moved to that state and an environment that carries the original context and the
    history so far. Tokens of the failed run are answered ``InvalidToken`` afterwards (AWS:
    ``TaskTimedOut``); consumers treat both as "task already closed".

    moto records an execution timeout in the history only when the state that was running
    returns (for a task waiting on its token, when its own wait ends); a redrive of a TIMED_OUT
    execution adds the missing ``ExecutionTimedOut`` before ``ExecutionRedriven``.

    Not covered: a failed Parallel or Map state is run again whole (AWS re-runs only the failed
    branches or iterations), the state machine's TimeoutSeconds counts afresh from the redrive,
    ``$$.Execution.RedriveCount`` is absent before the first redrive (AWS: 0), and the 14-day
    redrive window and the history-size limits are not enforced.

    Drop when moto implements RedriveExecution
    (``test_redrive_execution_is_a_server_error_on_unpatched_moto`` then fails).
    """

    def _patches(self) -> list[_Patch]:
        describe_execution = _original(StepFunctionResponse, "describe_execution")

        def _backend_redrive_execution(
            self: StepFunctionsParserBackend, execution_arn: str, client_token: str | None = None
        ) -> datetime.datetime:
            return _redrive(self, execution_arn, client_token)

        def _redrive_execution(self: StepFunctionResponse) -> ActionResult:
            backend = self.stepfunction_backend
            if not isinstance(backend, StepFunctionsParserBackend):
                # Without execute_state_machine nothing runs, so there is nothing to resume.
                raise NotImplementedError("RedriveExecution needs stepfunctions.execute_state_machine")
            redrive_date = _redrive(backend, self._get_param("executionArn"), self._get_param("clientToken"))
            return ActionResult({"redriveDate": redrive_date})

        def _describe_execution(self: StepFunctionResponse) -> ActionResult:
            result: ActionResult = describe_execution(self)
            backend = self.stepfunction_backend
            if isinstance(backend, StepFunctionsParserBackend):
                execution = _parser_execution(backend, self._get_param("executionArn"))
                cast(dict[str, Any], result.result).update(_redrive_fields(execution))
            return result

        return [
            (StepFunctionsParserBackend, "redrive_execution", _backend_redrive_execution),
            (StepFunctionResponse, "redrive_execution", _redrive_execution),
            (StepFunctionResponse, "describe_execution", _describe_execution),
        ]


def _redrive_fields(execution: Execution) -> dict[str, Any]:
    """DescribeExecution's redrive fields: each present only when AWS reports it."""
    redrive = _redrive_record(execution)
    redrive_status, redrive_status_reason = _redrive_status(execution)
    fields: dict[str, Any] = {"redriveCount": redrive.count, "redriveStatus": redrive_status.value}
    if redrive.date is not None:
        fields["redriveDate"] = redrive.date
    if redrive_status_reason is not None:
        fields["redriveStatusReason"] = redrive_status_reason
    return fields


def _redrive(
    backend: StepFunctionsParserBackend, execution_arn: str, client_token: str | None
) -> datetime.datetime:
    with _status_changes:
        execution = _parser_execution(backend, execution_arn)
        record = _redrives.setdefault(execution, _RedriveRecord())
        answered = _answered_client_token(record, client_token)
        if answered is not None:
            return answered
        _require_redrivable(execution)
        redrive_date = datetime.datetime.now(tz=datetime.UTC)
        # Built before anything changes: a definition or history it cannot resume leaves the
        # execution as it was.
        worker = _ResumingWorker(execution, redrive_count=record.count + 1, redrive_date=redrive_date)
        record.count += 1
        record.date = redrive_date
        if client_token:
            record.client_tokens[client_token] = (redrive_date, time.monotonic())
            while len(record.client_tokens) > _REMEMBERED_CLIENT_TOKENS:
                del record.client_tokens[next(iter(record.client_tokens))]
        execution.exec_worker = worker
        execution.stop_date = None
        execution.output = None
        execution.error = None
        execution.cause = None
        execution.exec_status = ExecutionStatus.RUNNING
        worker.start()
        return redrive_date


def _parser_execution(backend: StepFunctionsParserBackend, execution_arn: str) -> Execution:
    # The interpreter's backend only ever holds the interpreter's executions.
    return cast(Execution, backend.describe_execution(execution_arn))


def _answered_client_token(record: _RedriveRecord, client_token: str | None) -> datetime.datetime | None:
    if not client_token or client_token not in record.client_tokens:
        return None
    redrive_date, first_used = record.client_tokens[client_token]
    if time.monotonic() - first_used > _CLIENT_TOKEN_LIFETIME:
        return None
    return redrive_date


def _require_redrivable(execution: Execution) -> None:
    if not _is_standard(execution):
        raise ExecutionNotRedrivable(
            "RedriveExecution is not supported for EXPRESS state machines", "ExecutionNotRedrivable"
        )
    redrive_status, reason = _redrive_status(execution)
    if redrive_status != ExecutionRedriveStatus.REDRIVABLE:
        raise ExecutionNotRedrivable(reason or redrive_status.value, "ExecutionNotRedrivable")


class _ResumingWorker(ExecutionWorker):
    """Runs a redriven execution from the state that did not complete, continuing its history.

    Program and environment are prepared when the worker is made (on the RedriveExecution
    request), so that the execution is never RUNNING without an environment to answer tokens,
    history or stop requests.
    """

    def __init__(self, execution: Execution, redrive_count: int, redrive_date: datetime.datetime) -> None:
        previous = execution.exec_worker.env if execution.exec_worker else None
        if previous is None:
            raise ExecutionNotRedrivable("Execution has no history to resume", "ExecutionNotRedrivable")
        history = previous.event_manager.get_event_history()
        definition = json.loads(execution.state_machine.definition)
        resume_at = _resume_point(history, set(definition["States"]))
        state_input = execution.input_data
        if resume_at is not None:
            definition["StartAt"], state_input = resume_at
        machine = execution.get_start_state_machine_details()
        super().__init__(
            evaluation_details=EvaluationDetails(
                aws_execution_details=execution._get_start_aws_execution_details(),
                execution_details=execution.get_start_execution_details(),
                state_machine_details=StateMachineDetails(
                    arn=machine.arn, name=machine.name, typ=machine.typ, definition=json.dumps(definition)
                ),
            ),
            exec_comm=execution._get_start_execution_worker_comm(),
            cloud_watch_logging_session=execution._cloud_watch_logging_session,
            activity_store=execution._activity_store,
        )
        self._program = self._get_evaluation_entrypoint()
        self.env = self._resumed_environment(
            previous.event_manager, history, state_input, redrive_count, redrive_date
        )
        self._record_redrive(execution, history, redrive_count, redrive_date)

    def _record_redrive(
        self,
        execution: Execution,
        history: list[HistoryEvent],
        redrive_count: int,
        redrive_date: datetime.datetime,
    ) -> None:
        assert self.env is not None
        if execution.exec_status == ExecutionStatus.TIMED_OUT and not _ends_with(
            history, HistoryEventType.ExecutionTimedOut
        ):
            # moto records a timeout only once the state that was running returns, which for a
            # task waiting on its token is when the task's own wait ends; AWS records it at once.
            self.env.event_manager.add_event(
                context=self.env.event_history_context,
                event_type=HistoryEventType.ExecutionTimedOut,
                event_details=cast(
                    EventDetails, {"executionTimedOutEventDetails": ExecutionTimedOutEventDetails()}
                ),
                timestamp=execution.stop_date or redrive_date,
            )
        self.env.event_manager.add_event(
            context=self.env.event_history_context,
            event_type=HistoryEventType.ExecutionRedriven,
            # moto's EventDetails does not list this detail; the history and boto3 carry it as is.
            event_details=cast(
                EventDetails, {"executionRedrivenEventDetails": {"redriveCount": redrive_count}}
            ),
        )

    def _resumed_environment(
        self,
        previous_events: EventManager,
        history: list[HistoryEvent],
        state_input: Any,
        redrive_count: int,
        redrive_date: datetime.datetime,
    ) -> Environment:
        env = self._get_evaluation_environment()
        execution_context = cast(dict[str, Any], env.states.context_object.context_object_data["Execution"])
        execution_context["RedriveCount"] = redrive_count
        execution_context["RedriveTime"] = redrive_date.isoformat()
        env.states.reset(input_value=state_input)
        # A new manager holding the history so far: a thread of the previous run that is still
        # winding down (a timed-out execution's) keeps writing to the old one, out of sight.
        last_event_id = max((event["id"] for event in history), default=0)
        env.event_manager = EventManager(
            cloud_watch_logging_session=previous_events._cloud_watch_logging_session
        )
        env.event_manager._history_event_list.extend(history)
        env.event_manager._event_id_gen._next_id = last_event_id + 1
        env.event_history_context.source_event_id = last_event_id
        env.event_history_context.last_published_event_id = last_event_id
        return env

    def _execution_logic(self) -> None:
        # As ExecutionWorker's, with the program and environment prepared and no ExecutionStarted.
        assert self.env is not None
        self._program.eval(self.env)
        self._execution_communication.terminated()


def _ends_with(history: list[HistoryEvent], event_type: HistoryEventType) -> bool:
    return bool(history) and history[-1]["type"] == event_type


def _resume_point(history: list[HistoryEvent], top_level_states: set[str]) -> tuple[str, Any] | None:
    """The last top-level state entered that did not exit, and the input it was entered with."""
    resume_at: tuple[str, Any] | None = None
    for event in history:
        event_type: str = event["type"]
        if event_type.endswith("StateEntered"):
            entered = event.get("stateEnteredEventDetails") or {}
            if entered.get("name") in top_level_states:
                resume_at = (entered["name"], json.loads(entered.get("input") or "{}"))
        elif event_type.endswith("StateExited") and resume_at is not None:
            exited = event.get("stateExitedEventDetails") or {}
            if exited.get("name") == resume_at[0]:
                resume_at = None
    return resume_at


# --------------------------------------------------------------------------------------------
# Fix 10: a rule with only a schedule matches no event.
# --------------------------------------------------------------------------------------------


class ScheduleOnlyRulesMatchNoEvents(Fix):
    """Keep events put on a bus away from rules that have a ScheduleExpression and no EventPattern.

    moto gap: ``Rule.send_to_targets`` matches each event against the rule's EventPattern, and an
    absent pattern matches everything, so a schedule-only rule receives every event put on its bus
    (the default bus). With ``ExecutionStatusChangeEvents`` that is every execution status
    change: each one lands in every scheduled queue (reconciliation, sweeps, ...) as a bogus tick.

    AWS: a rule with only a ScheduleExpression fires on its schedule and matches no event; a rule
    with both a ScheduleExpression and an EventPattern also receives the events its pattern
    matches. (moto never fires schedules at all: ``orderflow_local.scheduler`` does.)

    Drop when moto skips schedule-only rules when routing events
    (``test_a_schedule_only_rule_receives_every_event_on_unpatched_moto`` then fails).
    """

    def _patches(self) -> list[_Patch]:
        send_to_targets = _original(Rule, "send_to_targets")

        def _send_to_targets(self: Rule, *args: Any, **kwargs: Any) -> None:
            if self.scheduled_expression and not self.event_pattern.get_pattern():
                return
            send_to_targets(self, *args, **kwargs)

        return [(Rule, "send_to_targets", _send_to_targets)]


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
    RedriveExecution(),
    ScheduleOnlyRulesMatchNoEvents(),
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
        for fix in (*FIXES, _TIME_SCALE):
            fix.apply()
        _CLOCK.scale = float(time_scale)


def revert() -> None:
    """Undo every patch and reset the time scale, leaving moto exactly as shipped."""
    with _lock:
        for fix in reversed((*FIXES, _TIME_SCALE)):
            fix.revert()
        _CLOCK.scale = 1.0
