"""Redeploying one service into the running local system, while the others keep running.

`make deploy SERVICE=<service> ENV=local` (``orderflow_iac.deploy``) asks the running runtime, on its
API port, ``POST /_orderflow/deploy?service=<service>&source=<folder>``: the folder holds the
service's template.yaml and the code its CodeUri names (by default the checkout's
``services/<service>``; any copy of it works). The runtime then, one redeploy at a time:

1. translates the template again and updates the service's stack in the local AWS as a CloudFormation
   stack update does (``Provisioner.update``): new resources are created, changed ones updated in
   place, removed ones deleted, the rest kept (tables keep their items, queues their messages). A
   change that would replace a resource fails before anything changes;
2. starts the stack's functions again, in new processes with the new code, and waits for their INIT;
   if one fails, the new processes are stopped and the old ones keep serving;
3. stops the stack's SQS pollers and starts new ones on the new processes: messages that arrive
   meanwhile wait in their queues. A poller stopped in a long poll may still receive one batch; it
   reaches the new code (below);
4. swaps the stack's API routes for the new template's in one step;
5. retires each old process: an invocation in progress finishes on the old code, every later one
   (from the API, a poller, a twin) goes to the new process, and the old process stops;
6. reads the scheduled rules again, so a changed, new or removed schedule takes effect.

Nothing of the other services is touched: their processes, pollers and routes stay as they are.
The control path is served on 127.0.0.1 only, like the rest of the local runtime, and runs code the
caller names: it is a local development tool, never exposed.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orderflow_local.api_gateway import JsonResponse, Route
from orderflow_local.intrinsics import TemplateError
from orderflow_local.lambda_runtime import FunctionError, LocalFunction
from orderflow_local.provisioner import Provisioner
from orderflow_local.stacks import INFRA_STACK, STACKS, StackDefinition

if TYPE_CHECKING:
    from orderflow_local.system import LocalSystem

logger = logging.getLogger(__name__)

PATH = "/_orderflow/deploy"
POLLING_TIMEOUT = 30.0


class RedeployError(Exception):
    """A redeploy refused or failed; the service keeps running as it was (its resources may have
    been updated when its new code failed to start)."""


def service_stacks() -> dict[str, StackDefinition]:
    """The services a redeploy takes, by name (orders, inventory, ...): every stack but infra."""
    return {
        definition.name.removeprefix("orderflow-"): definition
        for definition in STACKS
        if definition.name != INFRA_STACK
    }


class Redeployer:
    def __init__(self, system: LocalSystem) -> None:
        self._system = system
        self._lock = threading.Lock()

    def respond(self, method: str, path: str, query: Mapping[str, list[str]]) -> JsonResponse:
        """``POST /_orderflow/deploy?service=<name>[&source=<folder>]``: redeploy, answer what changed."""
        if method != "POST":
            return JsonResponse(
                HTTPStatus.METHOD_NOT_ALLOWED,
                {"message": f"{method} not allowed on {path}"},
                {"Allow": "POST"},
            )
        service = (query.get("service") or [""])[0]
        source = (query.get("source") or [""])[0]
        try:
            return JsonResponse(HTTPStatus.OK, self.redeploy(service, Path(source) if source else None))
        except RedeployError as error:
            return JsonResponse(HTTPStatus.BAD_REQUEST, {"message": str(error)})
        except Exception as error:
            logger.exception("redeploy of %s failed", service)
            return JsonResponse(
                HTTPStatus.INTERNAL_SERVER_ERROR, {"message": f"{type(error).__name__}: {error}"}
            )

    def redeploy(self, service: str, source: Path | None = None) -> dict[str, Any]:
        definitions = service_stacks()
        if service not in definitions:
            raise RedeployError(f"unknown service {service!r}: one of {', '.join(definitions)}")
        definition = definitions[service]
        folder = (source or self._system.settings.repo_root / definition.template).resolve()
        template = folder if folder.is_file() else folder / "template.yaml"
        if not template.is_file():
            raise RedeployError(f"{template} does not exist: give the folder of the service's template.yaml")
        with self._lock:  # one redeploy at a time
            if not self._system.ready:
                raise RedeployError("the local system is not up yet")
            started = time.monotonic()
            logger.info("redeploying %s from %s", definition.name, template)
            summary = self._redeploy(definition, template)
            summary["seconds"] = round(time.monotonic() - started, 2)
            logger.info(
                "redeployed %s in %.1f s: %s", definition.name, summary["seconds"], summary["changes"]
            )
            return summary

    def _redeploy(self, definition: StackDefinition, template: Path) -> dict[str, Any]:
        system = self._system
        previous = system.stacks[definition.name]
        provisioner = Provisioner(system.client, system.schema_store)
        try:
            stack, changes = provisioner.update(
                previous, template, definition.parameters(system.local_endpoints())
            )
        except (TemplateError, FileNotFoundError, ValueError) as error:
            raise RedeployError(str(error)) from error
        system.stacks[definition.name] = stack

        # 2. The new code, started beside the old, which serves until the new has run its INIT.
        functions, scale_out = system.functions_of(stack)
        fresh = [*functions.values(), *itertools.chain.from_iterable(scale_out.values())]
        try:
            system.start_functions(fresh)
        except FunctionError as error:
            for instance in fresh:
                instance.stop()
            raise RedeployError(
                f"{definition.name}: the new code did not start, the old code keeps serving "
                f"(the stack's resources are updated): {error}"
            ) from error

        # 3. Pollers: the old ones stop receiving, the new ones deliver to the new processes.
        old_sources = {id(source) for source in previous.event_sources}
        old_pollers = [p for p in system.pollers if id(p.source) in old_sources]
        for poller in old_pollers:
            # Not waited for: a thread still in its long poll may receive one more batch, which
            # reaches the new code through the retired function (5).
            poller.request_stop()
        new_pollers = system.pollers_of(stack, functions, scale_out)
        for poller in new_pollers:
            poller.start()
        system.pollers = [p for p in system.pollers if id(p.source) not in old_sources] + new_pollers

        # 4. Routes, swapped in one step.
        prefix = f"{stack.name}."
        old_keys = [key for key in system.functions if key.startswith(prefix)]
        old_instances = {key: system.instances(key) for key in old_keys}
        system.gateway.replace_routes(
            [instance for instances in old_instances.values() for instance in instances],
            [
                Route(
                    route.method, route.path, functions[prefix + route.function_logical_id], route.authorizer
                )
                for route in stack.routes
            ],
        )

        # 5. The old processes hand over once their invocation in progress, if any, has finished.
        # Each map replaced in one assignment: a reader (GET /_orderflow/runtime) never sees it half done.
        system.functions = {k: f for k, f in system.functions.items() if k not in old_instances} | functions
        system.scale_out = {k: f for k, f in system.scale_out.items() if k not in old_instances} | scale_out
        handovers: list[tuple[LocalFunction, LocalFunction | None]] = []
        for key, instances in old_instances.items():
            successors = [functions[key], *scale_out.get(key, [])] if key in functions else []
            for n, instance in enumerate(instances):
                handovers.append((instance, successors[n % len(successors)] if successors else None))
        with ThreadPoolExecutor(max_workers=len(handovers) or 1) as pool:
            list(pool.map(lambda pair: pair[0].retire(pair[1]), handovers))

        # 6. Schedules.
        if system.scheduler is not None:
            system.scheduler.reload()
        deadline = time.monotonic() + POLLING_TIMEOUT
        while not all(p.polling.is_set() for p in new_pollers):
            if time.monotonic() > deadline:
                raise RedeployError(f"{definition.name}: the new consumers did not start polling in time")
            time.sleep(0.05)
        return {
            "stack": stack.name,
            "template": str(template),
            "changes": changes.summary(),
            "functions": {key: [instance.pid for instance in system.instances(key)] for key in functions},
            "consumers": sorted(p.source.logical_id for p in new_pollers),
        }
