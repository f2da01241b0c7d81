"""Fault injection: the local runtime crashes, fails, slows, duplicates, reorders and throttles on purpose.

Off by default. ``ORDERFLOW_FAULT_PLAN`` (``Settings.fault_plan``) names a JSON file of faults;
without it no hook is installed anywhere. The file may be rewritten while the system runs: every
reader looks at its inode, mtime and size (one ``stat``) before each decision and re-reads it when
they change, so a test arms a fault, places an order and disarms it. A missing file means no
faults; a file that does not parse or validate is logged and the previous plan stays in force
until the file is fixed (``write_plan`` replaces it atomically, so readers never see half a plan).

Plan::

    {"faults": [
      {"id": "crash-after-charge", "point": "after:provider", "action": "crash",
       "function": "ProcessPaymentFunction", "match": "cust-42", "times": 1}
    ]}

Every fault has ``id`` (letters, digits, ``.``, ``_``, ``-``; names its counter), ``point``,
``action``, and optionally ``match`` (it fires only where this substring occurs in the payload; a
list of substrings: where all occur, e.g. ``["cust-42", "ProcessPayment"]``),
``times`` (how often it may fire in total; omitted = every time) and ``description``.

Points and actions:

- ``before:<service>.<Operation>`` / ``after:<service>.<Operation>``, in a function's process:
  around every botocore call (service as boto3 names it: ``dynamodb``, ``s3``, ``ses``,
  ``stepfunctions``, ``events``...; either part may be a shell-style pattern, e.g.
  ``after:dynamodb.*``). ``after:`` fires only once the call has succeeded.
  ``before:provider`` / ``after:provider``: around urllib3 requests to ``PAYMENT_PROVIDER_URL``;
  ``after:provider`` fires on any answer (the provider has recorded it under its idempotency key).
  ``function`` (a logical id or pattern, default ``*``) selects the processes. The payload is the
  invocation's event as JSON plus the request (botocore: URL and serialized parameters; provider:
  method, URL and body). Actions: ``crash`` (``os._exit(137)``, a killed container: the runtime
  reports a function error and starts a fresh process), ``raise`` (``error``: ``client``, the
  default for botocore, a ``ClientError`` with ``code``, ``message`` and ``status``, as the
  service's modelled exception when ``code`` names one; ``connection``, the default for the
  provider; or ``timeout``: on an ``after:`` point the call did happen but the caller sees the
  error), ``delay`` (sleep ``seconds``, then go on).
- ``deliver``, in the main process's SQS pollers: ``queue`` (default ``*``) names the event source's
  logical id, its function's logical id, or its queue (logical id or name); the payload is the
  message body. Actions: ``duplicate`` (the message is delivered ``copies`` times, default 2:
  sequentially, the extra copies are sent back to the queue and arrive as separate deliveries with
  their own message ids, never duplicated again; with ``concurrent: true`` the whole batch goes at
  the same time to ``copies`` instances of the function, as Lambda would run it in two containers),
  ``delay`` (the message is held for ``seconds`` and then delivered alone, behind later ones),
  ``pause`` (the batch goes back to the queue, visible at once, and the poller receives nothing for
  ``seconds``: a consumer stalled past the step's timeout).
- ``putEvents``, in moto's EventBridge backend: the payload is the entry as JSON (Source,
  DetailType, Detail, Resources: the state machine's entries carry the execution ARN, named after
  the order). Action ``throttle``: that entry fails with ``ThrottlingException`` and is not
  delivered; the call's other entries go through, as EventBridge reports a throttled entry.

Counting: each fault has a counter file ``<plan>.fired/<id>`` shared by every process. A firing
first appends one byte to it with ``O_APPEND`` (atomic) and fires only if its byte landed within
the first ``times``, so two processes never both take the last firing, and a process that crashes
as the fault's action has already been counted. Rewriting the plan keeps the counters (a fault is
not re-armed by an unrelated edit); ``arm`` clears the counters of the faults it writes.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Final

logger = logging.getLogger(__name__)

PLAN_ENV: Final = "ORDERFLOW_FAULT_PLAN"
DELIVER: Final = "deliver"
PUT_EVENTS: Final = "putEvents"
BEFORE_PROVIDER: Final = "before:provider"
AFTER_PROVIDER: Final = "after:provider"
CRASH_EXIT_STATUS: Final = 137  # what a container killed with SIGKILL reports

_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_CALL_POINT = re.compile(r"(before|after):[A-Za-z0-9*?-]+\.[A-Za-z0-9*?]+")
_PROVIDER_POINTS: Final = frozenset({BEFORE_PROVIDER, AFTER_PROVIDER})
_ERRORS: Final = frozenset({"client", "connection", "timeout"})

# The actions each kind of point supports, and the fields each kind or action adds.
_ACTIONS: Final[Mapping[str, frozenset[str]]] = {
    "call": frozenset({"crash", "raise", "delay"}),
    "provider": frozenset({"crash", "raise", "delay"}),
    DELIVER: frozenset({"duplicate", "delay", "pause"}),
    PUT_EVENTS: frozenset({"throttle"}),
}
_COMMON_FIELDS: Final = frozenset({"id", "point", "action", "match", "times", "description"})
_KIND_FIELDS: Final[Mapping[str, frozenset[str]]] = {
    "call": frozenset({"function"}),
    "provider": frozenset({"function"}),
    DELIVER: frozenset({"queue"}),
    PUT_EVENTS: frozenset(),
}
_ACTION_FIELDS: Final[Mapping[str, frozenset[str]]] = {
    "crash": frozenset(),
    "raise": frozenset({"error", "code", "message", "status"}),
    "delay": frozenset({"seconds"}),
    "pause": frozenset({"seconds"}),
    "duplicate": frozenset({"copies", "concurrent"}),
    "throttle": frozenset(),
}


class FaultPlanError(ValueError):
    """The fault plan is not valid JSON or names a point, action or field the runtime does not know."""


def point_kind(point: str) -> str:
    """``call``, ``provider``, ``deliver`` or ``putEvents``; FaultPlanError for anything else."""
    if point in _PROVIDER_POINTS:
        return "provider"
    if point in (DELIVER, PUT_EVENTS):
        return point
    if _CALL_POINT.fullmatch(point):
        return "call"
    raise FaultPlanError(
        f"unknown point {point!r}: expected before:/after:<service>.<Operation>, "
        f"{BEFORE_PROVIDER}, {AFTER_PROVIDER}, {DELIVER} or {PUT_EVENTS}"
    )


@dataclass(frozen=True)
class Fault:
    id: str
    point: str
    action: str
    match: str | tuple[str, ...] | None = None
    times: int | None = None
    function: str = "*"
    queue: str = "*"
    seconds: float = 0.0
    copies: int = 2
    concurrent: bool = False
    error: str | None = None  # None: the point's default, client for botocore, connection for the provider
    code: str = "InternalFailure"
    message: str | None = None
    status: int = 500
    description: str = ""

    @property
    def kind(self) -> str:
        return point_kind(self.point)

    @property
    def error_kind(self) -> str:
        return self.error or ("connection" if self.kind == "provider" else "client")

    @property
    def error_message(self) -> str:
        return self.message or f"Injected fault {self.id}"

    def matches(self, payload: str) -> bool:
        if self.match is None:
            return True
        if isinstance(self.match, str):
            return self.match in payload
        return all(part in payload for part in self.match)

    @classmethod
    def from_document(cls, document: Any) -> Fault:
        if not isinstance(document, dict):
            raise FaultPlanError(f"a fault must be an object, got {document!r}")
        fault_id = document.get("id")
        if not isinstance(fault_id, str) or not _ID.fullmatch(fault_id):
            raise FaultPlanError(f"fault id {fault_id!r}: letters, digits, '.', '_' or '-' (it names a file)")
        where = f"fault {fault_id}"
        point, action = document.get("point"), document.get("action")
        if not isinstance(point, str) or not isinstance(action, str):
            raise FaultPlanError(f"{where}: 'point' and 'action' are required strings")
        kind = point_kind(point)
        if action not in _ACTIONS[kind]:
            raise FaultPlanError(f"{where}: {point} supports {sorted(_ACTIONS[kind])}, not {action!r}")
        unknown = set(document) - _COMMON_FIELDS - _KIND_FIELDS[kind] - _ACTION_FIELDS[action]
        if unknown:
            raise FaultPlanError(f"{where}: {sorted(unknown)} do not apply to {action} at {point}")
        if isinstance(document.get("match"), list):
            document = {**document, "match": tuple(document["match"])}  # frozen: hashable
        fault = cls(**document)
        fault._validate(where)
        return fault

    def _validate(self, where: str) -> None:
        # JSON gives any type; each check below names the field, so a typo in a plan is obvious.
        if isinstance(self.match, tuple):
            if not self.match or not all(isinstance(part, str) for part in self.match):
                raise FaultPlanError(f"{where}: match must be a string or a non-empty list of strings")
        else:
            _expect(where, "match", self.match, str, optional=True)
        _expect(where, "times", self.times, int, optional=True)
        if self.times is not None and self.times < 1:
            raise FaultPlanError(f"{where}: times must be at least 1 (leave it out for every time)")
        for name in ("function", "queue", "code", "description"):
            _expect(where, name, getattr(self, name), str)
        _expect(where, "message", self.message, str, optional=True)
        _expect(where, "status", self.status, int)
        _expect(where, "copies", self.copies, int)
        _expect(where, "concurrent", self.concurrent, bool)
        if self.action in ("delay", "pause") and not (
            isinstance(self.seconds, int | float) and not isinstance(self.seconds, bool) and self.seconds > 0
        ):
            raise FaultPlanError(f"{where}: {self.action} needs seconds > 0")
        if self.action == "duplicate" and self.copies < 2:
            raise FaultPlanError(f"{where}: copies is the number of deliveries, at least 2")
        if self.error is not None and self.error not in _ERRORS:
            raise FaultPlanError(f"{where}: error must be one of {sorted(_ERRORS)}")
        if self.kind == "provider" and self.error == "client":
            raise FaultPlanError(f"{where}: the provider is not an AWS service: use connection or timeout")


def _expect(where: str, name: str, value: Any, kind: type, optional: bool = False) -> None:
    if value is None and optional:
        return
    # bool is an int in Python, never in a plan.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise FaultPlanError(f"{where}: {name} must be a {kind.__name__}, got {value!r}")


def parse_plan(document: Any) -> tuple[Fault, ...]:
    if not isinstance(document, dict) or not isinstance(document.get("faults"), list):
        raise FaultPlanError('a fault plan is an object {"faults": [...]}')
    if set(document) - {"faults", "description"}:
        raise FaultPlanError(f"unknown plan fields {sorted(set(document) - {'faults', 'description'})}")
    faults = tuple(Fault.from_document(item) for item in document["faults"])
    ids = [fault.id for fault in faults]
    if len(ids) != len(set(ids)):
        raise FaultPlanError(f"fault ids must be unique: {sorted(i for i in set(ids) if ids.count(i) > 1)}")
    return faults


def load_plan(path: Path) -> tuple[Fault, ...]:
    """The faults in the plan file (none if it does not exist); FaultPlanError if it is invalid."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return ()
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise FaultPlanError(f"{path}: not JSON: {error}") from error
    return parse_plan(document)


# --- writing plans and reading counters (tests, chaos tools) ----------------------------------


def write_plan(path: Path, faults: Iterable[Fault | Mapping[str, Any]]) -> None:
    """Validate and replace the plan in one rename, so no reader ever sees a partial file."""
    documents = [_document(fault) for fault in faults]
    parse_plan({"faults": documents})
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    temporary.write_text(json.dumps({"faults": documents}, indent=2))
    os.replace(temporary, path)


def arm(path: Path, *faults: Fault | Mapping[str, Any]) -> None:
    """Make these the plan's only faults, each with a fresh count."""
    documents = [_document(fault) for fault in faults]
    parse_plan({"faults": documents})
    for document in documents:
        _counter(path, document["id"]).unlink(missing_ok=True)
    write_plan(path, documents)


def disarm(path: Path) -> None:
    write_plan(path, [])


def fired(path: Path, fault_id: str) -> int:
    """How many times the fault has fired, across every process, since its count was last cleared."""
    try:
        claims = _counter(path, fault_id).stat().st_size
    except FileNotFoundError:
        return 0
    # Two processes may both claim past the limit at once; only claims within it fired.
    times = next((f.times for f in load_plan(path) if f.id == fault_id), None)
    return claims if times is None else min(claims, times)


def _document(fault: Fault | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(fault, Fault):
        defaults = Fault(id=fault.id, point=fault.point, action=fault.action)
        return {
            name: value
            for name, value in vars(fault).items()
            if name in ("id", "point", "action") or value != getattr(defaults, name)
        }
    return dict(fault)


def _counter(plan: Path, fault_id: str) -> Path:
    return plan.with_name(plan.name + ".fired") / fault_id


def _claim(plan: Path, fault: Fault) -> bool:
    counter = _counter(plan, fault.id)
    if fault.times is not None:
        try:
            if counter.stat().st_size >= fault.times:
                return False  # used up: no need to grow the file
        except FileNotFoundError:
            pass
    counter.parent.mkdir(exist_ok=True)
    descriptor = os.open(counter, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, b".")
        # O_APPEND places the byte at the end atomically; the descriptor's own offset now says
        # where it landed, whatever other processes appended meanwhile.
        position = os.lseek(descriptor, 0, os.SEEK_CUR)
    finally:
        os.close(descriptor)
    return fault.times is None or position <= fault.times


# --- the live plan ----------------------------------------------------------------------------


class FaultPlan:
    """The plan file as it is now: one stat per look, re-read only when the file changed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._seen: tuple[int, int, int] | None = None
        self._rejected: tuple[int, int, int] | None = None
        self._faults: tuple[Fault, ...] = ()

    def faults(self) -> tuple[Fault, ...]:
        try:
            stat = os.stat(self.path)
        except FileNotFoundError:
            return ()
        version = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        if version != self._seen:
            with self._lock:
                if version != self._seen:
                    self._reload(version)
        return self._faults

    def _reload(self, version: tuple[int, int, int]) -> None:
        try:
            self._faults = load_plan(self.path)
        except (FaultPlanError, OSError) as error:
            # Keep the faults in force and look again next time: a writer may be mid-way.
            if version != self._rejected:
                logger.error("fault plan %s ignored, previous plan kept: %s", self.path, error)
                self._rejected = version
            return
        self._seen = version
        logger.info("fault plan %s: %d fault(s)", self.path, len(self._faults))

    def at(self, point_applies: Callable[[Fault], bool]) -> list[Fault]:
        """The faults that apply here, before matching: callers build the payload only if any do."""
        return [fault for fault in self.faults() if point_applies(fault)]

    def fires(self, fault: Fault, payload: str) -> bool:
        """Whether `fault` fires for `payload` now: it matches, and a firing is left (this one uses it)."""
        return fault.matches(payload) and _claim(self.path, fault)


def open_plan(path: Path | None) -> FaultPlan | None:
    """The live plan for the main process, or None when fault injection is off.

    An invalid plan file at start is an error, not a silent "no faults".
    """
    if path is None:
        return None
    load_plan(path)
    return FaultPlan(path)


# --- inside a function's process ---------------------------------------------------------------


class FunctionFaults:
    """The faults of one function's process at its botocore calls and payment provider requests."""

    def __init__(self, plan: FaultPlan, function: str) -> None:
        self.plan = plan
        self.function = function
        self._event: Any = None
        self._event_json: str | None = None

    def start_invocation(self, event: Any) -> None:
        self._event, self._event_json = event, None

    def at(self, point: str, request: Callable[[], str], error: Callable[[Fault], BaseException]) -> None:
        """Apply every fault of `point` that fires for the current invocation and `request`."""
        faults = self.plan.at(
            lambda f: (
                f.kind in ("call", "provider")
                and fnmatchcase(point, f.point)
                and fnmatchcase(self.function, f.function)
            )
        )
        if not faults:
            return
        payload = f"{self._event_text()}\n{request()}"
        for fault in faults:
            if self.plan.fires(fault, payload):
                self._apply(fault, point, error)

    def _event_text(self) -> str:
        if self._event_json is None:
            self._event_json = json.dumps(self._event, default=str, ensure_ascii=False)
        return self._event_json

    def _apply(self, fault: Fault, point: str, error: Callable[[Fault], BaseException]) -> None:
        logger.warning("fault %s: %s in %s at %s", fault.id, fault.action, self.function, point)
        if fault.action == "delay":
            time.sleep(fault.seconds)
        elif fault.action == "crash":
            # What the handler printed so far belongs in the log; a real kill would lose it.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(CRASH_EXIT_STATUS)
        elif fault.action == "raise":
            raise error(fault)


def install_function_faults(plan_path: Path, function: str) -> FunctionFaults:
    """Hook botocore and urllib3 in this process; call before the handler module is imported."""
    faults = FunctionFaults(FaultPlan(plan_path), function)
    _hook_botocore(faults)
    _hook_provider(faults)
    return faults


_REQUEST_KEY: Final = "orderflow_fault_request"


def _hook_botocore(faults: FunctionFaults) -> None:
    from botocore.errorfactory import ClientExceptionsFactory
    from botocore.exceptions import (
        ConnectionClosedError,
        EndpointConnectionError,
        ReadTimeoutError,
    )

    from orderflow_local.session_hooks import on_every_session

    exceptions = ClientExceptionsFactory()  # caches each service's modelled exceptions

    def error(fault: Fault, model: Any, url: str, after: bool) -> BaseException:
        if fault.error_kind == "connection":
            return (ConnectionClosedError if after else EndpointConnectionError)(endpoint_url=url)
        if fault.error_kind == "timeout":
            return ReadTimeoutError(endpoint_url=url)
        response: Any = {
            "Error": {"Code": fault.code, "Message": fault.error_message},
            "ResponseMetadata": {"HTTPStatusCode": fault.status},
        }
        error_class = exceptions.create_client_exceptions(model.service_model).from_code(fault.code)
        return error_class(response, model.name)

    def point(when: str, model: Any) -> str:
        # boto3's client name (stepfunctions, events), not botocore's event name (sfn, eventbridge).
        return f"{when}:{model.service_model.service_name}.{model.name}"

    def before_call(model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        # The after-call of the same call gets the same context: it matches on the request too.
        context[_REQUEST_KEY] = params
        url = str(params.get("url", "the endpoint"))
        faults.at(
            point("before", model), lambda: _request_text(params), lambda f: error(f, model, url, False)
        )

    def after_call(model: Any, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        if http_response.status_code >= 300:
            return  # the call failed: nothing happened after which to fail
        params = context.get(_REQUEST_KEY) or {}
        url = str(params.get("url", "the endpoint"))
        faults.at(point("after", model), lambda: _request_text(params), lambda f: error(f, model, url, True))

    def register(events: Any) -> None:
        events.register("before-call", before_call, unique_id="orderflow-faults-before-call")
        events.register("after-call", after_call, unique_id="orderflow-faults-after-call")

    on_every_session(register)


def _hook_provider(faults: FunctionFaults) -> None:
    import urllib3
    from urllib3.exceptions import NewConnectionError, ProtocolError
    from urllib3.exceptions import ReadTimeoutError as Urllib3ReadTimeout

    def error(fault: Fault, url: str, after: bool) -> BaseException:
        if fault.error_kind == "timeout":
            return Urllib3ReadTimeout(None, url, f"Read timed out. ({fault.error_message})")  # type: ignore[arg-type]
        if after:
            return ProtocolError("Connection aborted.", ConnectionResetError(fault.error_message))
        return NewConnectionError(None, f"Failed to establish a new connection: {fault.error_message}")  # type: ignore[arg-type]

    original = urllib3.PoolManager.urlopen

    def urlopen(manager: urllib3.PoolManager, method: str, url: str, redirect: bool = True, **kw: Any) -> Any:
        provider = os.environ.get("PAYMENT_PROVIDER_URL")
        if not provider or not url.startswith(provider):
            return original(manager, method, url, redirect, **kw)

        def request() -> str:
            return f"{method} {url}\n{_text(kw.get('body'))}"

        faults.at(BEFORE_PROVIDER, request, lambda f: error(f, url, after=False))
        response = original(manager, method, url, redirect, **kw)
        faults.at(AFTER_PROVIDER, request, lambda f: error(f, url, after=True))
        return response

    urllib3.PoolManager.urlopen = urlopen  # type: ignore[method-assign,assignment]


def _request_text(params: Mapping[str, Any]) -> str:
    return f"{params.get('url', '')}\n{_text(params.get('body'))}"


def _text(body: Any) -> str:
    if isinstance(body, bytes):
        return body.decode("utf-8", errors="replace")
    if isinstance(body, str):
        return body
    if isinstance(body, Mapping):
        return json.dumps(body, default=str, ensure_ascii=False)
    return ""  # a stream: not read, so that the call can still send it


# --- EventBridge, in moto's process ------------------------------------------------------------

THROTTLED_ENTRY: Final = {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded."}
_MAX_ENTRIES: Final = 10


def throttle_put_events(plan: FaultPlan) -> Callable[[], None]:
    """Patch moto's EventBridge backend so that putEvents faults throttle entries; returns the undo.

    The patch is server-side because the Step Functions interpreter publishes its putEvents
    steps over HTTP like any other client. It costs one stat per PutEvents call.
    """
    from moto.events.models import EventsBackend

    original = EventsBackend.__dict__["put_events"]

    def put_events(backend: EventsBackend, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        faults = plan.at(lambda f: f.point == PUT_EVENTS)
        if not faults or len(events) > _MAX_ENTRIES:  # moto rejects an oversized call itself
            return original(backend, events)  # type: ignore[no-any-return]
        throttled = [
            any(plan.fires(fault, json.dumps(entry, sort_keys=True, default=str)) for fault in faults)
            for entry in events
        ]
        for entry, throttle in zip(events, throttled, strict=True):
            if throttle:
                logger.warning(
                    "fault: PutEvents entry %s/%s throttled", entry.get("Source"), entry.get("DetailType")
                )
        passed = [entry for entry, throttle in zip(events, throttled, strict=True) if not throttle]
        accepted = iter(original(backend, passed) if passed else [])
        return [dict(THROTTLED_ENTRY) if throttle else next(accepted) for throttle in throttled]

    EventsBackend.put_events = put_events  # type: ignore[method-assign,assignment]

    def undo() -> None:
        EventsBackend.put_events = original  # type: ignore[method-assign]

    return undo
