"""Runtime patches that make moto's Step Functions interpreter behave like AWS where our saga relies on it.

moto (5.2.5) only runs state machine definitions when ``stepfunctions.execute_state_machine`` is
enabled, and then uses a port of LocalStack's interpreter (``moto/stepfunctions/parser``). The
order saga depends on a few behaviours that this port gets wrong; each is fixed here by a small,
named, reversible patch of moto's classes. ``FIXES`` lists them, each documenting the gap, what AWS
does and when the fix can be dropped.

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
import threading
import time
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
from moto.events.utils import EventTemplateParser
from moto.stepfunctions.parser.api import ExecutionStatus, TaskTimedOut
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
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.program_state import ProgramStopped
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
