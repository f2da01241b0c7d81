"""Running the project's Lambda handlers locally, one process per function.

Each function gets its own process, as each Lambda function gets its own containers: its
environment variables (table names, queue URLs, the POWERTOOLS_* settings) are its own, module
level code runs once at start (INIT), and a hung or crashed handler is killed and replaced
without touching the others. Invocations of one function run one at a time, like a function
with reserved concurrency 1.
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
from typing import Any

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


def _worker_main(spec: FunctionSpec, environment: dict[str, str], connection: Connection) -> None:
    os.environ.update(environment)
    sys.path.insert(0, str(spec.code_dir))
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
        try:
            connection.send(("ok", handler(event, context)))
        except Exception as error:
            connection.send(("error", {"errorType": type(error).__name__, "errorMessage": str(error)}))


class LocalFunction:
    """A function's process, started from its spec and invoked like Lambda's Invoke API."""

    def __init__(self, spec: FunctionSpec, environment: dict[str, str]) -> None:
        self.spec = spec
        self._environment = environment
        self._lock = threading.Lock()
        self._process: Any = None
        self._connection: Connection | None = None

    def start(self) -> None:
        parent, child = _spawn.Pipe()
        self._process = _spawn.Process(
            target=_worker_main,
            args=(self.spec, self._environment, child),
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
        status, detail = self._connection.recv()
        if status != "ready":
            raise FunctionError(f"{self.spec.name}: initialisation failed\n{detail}")

    def invoke(self, event: dict[str, Any]) -> Any:
        with self._lock:
            assert self._connection is not None
            self._connection.send((str(uuid.uuid4()), event))
            if not self._connection.poll(self.spec.timeout):
                self._replace()
                raise FunctionError(f"{self.spec.name}: Task timed out after {self.spec.timeout} seconds")
            try:
                status, result = self._connection.recv()
            except EOFError as error:
                self._replace()
                raise FunctionError(f"{self.spec.name}: the function's process exited") from error
        if status != "ok":
            raise FunctionError(f"{self.spec.name}: {result['errorType']}: {result['errorMessage']}")
        return result

    def _replace(self) -> None:
        # Like Lambda after a timeout or crash: the next invocation gets a fresh container.
        self.stop()
        self.start()
        self.wait_ready(timeout=60)

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
        if self._process is not None and self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5)
