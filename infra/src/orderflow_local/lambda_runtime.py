"""Running the project's Lambda handlers locally, one process per function.

Each function gets its own process, as each Lambda function gets its own containers: its
environment variables (table names, queue URLs, the POWERTOOLS_* settings) are its own, module
level code runs once at start (INIT), and a hung or crashed handler is killed and replaced
without touching the others. Invocations of one function run one at a time, like a function
with reserved concurrency 1; ``twin`` starts another instance of the same function for the rare
case (a concurrent duplicate delivery, see ``faults``) where Lambda runs two containers at once.

With a fault plan, the worker installs the fault hooks (``faults.install_function_faults``)
before it imports the handler, so every client the handler creates is hooked; the handler code
is the deployed code, unchanged. With ``ORDERFLOW_ACCESS_LOG`` set, it also records every AWS call
the function makes (``access.recording``), for the least-privilege check, and refuses those the
function's role does not allow, as AWS would (``access.enforce``).
"""

from __future__ import annotations

import importlib
import logging
import multiprocessing
import os
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from orderflow_local import faults
from orderflow_local.access import recording
from orderflow_local.resources import FunctionSpec
from orderflow_local.settings import ACCOUNT_ID, REGION

logger = logging.getLogger(__name__)

_spawn = multiprocessing.get_context("spawn")


class FunctionError(RuntimeError):
    """The handler raised, timed out or crashed: Lambda would report a function error."""


@dataclass
class _Context:
    function_name: str
    memory_limit_in_mb: int
    invoked_function_arn: str
    aws_request_id: str
    deadline: float
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = "local"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def _worker_main(
    spec: FunctionSpec, environment: dict[str, str], connection: Connection, fault_plan: Path | None
) -> None:
    os.environ.update(environment)
    sys.path.insert(0, str(spec.code_dir))
    # Before the import: clients created at module level (INIT) must see the hooks too. The call
    # log first, so that its record of a call is written before a fault can crash the process, and
    # a call the function's role does not allow is refused before a fault hook sees it.
    access_log = recording.access_log_dir()
    if access_log is not None:
        recording.install(access_log, spec.logical_id, spec.name, spec.role)
    function_faults = faults.install_function_faults(fault_plan, spec.logical_id) if fault_plan else None
    module_name, function_name = spec.handler.rsplit(".", 1)
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
    except Exception:  # an INIT failure is reported to the parent, which reports it on invoke
        connection.send(("init_error", traceback.format_exc()))
        return
    connection.send(("ready", None))
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:{spec.name}"
    while True:
        try:
            message = connection.recv()
        except EOFError:
            return
        request_id, event = message
        context = _Context(
            function_name=spec.name,
            memory_limit_in_mb=spec.memory,
            invoked_function_arn=arn,
            aws_request_id=request_id,
            deadline=time.monotonic() + spec.timeout,
            log_group_name=f"/aws/lambda/{spec.name}",
        )
        if function_faults is not None:
            function_faults.start_invocation(event)
        started = time.perf_counter()
        try:
            outcome: tuple[str, Any] = ("ok", handler(event, context))
        except Exception as error:
            outcome = ("error", {"errorType": type(error).__name__, "errorMessage": str(error)})
        # The handler's own time, as Lambda measures (and bills) an invocation's duration.
        connection.send((*outcome, (time.perf_counter() - started) * 1000))


class LocalFunction:
    """A function's process, started from its spec and invoked like Lambda's Invoke API."""

    def __init__(
        self, spec: FunctionSpec, environment: dict[str, str], fault_plan: Path | None = None
    ) -> None:
        self.spec = spec
        self._environment = environment
        self._fault_plan = fault_plan
        self._lock = threading.Lock()
        self._process: Any = None
        self._connection: Connection | None = None
        self._twins: list[LocalFunction] = []
        self._twins_lock = threading.Lock()
        self.invocations = 0
        self.duration_ms = 0.0  # the invocations' handler time, summed
        self._successor: LocalFunction | None = None  # set when a redeploy retires this instance
        self._retired = False

    def start(self) -> None:
        parent, child = _spawn.Pipe()
        self._process = _spawn.Process(
            target=_worker_main,
            args=(self.spec, self._environment, child, self._fault_plan),
            name=f"lambda:{self.spec.name}",
            daemon=True,
        )
        self._process.start()
        child.close()
        self._connection = parent

    def wait_ready(self, timeout: float) -> None:
        assert self._connection is not None
        if not self._connection.poll(timeout):
            raise FunctionError(f"{self.spec.name}: not initialised within {timeout:.0f} s")
        try:
            status, detail = self._connection.recv()
        except EOFError as error:
            raise FunctionError(f"{self.spec.name}: the process exited during initialisation") from error
        if status != "ready":
            raise FunctionError(f"{self.spec.name}: initialisation failed\n{detail}")

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._lock:
            if self._retired and self._successor is None:
                raise FunctionError(f"{self.spec.name}: the function was removed by a redeploy")
            successor = self._successor
            if successor is None:
                status, result = self._invoke_locked(event)
        if successor is not None:
            # Retired by a redeploy: every invocation from now on runs the new code.
            return successor.invoke(event)
        if status != "ok":
            raise FunctionError(f"{self.spec.name}: {result['errorType']}: {result['errorMessage']}")
        return result

    def _invoke_locked(self, event: dict[str, Any]) -> tuple[str, Any]:
        assert self._connection is not None
        self._connection.send((str(uuid.uuid4()), event))
        if not self._connection.poll(self.spec.timeout):
            self._replace()
            raise FunctionError(f"{self.spec.name}: Task timed out after {self.spec.timeout} seconds")
        try:
            status, result, duration_ms = self._connection.recv()
        except EOFError as error:
            self._process.join(timeout=5)
            status_code = self._process.exitcode
            self._replace()
            raise FunctionError(
                f"{self.spec.name}: the function's process exited (status {status_code})"
            ) from error
        self.invocations += 1
        self.duration_ms += duration_ms
        return status, result

    def retire(self, successor: LocalFunction | None) -> None:
        """Hand over to ``successor`` (the same function with new code, started and ready), as a
        redeploy does: an invocation in progress finishes here, every later one goes to the successor
        (without one, the function was removed: it fails), and this instance's process (and its
        twins') then stops."""
        with self._lock:  # waits for the invocation in progress
            self._successor = successor
            self._retired = True
        self.stop()

    def _replace(self) -> None:
        # Like Lambda after a timeout or crash: the next invocation gets a fresh container.
        self._stop_process()
        self.start()
        self.wait_ready(timeout=60)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def twin(self, number: int = 1) -> LocalFunction:
        """The `number`th other instance of this function, started on first use and kept.

        Its own process, so it runs at the same time as this one, as a second container would.
        """
        if number < 1:
            raise ValueError("twin 0 is the function itself")
        if self._successor is not None:
            return self._successor.twin(number)
        with self._twins_lock:
            while len(self._twins) < number:
                twin = LocalFunction(self.spec, self._environment, self._fault_plan)
                twin.start()
                twin.wait_ready(timeout=60)
                self._twins.append(twin)
            return self._twins[number - 1]

    def stop(self) -> None:
        with self._twins_lock:
            for twin in self._twins:
                twin.stop()
            self._twins.clear()
        self._stop_process()

    def _stop_process(self) -> None:
        if self._connection is not None:
            self._connection.close()
        if self._process is not None and self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5)
