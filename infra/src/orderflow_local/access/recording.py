"""Recording, while the local system runs, what the least-privilege check needs.

Off unless ``ORDERFLOW_ACCESS_LOG`` names a directory. Then:

- each function's process appends one JSON line per AWS call it makes to
  ``calls/<function name>.<pid>.jsonl`` (``install``, from the function's worker, before the
  handler is imported): the function, the service and operation, the region, and only the
  parameters that name resources or feed condition keys (``calls.recorded_params``). A presigned
  URL makes no call, but is recorded as the call it authorizes (``"presigned": true``);
- the provisioner writes every IAM role and policy it deploys, with its resolved properties (the
  policies as concrete ARNs), to ``iam/<stack>.<logical id>.json`` (``record_iam_resource``).

The same hook refuses, when it is made, a call the function's role does not allow (``enforce``):
the call fails with AWS's AccessDeniedException before anything is sent, and its line says
``"refused": true``.

Each line is one ``os.write`` on a file opened with ``O_APPEND``: a process that crashes or is
killed leaves every line it wrote whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from botocore.awsrequest import AWSResponse

from orderflow_local.access.calls import Call, named_by_the_answer, recorded_params, recorded_response
from orderflow_local.session_hooks import on_every_session

if TYPE_CHECKING:
    from orderflow_local.access.enforce import Guard

ACCESS_LOG_VARIABLE: Final = "ORDERFLOW_ACCESS_LOG"
CALLS_DIR: Final = "calls"
IAM_DIR: Final = "iam"

_PENDING_KEY: Final = "orderflow_access_call"
_REFUSED_KEY: Final = "orderflow_access_refused"


def access_log_dir() -> Path | None:
    value = os.environ.get(ACCESS_LOG_VARIABLE)
    return Path(value) if value else None


class CallLog:
    """One function process's call log."""

    def __init__(self, directory: Path, function: str, function_name: str) -> None:
        calls = directory / CALLS_DIR
        calls.mkdir(parents=True, exist_ok=True)
        self.path = calls / f"{function_name}.{os.getpid()}.jsonl"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self._identity = {"function": function, "functionName": function_name}

    def write(
        self, service: str, operation: str, params: Mapping[str, Any], region: str, **extra: Any
    ) -> None:
        record = {
            **self._identity,
            "service": service,
            "operation": operation,
            "region": region,
            "params": params,
            **extra,
        }
        os.write(self._fd, (json.dumps(record, default=str, separators=(",", ":")) + "\n").encode())


def install(directory: Path, function: str, function_name: str, role_arn: str = "") -> CallLog:
    """Record every botocore call of this process, and refuse those its role does not allow; call
    before the handler module is imported. ``role_arn``: the function's role as deployed (its
    policies were recorded under ``directory`` before the function started)."""
    from orderflow_local.access.enforce import guard_of_role

    log = CallLog(directory, function, function_name)
    guard = guard_of_role(directory, function, function_name, role_arn)
    on_every_session(lambda events: hook_events(events, log, guard))
    return log


def hook_events(events: Any, log: CallLog | None, guard: Guard | None) -> None:
    """Record (into ``log``) and judge (with ``guard``) every call of the clients ``events`` belongs to:
    a session's (and so every client it makes from then on), or one client's."""

    def region_of(context: Mapping[str, Any]) -> str:
        region = context.get("client_region") or os.environ.get("AWS_REGION")
        return str(region or os.environ.get("AWS_DEFAULT_REGION", ""))

    def before_parameter_build(
        params: Mapping[str, Any], model: Any, context: dict[str, Any], **_: Any
    ) -> None:
        service = model.service_model.service_name  # boto3's client name (stepfunctions, sesv2)
        kept = recorded_params(service, model.name, params)
        if context.get("is_presign_request"):
            if log is not None:
                log.write(service, model.name, kept, region_of(context), presigned=True)
        else:
            # Written once the request was sent: a call a fault stopped before sending never
            # reached AWS, so IAM never saw it either.
            context[_PENDING_KEY] = (service, model.name, kept)

    def before_call(params: Mapping[str, Any], context: dict[str, Any], **_: Any) -> Any:
        pending = context.get(_PENDING_KEY)
        if guard is None or pending is None or named_by_the_answer(pending[0], pending[1]):
            return None
        service, operation, kept = pending
        refusal = guard.refusal(Call(service, operation, kept, region=region_of(context)))
        if refusal is None:
            return None
        context[_REFUSED_KEY] = True
        # Answered here, so nothing is sent: botocore raises the error from this answer.
        return AWSResponse(str(params.get("url", "")), refusal.status, {}, None), refusal.answer()

    def after_call(http_response: Any, parsed: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        pending = context.pop(_PENDING_KEY, None)
        if pending is None:
            return
        service, operation, kept = pending
        refused = bool(context.pop(_REFUSED_KEY, False))
        response = recorded_response(service, operation, parsed) if http_response.status_code < 300 else {}
        answered = http_response.status_code < 300 and named_by_the_answer(service, operation)
        if guard is not None and answered and not refused:
            refusal = guard.refusal(Call(service, operation, kept, response, region=region_of(context)))
            if refusal is not None:
                # AWS would have refused it before answering: the caller gets the refusal instead.
                http_response.status_code = refusal.status
                parsed.clear()
                parsed.update(refusal.answer())
                refused = True
        if log is None:
            return
        extra: dict[str, Any] = {"status": http_response.status_code}
        if response:  # a call refused on its answer too: the check judges it on the same resource
            extra["response"] = response
        if http_response.status_code >= 300:
            extra["error"] = (parsed.get("Error") or {}).get("Code")
        if refused:
            extra["refused"] = True
        log.write(service, operation, kept, region_of(context), **extra)

    def after_call_error(exception: BaseException, context: dict[str, Any], **_: Any) -> None:
        pending = context.pop(_PENDING_KEY, None)
        if pending is not None and log is not None:
            service, operation, kept = pending
            log.write(service, operation, kept, region_of(context), error=type(exception).__name__)

    # First, so that a refused call is answered before a fault hook sees it, and a fault hook raising
    # or crashing after the call cannot lose its record.
    events.register_first(
        "before-parameter-build", before_parameter_build, unique_id="orderflow-access-params"
    )
    events.register_first("before-call", before_call, unique_id="orderflow-access-before-call")
    events.register_first("after-call", after_call, unique_id="orderflow-access-after-call")
    events.register_first("after-call-error", after_call_error, unique_id="orderflow-access-call-error")


def record_iam_resource(
    stack: str,
    logical_id: str,
    resource_type: str,
    physical_id: str,
    attributes: Mapping[str, str],
    properties: Mapping[str, Any],
) -> None:
    """Keep a deployed IAM role or policy for the check (nothing unless ORDERFLOW_ACCESS_LOG is set)."""
    directory = access_log_dir()
    if directory is None:
        return
    iam = directory / IAM_DIR
    iam.mkdir(parents=True, exist_ok=True)
    document = {
        "stack": stack,
        "logicalId": logical_id,
        "type": resource_type,
        "physicalId": physical_id,
        "attributes": dict(attributes),
        "properties": properties,
    }
    path = iam / f"{stack}.{logical_id}.json"
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(document, indent=1, default=str))
    partial.replace(path)
