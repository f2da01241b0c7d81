"""Fixes of task tokens and the tasks that wait on them (``.waitForTaskToken``).

A fresh token per attempt, ``States.HeartbeatTimeout``, StopExecution during the wait,
SendTaskFailure's cause, the first answer closing the task and heartbeats accepted from the moment
the token is published.
"""

from __future__ import annotations

import copy
import threading
from typing import Any, Final, cast

from orderflow_local.moto_compat._base import Fix, _original, _Patch

# isort: split
# The internals below are imported only once the version is known to match.
from moto.core.responses import ActionResult, EmptyResult
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
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import (
    ExecutionState,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_callback,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import (
    ResourceCondition,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task import (
    StateTask,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_activitiy import (
    StateTaskActivity,
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
