"""The local AWS (moto, with ``moto_compat``) in a process of its own, counting the calls it serves.

moto, the Step Functions interpreter and every backend hold a lock-free mass of Python objects: in
the same interpreter as the SQS pollers, the API gateway and the payment provider they all share
one core. In a process of their own the rest of the local runtime runs on the other core.

Every request is counted by service and API (``CallCounter``), with what a bill is made of beside
it: PutEvents entries, empty ReceiveMessage answers, and DynamoDB capacity units by table (each
DynamoDB call's read and write units, by DynamoDB's on-demand rules, from the items as moto holds
them: ``orderflow_local.dynamodb_capacity``).
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

from orderflow_local.dynamodb_capacity import CapacityMeter, Index, Shape, StoredItem

logger = logging.getLogger(__name__)

CALLS_PATH = "/_orderflow/calls"
START_TIMEOUT_SECONDS = 60
OBSERVER_ACCESS_KEY = "orderflow-observer"

_spawn = multiprocessing.get_context("spawn")
_CREDENTIAL_SCOPE = re.compile(r"Credential=([^/]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")
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
    # Messages EventBridge rules put on SQS queues: SendMessage requests made for us inside moto, not
    # through its HTTP API, and billed by SQS all the same (the queue's owner pays every request).
    queue_deliveries: int = 0
    read_units_by_table: dict[str, float] = dataclasses.field(default_factory=dict)
    write_units_by_table: dict[str, float] = dataclasses.field(default_factory=dict)

    @property
    def read_units(self) -> float:
        return float(sum(self.read_units_by_table.values()))

    @property
    def write_units(self) -> float:
        return float(sum(self.write_units_by_table.values()))

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": dict(self.calls),
            "putEventsEntries": self.put_events_entries,
            "emptyReceives": self.empty_receives,
            "queueDeliveries": self.queue_deliveries,
            "readUnits": self.read_units,
            "writeUnits": self.write_units,
            "readUnitsByTable": dict(self.read_units_by_table),
            "writeUnitsByTable": dict(self.write_units_by_table),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CallCounts:
        return cls(
            Counter(data["calls"]),
            data["putEventsEntries"],
            data["emptyReceives"],
            data["queueDeliveries"],
            dict(data["readUnitsByTable"]),
            dict(data["writeUnitsByTable"]),
        )

    def __sub__(self, earlier: CallCounts) -> CallCounts:
        calls = Counter(self.calls)
        calls.subtract(earlier.calls)
        return CallCounts(
            +calls,
            self.put_events_entries - earlier.put_events_entries,
            self.empty_receives - earlier.empty_receives,
            self.queue_deliveries - earlier.queue_deliveries,
            _minus(self.read_units_by_table, earlier.read_units_by_table),
            _minus(self.write_units_by_table, earlier.write_units_by_table),
        )


def _minus(later: dict[str, float], earlier: dict[str, float]) -> dict[str, float]:
    difference = {name: units - earlier.get(name, 0.0) for name, units in later.items()}
    return {name: units for name, units in difference.items() if units > 0}


def _add(into: dict[str, float], units: dict[str, float]) -> None:
    for name, amount in units.items():
        into[name] = into.get(name, 0.0) + amount


class CallCounter:
    """WSGI middleware in front of moto: counts each request by service and API."""

    def __init__(
        self, app: Callable[..., Iterable[bytes]], capacity: Callable[[str], CapacityMeter] | None = None
    ) -> None:
        self._app = app
        self._capacity = capacity  # the DynamoDB capacity meter of a region
        self._lock = threading.Lock()
        self._counts = CallCounts(Counter())

    def counts(self) -> CallCounts:
        with self._lock:
            return dataclasses.replace(
                self._counts,
                calls=Counter(self._counts.calls),
                read_units_by_table=dict(self._counts.read_units_by_table),
                write_units_by_table=dict(self._counts.write_units_by_table),
            )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == CALLS_PATH:
            body = json.dumps(self.counts().to_json()).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        access_key, service, region = _signer(environ)
        if access_key == OBSERVER_ACCESS_KEY:
            return self._app(environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        operation = target.rsplit(".", 1)[-1] if target else ""
        request_body = b""
        if not operation or service in ("dynamodb", "events", "sqs"):
            request_body = _read_body(environ)
        if not operation:
            operation = _query_action(request_body) or _rest_operation(service, environ)
        if service == "dynamodb" and self._capacity is not None:
            meter = self._capacity(region)
            request = json.loads(request_body or b"{}")
            writes = meter.before(operation, request)
            chunks = list(self._app(environ, start_response))
            units = meter.after(operation, request, json.loads(b"".join(chunks) or b"{}"), writes)
            with self._lock:
                _add(self._counts.read_units_by_table, units.read)
                _add(self._counts.write_units_by_table, units.write)
        else:
            chunks = list(self._app(environ, start_response))
        self._record(service, operation, request_body, b"".join(chunks))
        return chunks

    def record_queue_delivery(self) -> None:
        with self._lock:
            self._counts.queue_deliveries += 1

    def _record(self, service: str, operation: str, request: bytes, response: bytes) -> None:
        put_entries = 0
        empty = 0
        if service == "events" and operation == "PutEvents":
            put_entries = len(json.loads(request or b"{}").get("Entries", []))
        elif service == "sqs" and operation == "ReceiveMessage":
            empty = 0 if b"Messages" in response else 1
        with self._lock:
            self._counts.calls[f"{service}:{operation or 'unknown'}"] += 1
            self._counts.put_events_entries += put_entries
            self._counts.empty_receives += empty


def _signer(environ: dict[str, Any]) -> tuple[str, str, str]:
    """Who signed the request (access key id), for which service and region."""
    match = _CREDENTIAL_SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
    if match:
        return match.group(1), match.group(3), match.group(2)
    return "", "moto" if environ.get("PATH_INFO", "").startswith("/moto-api") else "unsigned", ""


def count_queue_deliveries(counter: CallCounter) -> None:
    """Makes ``counter`` count each message an EventBridge rule delivers to an SQS queue (in this
    process: the server's)."""
    from moto.events.models import Rule

    deliver = Rule._send_to_sqs_queue

    def _counted(self: Rule, *args: Any, **kwargs: Any) -> None:
        deliver(self, *args, **kwargs)
        counter.record_queue_delivery()

    Rule._send_to_sqs_queue = _counted  # type: ignore[method-assign]


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


def moto_capacity_meter(region: str) -> CapacityMeter:
    """The capacity meter of moto's DynamoDB in ``region`` (of this process: the server's)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends
    from moto.dynamodb.models.dynamo_type import DynamoType, bytesize

    tables = dynamodb_backends[DEFAULT_ACCOUNT_ID][region].tables

    def lookup(name: str, key: dict[str, Any]) -> StoredItem | None:
        table = tables.get(name)
        if table is None or table.hash_key_attr not in key:
            return None
        ranged = table.range_key_attr
        if ranged is not None and ranged not in key:
            return None
        item = table.get_item(
            DynamoType(key[table.hash_key_attr]), DynamoType(key[ranged]) if ranged is not None else None
        )
        if item is None:
            return None
        attributes = dict(item.attrs)
        return StoredItem(
            attributes, {name: bytesize(name) + value.size() for name, value in attributes.items()}
        )

    def shape(name: str) -> Shape | None:
        table = tables.get(name)
        if table is None:
            return None
        return Shape(
            key=(table.hash_key_attr, *([table.range_key_attr] if table.range_key_attr else [])),
            indexes=tuple(
                Index(
                    key=tuple(part["AttributeName"] for part in index.schema),
                    projection=index.projection.get("ProjectionType", "ALL"),
                    included=tuple(index.projection.get("NonKeyAttributes", [])),
                )
                for index in table.global_indexes
            ),
        )

    return CapacityMeter(lookup, shape)


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
    app = CallCounter(DomainDispatcherApplication(create_backend_app), moto_capacity_meter)
    count_queue_deliveries(app)
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
