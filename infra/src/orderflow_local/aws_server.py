"""The local AWS (moto, with ``moto_compat``) in a process of its own, counting the calls it serves.

moto, the Step Functions interpreter and every backend hold a lock-free mass of Python objects: in
the same interpreter as the SQS pollers, the API gateway and the payment provider they all share
one core. In a process of their own the rest of the local runtime runs on the other core.

Every request is counted by service and API (``CallCounter``), with what a bill is made of beside
it: PutEvents entries, empty ReceiveMessage answers, and DynamoDB capacity units (each DynamoDB
call's read and write units, by DynamoDB's on-demand rules).
``GET /_orderflow/calls`` answers the totals so far; a benchmark reads it before and after a run.
Requests signed with the observer's access key (``observer_client``) are served and not counted: a
benchmark watching its orders is not what the orders cost.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import multiprocessing
import os
import re
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

CALLS_PATH = "/_orderflow/calls"
START_TIMEOUT_SECONDS = 60
OBSERVER_ACCESS_KEY = "orderflow-observer"

_spawn = multiprocessing.get_context("spawn")
_CREDENTIAL_SCOPE = re.compile(r"Credential=([^/]+)/\d{8}/[^/]+/([^/]+)/aws4_request")
_QUERY_ACTION = re.compile(rb"(?:^|&)Action=([A-Za-z0-9]+)")
# The REST APIs the system calls, named as their operations are (method and path shape).
_REST_OPERATIONS: tuple[tuple[str, str, re.Pattern[str], str], ...] = (
    ("s3", "PUT", re.compile(r"^/[^/]+/.+"), "PutObject"),
    ("s3", "GET", re.compile(r"^/[^/]+/.+"), "GetObject"),
    ("s3", "HEAD", re.compile(r"^/[^/]+/.+"), "HeadObject"),
    ("ses", "POST", re.compile(r"^/v2/email/outbound-emails"), "SendEmail"),
)


@dataclass
class CallCounts:
    """What the local AWS has served so far; subtract two readings for the calls of a run."""

    calls: Counter[str]  # "service:Operation" -> requests
    put_events_entries: int = 0
    empty_receives: int = 0
    read_units: float = 0.0
    write_units: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "putEventsEntries": self.put_events_entries,
            "emptyReceives": self.empty_receives,
            "readUnits": self.read_units,
            "writeUnits": self.write_units,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CallCounts:
        return cls(
            Counter(data["calls"]),
            data["putEventsEntries"],
            data["emptyReceives"],
            data["readUnits"],
            data["writeUnits"],
        )

    def __sub__(self, earlier: CallCounts) -> CallCounts:
        calls = Counter(self.calls)
        calls.subtract(earlier.calls)
        return CallCounts(
            +calls,
            self.put_events_entries - earlier.put_events_entries,
            self.empty_receives - earlier.empty_receives,
            self.read_units - earlier.read_units,
            self.write_units - earlier.write_units,
        )


class CallCounter:
    """WSGI middleware in front of moto: counts each request by service and API."""

    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()
        self._counts = CallCounts(Counter())

    def counts(self) -> CallCounts:
        with self._lock:
            return dataclasses.replace(self._counts, calls=Counter(self._counts.calls))

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == CALLS_PATH:
            body = json.dumps(self.counts().to_json()).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        access_key, service = _signer(environ)
        if access_key == OBSERVER_ACCESS_KEY:
            return self._app(environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        operation = target.rsplit(".", 1)[-1] if target else ""
        request_body = b""
        if not operation or service in ("dynamodb", "events", "sqs"):
            request_body = _read_body(environ)
        if not operation:
            operation = _query_action(request_body) or _rest_operation(service, environ)
        chunks = list(self._app(environ, start_response))
        self._record(service, operation, request_body, b"".join(chunks))
        return chunks

    def _record(self, service: str, operation: str, request: bytes, response: bytes) -> None:
        put_entries = 0
        empty = 0
        read = write = 0.0
        if service == "events" and operation == "PutEvents":
            put_entries = len(json.loads(request or b"{}").get("Entries", []))
        elif service == "sqs" and operation == "ReceiveMessage":
            empty = 0 if b"Messages" in response else 1
        elif service == "dynamodb":
            read, write = _consumed_units(operation, request, response)
        with self._lock:
            self._counts.calls[f"{service}:{operation or 'unknown'}"] += 1
            self._counts.put_events_entries += put_entries
            self._counts.empty_receives += empty
            self._counts.read_units += read
            self._counts.write_units += write


def _signer(environ: dict[str, Any]) -> tuple[str, str]:
    """Who signed the request (access key id) and for which service."""
    match = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match:
        return match.group(1), match.group(2)
    return "", "moto" if environ.get("PATH_INFO", "").startswith("/moto-api") else "unsigned"


def observer_client(service: str, endpoint_url: str) -> Any:
    """A client of the local AWS whose calls ``CallCounter`` leaves out of its counts."""
    from orderflow_local.settings import local_client

    return local_client(service, endpoint_url, access_key=OBSERVER_ACCESS_KEY)


def _read_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body: bytes = environ["wsgi.input"].read(length) if length else b""
    _replace_body(environ, body)
    return body


def _replace_body(environ: dict[str, Any], body: bytes) -> None:
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))


def _query_action(body: bytes) -> str:
    match = _QUERY_ACTION.search(body)
    return match.group(1).decode() if match else ""


def _rest_operation(service: str, environ: dict[str, Any]) -> str:
    method, path = environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", "")
    for known_service, known_method, shape, name in _REST_OPERATIONS:
        if service == known_service and method == known_method and shape.match(path):
            return name
    return f"{method} {path.split('/')[1] if path.count('/') else path}"


# moto answers ReturnConsumedCapacity with a constant per API (and nothing for transactions), so the
# units are worked out here by DynamoDB's on-demand rules: a write unit per KB written (two in a
# transaction), a read unit per 4 KB read strongly (half eventually, two in a transaction). An
# UpdateItem is sized by what it sends, a lower bound of the item it rewrites.
_KB = 1024
_READ_UNIT_BYTES = 4 * _KB


def _consumed_units(operation: str, request: bytes, response: bytes) -> tuple[float, float]:
    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        return 0.0, _write_units(len(request))
    if operation == "TransactWriteItems":
        items = json.loads(request).get("TransactItems", [])
        return 0.0, sum(2 * _write_units(len(json.dumps(item))) for item in items)
    if operation == "BatchWriteItem":
        batches = json.loads(request).get("RequestItems", {}).values()
        return 0.0, sum(_write_units(len(json.dumps(item))) for batch in batches for item in batch)
    if operation in ("GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"):
        consistent = b'"ConsistentRead": true' in request or b'"ConsistentRead":true' in request
        factor = 2.0 if operation == "TransactGetItems" else 1.0 if consistent else 0.5
        return factor * max(1, -(-len(response) // _READ_UNIT_BYTES)), 0.0
    return 0.0, 0.0


def _write_units(size: int) -> float:
    return float(max(1, -(-size // _KB)))


# --- the process ---------------------------------------------------------------------------------


def _serve(host: str, port: int, time_scale: float, fault_plan: Path | None, fixed: bool) -> None:
    # The Step Functions interpreter calls back into the server through MOTO_PORT.
    os.environ["MOTO_PORT"] = str(port)
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    from orderflow_local import faults, moto_compat

    logging.basicConfig(level=logging.WARNING)
    # werkzeug logs every request at INFO unless told otherwise: about 5% of the server's CPU.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if fixed:
        moto_compat.apply(time_scale=time_scale)
    plan = faults.open_plan(fault_plan)
    if plan is not None:
        faults.throttle_put_events(plan)
    app = CallCounter(DomainDispatcherApplication(create_backend_app))
    server = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
    server.serve_forever()


class LocalAwsServer:
    """moto on ``host:port`` in a child process, started with the runtime's time scale and fault plan.

    ``fixed=False`` serves moto as released, without ``moto_compat`` (the benchmark's floor).
    """

    def __init__(
        self,
        host: str,
        port: int,
        time_scale: float = 1.0,
        fault_plan: Path | None = None,
        *,
        fixed: bool = True,
    ) -> None:
        self.endpoint = f"http://{host}:{port}"
        self._process = _spawn.Process(
            target=_serve, args=(host, port, time_scale, fault_plan, fixed), name="local-aws", daemon=True
        )

    @property
    def pid(self) -> int | None:
        return self._process.pid

    def start(self) -> None:
        self._process.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                self.call_counts()
                break
            except (urllib.error.URLError, ConnectionError):
                if not self._process.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"the local AWS did not start on {self.endpoint}") from None
                time.sleep(0.05)
        # Execution must be switched on before any state machine exists: it selects another backend.
        self._post("/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})

    def stop(self) -> None:
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=10)

    def call_counts(self) -> CallCounts:
        return call_counts(self.endpoint)

    def _post(self, path: str, body: dict[str, Any]) -> None:
        request = urllib.request.Request(  # noqa: S310 - our own loopback server
            f"{self.endpoint}{path}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - our own loopback server
            pass


def call_counts(endpoint: str) -> CallCounts:
    """The counts of the local AWS at ``endpoint`` (a running ``make run`` or a launched stack)."""
    with urllib.request.urlopen(f"{endpoint}{CALLS_PATH}", timeout=10) as response:  # noqa: S310
        return CallCounts.from_json(json.loads(response.read()))
