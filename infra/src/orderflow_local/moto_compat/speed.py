"""Speed-ups: work moto repeats on every request or execution that gives the same answer each time.

Not parity fixes: each leaves what moto answers unchanged and only stops it recomputing a result
that depends on nothing but its input. Measured on the order saga under load (py-spy samples of
the local AWS process, 10 concurrent clients), before these: 23% of the busy samples resolving
which backend serves a request (a directory listing of moto's package under a global lock, per
request), 13% parsing the state machine's definition (an ANTLR parse per execution), 10%
building JSONPath parsers (a PLY parser generated per expression evaluated, per event and per
state), 8% creating a boto3 client per task state.
"""

from __future__ import annotations

import functools
import json
import sys
import threading
from collections.abc import Callable
from typing import Any, Final

from orderflow_local.moto_compat._base import Fix, _original, _Patch

# isort: split
# The internals below are imported only once the version is known to match.
import jsonpath_ng
import jsonpath_ng.ext
from moto.core.models import botocore_stubber
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.settings import moto_server_port
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.eval_component import EvalComponent
from moto.stepfunctions.parser.asl.utils import boto_client, json_path
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker

_CACHE_SIZE: Final = 1024


class BackendForHostRemembered(Fix):
    """Resolve the backend serving a host once, not on every request.

    moto cost: ``DomainDispatcherApplication.get_backend_for_host`` lists moto's package directory
    (and stats each entry) for every request, under the dispatcher's global lock, so requests
    queue behind a file-system walk.

    The answer depends only on the host, and the package does not change while the server runs.
    Drop when moto caches it (``test_the_backend_of_a_host_is_resolved_once`` then passes unpatched).
    """

    def _patches(self) -> list[_Patch]:
        resolve = _original(DomainDispatcherApplication, "get_backend_for_host")
        remembered: dict[str | None, Any] = {}

        def get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
            # Called under the dispatcher's lock, so the dictionary needs no lock of its own.
            if host not in remembered:
                remembered[host] = resolve(self, host)
            return remembered[host]

        return [(DomainDispatcherApplication, "get_backend_for_host", get_backend_for_host)]


# Components that keep state of one evaluation on themselves: a program holding one is never shared.
_STATEFUL_STATE_TYPES: Final = frozenset({"Parallel", "Map"})


class ParsedDefinitionsReused(Fix):
    """Parse a state machine definition once, not once per execution.

    moto cost: every execution (and every redrive) runs the ANTLR parser over the whole
    definition before its first state.

    A parsed program of Task, Choice, Pass, Wait, Succeed and Fail states keeps the state of an
    evaluation in the execution's environment, never on its components, so executions of one
    definition can share it. A definition with a Parallel or Map state is parsed afresh each time
    (their components count running branches and iterations on themselves).
    Drop when moto caches parsed definitions (``test_a_definition_is_parsed_once`` then passes
    unpatched).
    """

    def _patches(self) -> list[_Patch]:
        entrypoint = _original(ExecutionWorker, "_get_evaluation_entrypoint")
        parsed: dict[str, EvalComponent] = {}
        lock = threading.Lock()

        def _get_evaluation_entrypoint(self: ExecutionWorker) -> EvalComponent:
            definition: str = self._evaluation_details.state_machine_details.definition
            with lock:
                program = parsed.get(definition)
            if program is not None:
                return program
            program = entrypoint(self)
            if _shareable(definition):
                with lock:
                    if len(parsed) >= _CACHE_SIZE:
                        parsed.clear()
                    program = parsed.setdefault(definition, program)
            return program

        return [(ExecutionWorker, "_get_evaluation_entrypoint", _get_evaluation_entrypoint)]


def _shareable(definition: str) -> bool:
    def state_types(states: dict[str, Any]) -> set[str]:
        return {state.get("Type", "") for state in states.values()}

    try:
        states = json.loads(definition).get("States", {})
    except (ValueError, AttributeError):
        return False
    return isinstance(states, dict) and not state_types(states) & _STATEFUL_STATE_TYPES


# Every name under which moto's code calls a JSONPath parse function, and the function it is.
_JSONPATH_PARSERS: Final[tuple[tuple[Any, str], ...]] = (
    (jsonpath_ng, "parse"),
    (jsonpath_ng.ext, "parse"),
    (json_path, "parse"),
    (result_path, "parse"),
)


class JsonPathParsersReused(Fix):
    """Parse each JSONPath expression once.

    moto cost: ``jsonpath_ng``'s ``parse`` builds a new PLY parser (its tables regenerated) for
    every expression it parses, and moto parses the same few expressions again for every state's
    InputPath/ResultPath/Parameters and every event an input transformer rewrites.

    A parsed expression is immutable, so one per expression text serves every caller.
    Drop when jsonpath_ng caches its parser (``test_a_json_path_is_parsed_once`` then passes
    unpatched).
    """

    def _patches(self) -> list[_Patch]:
        patches: list[_Patch] = []
        for module, name in _JSONPATH_PARSERS:
            patches.append((module, name, functools.lru_cache(maxsize=_CACHE_SIZE)(_original(module, name))))
        return patches


class ServiceClientsReused(Fix):
    """Create one boto3 client per service and region for the interpreter's task states, not one per task.

    moto cost: every service-integration task (``events:putEvents``, ``lambda:invoke``, ...) builds
    a boto3 client (loading and copying the service model and its event hooks) for its one call.

    Clients are thread-safe and moto's are all alike (fixed credentials, no retries), so one per
    region, service and endpoint serves every execution. Drop when moto reuses its clients
    (``test_task_states_reuse_their_service_client`` then passes unpatched).
    """

    def _patches(self) -> list[_Patch]:
        create = _original(boto_client, "boto_client_for")
        clients: dict[tuple[str, str, bool, str], Any] = {}
        lock = threading.Lock()

        def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
            # In-process (mock_aws) and server mode reach moto differently: never share across them.
            key = (region, service, bool(botocore_stubber.enabled), moto_server_port())
            with lock:
                client = clients.get(key)
                if client is None:
                    client = clients[key] = create(region, service, state_credentials)
            return client

        return [(module, "boto_client_for", boto_client_for) for module in _modules_calling(create)]


def _modules_calling(function: Callable[..., Any]) -> list[Any]:
    """Every loaded module of moto's interpreter that imported ``function`` under its own name."""
    prefix = "moto.stepfunctions.parser."
    return [
        module
        for name, module in list(sys.modules.items())
        if name.startswith(prefix) and getattr(module, function.__name__, None) is function
    ]


SPEEDUPS: Final[tuple[Fix, ...]] = (
    BackendForHostRemembered(),
    ParsedDefinitionsReused(),
    JsonPathParsersReused(),
    ServiceClientsReused(),
)
