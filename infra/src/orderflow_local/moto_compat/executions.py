"""Execution-level fixes: status-change events on the default bus, and RedriveExecution."""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, Final, cast

from orderflow_local.moto_compat._base import Fix, _original, _Patch

# isort: split
# The internals below are imported only once the version is known to match.
from moto.core.responses import ActionResult
from moto.events.models import EventsBackend, events_backends
from moto.stepfunctions.parser.api import (
    ExecutionNotRedrivable,
    ExecutionRedriveStatus,
    ExecutionStatus,
    ExecutionTimedOutEventDetails,
    HistoryEvent,
    HistoryEventType,
    StateMachineType,
)
from moto.stepfunctions.parser.asl.eval.environment import Environment
from moto.stepfunctions.parser.asl.eval.evaluation_details import (
    EvaluationDetails,
    StateMachineDetails,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.eval.event.event_manager import EventHistoryContext, EventManager
from moto.stepfunctions.parser.asl.utils.encoding import to_json_str
from moto.stepfunctions.parser.backend.execution import (
    BaseExecutionWorkerCommunication,
    Execution,
    SyncExecution,
)
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import StepFunctionsParserBackend
from moto.stepfunctions.responses import StepFunctionResponse

logger = logging.getLogger(__name__)


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

    A state machine encrypted with a customer managed key (``encryptionConfiguration`` type
    ``CUSTOMER_MANAGED_KMS_KEY``) gets events without its execution data, as on AWS: ``input``,
    ``output``, ``error`` and ``cause`` are null, and ``inputDetails`` (and, once SUCCEEDED,
    ``outputDetails``) say ``{"included": false}``.

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


# --------------------------------------------------------------------------------------------
# Fix 8b: an execution's timeout is in its history as soon as its status says TIMED_OUT.
# --------------------------------------------------------------------------------------------

# The events that open a run of an execution, the only ones that may follow its timeout.
_RUN_STARTS: Final = frozenset({HistoryEventType.ExecutionStarted, HistoryEventType.ExecutionRedriven})


class ExecutionTimeoutRecordedAtOnce(Fix):
    """Record ``ExecutionTimedOut`` when the execution times out, and let nothing follow it.

    moto gap: when the state machine's TimeoutSeconds expires, the status turns TIMED_OUT at once,
    but the ``ExecutionTimedOut`` history event is written by the interpreter's thread only when the
    state that was running returns: a moment later for a Wait state, never for a task waiting on its
    token. A reader who sees TIMED_OUT may find no timeout in the history, and events of the
    interrupted state (``WaitStateExited``) may still be appended.

    AWS: the history of a timed-out execution ends with ``ExecutionTimedOut``, written when the
    execution times out.

    The fix writes the event before the status changes and drops whatever the interrupted state
    would append after it in the same run (its own late ``ExecutionTimedOut`` included). A redrive
    opens a new run. Drop when moto records the timeout itself
    (``test_a_timed_out_execution_lacks_its_timeout_event_on_unpatched_moto`` then fails).
    """

    def _patches(self) -> list[_Patch]:
        set_timed_out = _original(Environment, "set_timed_out")
        add_event = _original(EventManager, "add_event")

        def _set_timed_out(self: Environment) -> None:
            # Called by the execution's own thread when TimeoutSeconds expires (and for each of its
            # branches' frames, which record nothing), before the status changes.
            set_timed_out(self)
            if not self.is_frame():
                self.event_manager.add_event(
                    context=self.event_history_context,
                    event_type=HistoryEventType.ExecutionTimedOut,
                    event_details=cast(
                        EventDetails, {"executionTimedOutEventDetails": ExecutionTimedOutEventDetails()}
                    ),
                )

        def _add_event(
            self: EventManager,
            context: EventHistoryContext,
            event_type: HistoryEventType,
            *args: Any,
            **kwargs: Any,
        ) -> int:
            if event_type not in _RUN_STARTS and _timed_out_in_this_run(self._history_event_list):
                return context.last_published_event_id or 0
            event_id: int = add_event(self, context, event_type, *args, **kwargs)
            return event_id

        return [(Environment, "set_timed_out", _set_timed_out), (EventManager, "add_event", _add_event)]


def _timed_out_in_this_run(history: list[HistoryEvent]) -> bool:
    # Nothing but a run start follows a timeout, so a run that timed out ends with it.
    return _ends_with(history, HistoryEventType.ExecutionTimedOut)


def _under_customer_managed_key(execution: Execution) -> bool:
    encryption = getattr(execution.state_machine, "encryptionConfiguration", None) or {}
    return bool(encryption.get("type") == "CUSTOMER_MANAGED_KMS_KEY")


def _status_change_detail(execution: Execution) -> dict[str, Any]:
    status = ExecutionStatus(execution.exec_status)
    succeeded = status == ExecutionStatus.SUCCEEDED
    redrive = _redrive_record(execution)
    redrive_status, redrive_status_reason = _redrive_status(execution)
    detail: dict[str, Any] = {
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
    if _under_customer_managed_key(execution):
        # AWS leaves a customer-managed-key workflow's execution data out of its status events.
        detail.update(
            input=None,
            inputDetails={"included": False},
            output=None,
            outputDetails={"included": False} if succeeded else None,
            error=None,
            cause=None,
        )
    return detail


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

    A redrive of a TIMED_OUT execution follows its ``ExecutionTimedOut``, which
    ``ExecutionTimeoutRecordedAtOnce`` wrote when it timed out.

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
        self._record_redrive(redrive_count)

    def _record_redrive(self, redrive_count: int) -> None:
        assert self.env is not None
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
