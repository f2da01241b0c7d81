"""The time scale: Retry intervals, Wait states and task/execution timeouts sped up for tests."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Final

from orderflow_local.moto_compat._base import Fix, _original, _Patch

# isort: split
# The internals below are imported only once the version is known to match.
from moto.stepfunctions.parser.asl.component.common.retry.jitter_strategy_decl import (
    JitterStrategyDecl,
)
from moto.stepfunctions.parser.asl.component.common.timeouts.heartbeat import Heartbeat
from moto.stepfunctions.parser.asl.component.common.timeouts.timeout import (
    Timeout,
    TimeoutSeconds,
)
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.component.program.program import Program
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service import (
    StateTaskService,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.state_task_lambda import (
    StateTaskLambda,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function.wait_function import (
    WaitFunction,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.utils import TMP_THREADS

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
    # Program.eval joins the worker thread on the state machine's own TimeoutSeconds. A parsed
    # program may be shared by concurrent executions (ParsedDefinitionsReused), so the scaled
    # timeout is waited on here rather than written into the program; the body is moto's.
    program_eval = _original(Program, "eval")

    def _eval(self: Program, env: Environment) -> None:
        declared: TimeoutSeconds | None = self.timeout_seconds
        if declared is None or _CLOCK.scale == 1.0:
            program_eval(self, env)
            return
        env.next_state_name = self.start_at.start_at_name
        worker = threading.Thread(target=EvalComponent.eval, args=(self, env), daemon=True)
        TMP_THREADS.append(worker)
        worker.start()
        worker.join(timeout=_CLOCK.scaled(declared.timeout_seconds))
        if worker.is_alive():
            env.set_timed_out()

    return (Program, "eval", _eval)
