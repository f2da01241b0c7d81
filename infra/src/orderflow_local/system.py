"""The whole local system: moto, every stack, the handlers, the pollers, the API and the payment provider."""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from http import HTTPStatus
from typing import Any

from orderflow_local import faults, redeploy, schemas_api
from orderflow_local.api_gateway import JsonResponse, LocalApiGateway
from orderflow_local.aws_server import LocalAwsServer
from orderflow_local.cognito import TokenVerifier, served_jwks
from orderflow_local.lambda_runtime import LocalFunction
from orderflow_local.payment_provider import PaymentProviderServer
from orderflow_local.provisioner import DeployedStack, Provisioner
from orderflow_local.scheduler import Scheduler
from orderflow_local.schema_store import SchemaStore
from orderflow_local.settings import REGION, Settings, local_client
from orderflow_local.sqs_poller import SqsPoller
from orderflow_local.stacks import OPENAPI_DOCUMENT, PAYMENTS_STACK, STACKS, LocalEndpoints
from orderflow_local.xray_collector import TRACES_PATH, SegmentStore, XRayCollector

logger = logging.getLogger(__name__)

FUNCTION_INIT_TIMEOUT = 120
# Lambda runs an SQS source's batches on several containers at once (its pollers start at five). A
# function that takes one message per invocation gets this many processes locally, so that one
# slow message does not hold up its queue; batching functions keep one.
SCALE_OUT_INSTANCES = 2
RUNTIME_STATS_PATH = "/_orderflow/runtime"

# Local stand-ins for the credentials and region a Lambda container is given.
AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}


class LocalSystem:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.stacks: dict[str, DeployedStack] = {}
        self.functions: dict[str, LocalFunction] = {}
        # Further instances of the functions that take one message per invocation (see below).
        self.scale_out: dict[str, list[LocalFunction]] = {}
        self.pollers: list[SqsPoller] = []
        self.scheduler: Scheduler | None = None
        # None unless ORDERFLOW_FAULT_PLAN is set: then functions, pollers and moto take faults.
        self.fault_plan = faults.open_plan(settings.fault_plan)
        self._aws = LocalAwsServer(settings.host, settings.aws_port, settings.time_scale, settings.fault_plan)
        self._provider: PaymentProviderServer | None = None
        self._ready = threading.Event()
        self._failure: str | None = None
        self.schema_store = SchemaStore()
        self.gateway = LocalApiGateway(
            settings.host,
            settings.api_port,
            self.health,
            settings.repo_root / OPENAPI_DOCUMENT,
            TokenVerifier(lambda: self.client("cognito-idp"), served_jwks(settings.aws_endpoint)),
        )
        # moto has no Schemas API: the registries the templates declare are served next to the API.
        self.gateway.mount(schemas_api.PREFIX, schemas_api.SchemasApi(self.schema_store).respond)
        self.gateway.mount(RUNTIME_STATS_PATH, self._runtime_stats)
        # The functions' trace segments (the X-Ray daemon's UDP protocol), served for `make trace`.
        self.segments = SegmentStore()
        self.xray = XRayCollector(self.segments, settings.host, settings.xray_port)
        self.gateway.mount(TRACES_PATH, self.segments.respond)
        # `make deploy SERVICE=<service> ENV=local`: one service redeployed while the others run.
        self.gateway.mount(redeploy.PATH, redeploy.Redeployer(self).respond)

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> None:
        started = time.monotonic()
        self.gateway.start()  # answers /health with 503 while the rest comes up
        self.xray.start()
        try:
            self._start_aws()
            self._deploy_stacks()
            self._start_functions()
            self._start_pollers_and_routes()
            self._start_scheduler()
        except Exception as error:
            self._failure = f"{type(error).__name__}: {error}"
            raise
        self._ready.set()
        logger.info(
            "orderflow is up in %.1f s: API %s, local AWS %s",
            time.monotonic() - started,
            self.gateway.url,
            self.settings.aws_endpoint,
        )

    def stop(self) -> None:
        if self.scheduler:
            self.scheduler.stop()
        for poller in self.pollers:  # all at once: each may be in a long poll
            poller.request_stop()
        for poller in self.pollers:
            poller.stop()
        for function in [*self.functions.values(), *itertools.chain.from_iterable(self.scale_out.values())]:
            function.stop()
        if self._provider:
            self._provider.stop()
        self.gateway.stop()
        self.xray.stop()
        self._aws.stop()

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def health(self) -> tuple[bool, dict[str, Any]]:
        if self._failure:
            return False, {"status": "failed", "error": self._failure}
        if not self._ready.is_set():
            return False, {"status": "starting", "stacks": sorted(self.stacks)}
        not_polling = [p.source.logical_id for p in self.pollers if not p.polling.is_set()]
        return not not_polling, {
            "status": "ok" if not not_polling else "degraded",
            "stacks": sorted(self.stacks),
            "functions": len(self.functions),
            "consumers": len(self.pollers),
            "notPolling": not_polling,
        }

    def instances(self, name: str) -> list[LocalFunction]:
        """Every process of the function ``name`` ("stack.LogicalId")."""
        return [self.functions[name], *self.scale_out.get(name, [])]

    def _runtime_stats(self, method: str, path: str, query: Mapping[str, list[str]]) -> JsonResponse:
        """What a benchmark reads about the runtime itself: its processes, invocations and API requests."""
        if method != "GET":
            return JsonResponse(HTTPStatus.METHOD_NOT_ALLOWED, {"message": f"{method} not allowed on {path}"})
        return JsonResponse(
            HTTPStatus.OK,
            {
                "processes": {
                    "aws": self._aws.pid,
                    "runtime": os.getpid(),
                    **{
                        f"function:{name}" + (f"#{n}" if n else ""): instance.pid
                        for name in self.functions
                        for n, instance in enumerate(self.instances(name))
                    },
                },
                "invocations": {
                    name: {
                        "count": sum(instance.invocations for instance in self.instances(name)),
                        "durationMs": sum(instance.duration_ms for instance in self.instances(name)),
                        "memoryMb": function.spec.memory,
                    }
                    for name, function in self.functions.items()
                },
                "apiRequests": dict(self.gateway.requests),
            },
        )

    # --- steps ---------------------------------------------------------------------------------

    def client(self, service: str) -> Any:
        return local_client(service, self.settings.aws_endpoint)

    def _start_aws(self) -> None:
        # moto (with its fixes, the time scale and the PutEvents faults) runs in a process of its own.
        self._aws.start()

    def _deploy_stacks(self) -> None:
        provisioner = Provisioner(self.client, self.schema_store)
        endpoints = self.local_endpoints()
        # In order, infra first: the services read what it shares from the SSM parameters it publishes.
        for definition in STACKS:
            parameters = definition.parameters(endpoints)
            stack = provisioner.deploy(
                definition.name, self.settings.repo_root / definition.template, parameters
            )
            self.stacks[definition.name] = stack
            logger.info("deployed %s (%d resources)", definition.name, len(stack.resources))
        self._start_payment_provider()

    def local_endpoints(self) -> LocalEndpoints:
        return LocalEndpoints(
            payment_provider_url=f"http://{self.settings.host}:{self.settings.payment_provider_port}",
            time_scale=self.settings.time_scale,
            api_url=self.gateway.url,
        )

    def _start_payment_provider(self) -> None:
        # The provider accepts the API key that the payments stack's secret holds, as the real
        # provider accepts the key an operator stores there.
        payments = self.stacks[PAYMENTS_STACK]
        (secret_id,) = [
            payments.physical_id(lid) for lid in payments.logical_ids_of_type("AWS::SecretsManager::Secret")
        ]
        api_key = self.client("secretsmanager").get_secret_value(SecretId=secret_id)["SecretString"]
        self._provider = PaymentProviderServer(
            api_key=api_key,
            host=self.settings.host,
            port=self.settings.payment_provider_port,
            # tok_timeout_after_charge answers just after the adapter has given up waiting.
            slow_answer_seconds=self.local_endpoints().provider_read_timeout_seconds + 0.5,
        )
        self._provider.start()

    def _start_functions(self) -> None:
        for stack in self.stacks.values():
            functions, scale_out = self.functions_of(stack)
            self.functions.update(functions)
            self.scale_out.update(scale_out)
        self.start_functions(
            [*self.functions.values(), *itertools.chain.from_iterable(self.scale_out.values())]
        )

    @staticmethod
    def start_functions(instances: list[LocalFunction]) -> None:
        """Start the functions' processes and wait until each has run its INIT."""
        for instance in instances:
            instance.start()
        with ThreadPoolExecutor(max_workers=len(instances) or 1) as pool:
            list(pool.map(lambda f: f.wait_ready(FUNCTION_INIT_TIMEOUT), instances))

    def functions_of(
        self, stack: DeployedStack
    ) -> tuple[dict[str, LocalFunction], dict[str, list[LocalFunction]]]:
        """The stack's functions ("stack.LogicalId") and their further instances, not started yet."""
        functions: dict[str, LocalFunction] = {}
        scale_out: dict[str, list[LocalFunction]] = {}
        for spec in stack.functions.values():
            environment = {
                **AWS_ENVIRONMENT,
                "AWS_ENDPOINT_URL": self.settings.aws_endpoint,
                "AWS_LAMBDA_FUNCTION_NAME": spec.name,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory),
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                # No CloudWatch agent locally: metrics only on request. Powertools' tracer stays off
                # (there is no Lambda trace to join); each handled request, command or event sends
                # its segment to the local collector instead (orderflow_shared.observability).
                "POWERTOOLS_TRACE_DISABLED": "true",
                "ORDERFLOW_TRACE_SEGMENTS": "true",
                "AWS_XRAY_DAEMON_ADDRESS": self.xray.address,
                "POWERTOOLS_METRICS_DISABLED": os.environ.get("ORDERFLOW_METRICS_DISABLED", "true"),
                **spec.environment,
            }
            key = f"{stack.name}.{spec.logical_id}"
            functions[key] = LocalFunction(spec, environment, self.settings.fault_plan)
            if _takes_one_message_at_a_time(stack, spec.logical_id):
                scale_out[key] = [
                    LocalFunction(spec, environment, self.settings.fault_plan)
                    for _ in range(SCALE_OUT_INSTANCES - 1)
                ]
        return functions, scale_out

    def _start_pollers_and_routes(self) -> None:
        for stack in self.stacks.values():
            for poller in self.pollers_of(stack, self.functions, self.scale_out):
                poller.start()
                self.pollers.append(poller)
            for route in stack.routes:
                self.gateway.add_route(
                    route.method,
                    route.path,
                    self.functions[f"{stack.name}.{route.function_logical_id}"],
                    route.authorizer,
                )
        _wait_until(lambda: all(p.polling.is_set() for p in self.pollers), timeout=30)

    def pollers_of(
        self,
        stack: DeployedStack,
        functions: Mapping[str, LocalFunction],
        scale_out: Mapping[str, list[LocalFunction]],
    ) -> list[SqsPoller]:
        """A poller (not started) for each of the stack's enabled SQS event sources."""
        sqs = self.client("sqs")
        pollers = []
        for source in stack.event_sources:
            if not source.enabled:
                continue
            queue_name = source.queue_arn.rsplit(":", 1)[1]
            queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
            key = f"{stack.name}.{source.function_logical_id}"
            pollers.append(
                SqsPoller(
                    source,
                    queue_url,
                    functions[key],
                    self.client("sqs"),
                    self.settings.time_scale,
                    self.fault_plan,
                    scale_out=scale_out.get(key, ()),
                )
            )
        return pollers

    def _start_scheduler(self) -> None:
        # moto never fires rules with a ScheduleExpression: the scheduler does, once the queues it
        # feeds have consumers.
        self.scheduler = Scheduler(self.client("events"), self.client("sqs"), self.settings.time_scale)
        self.scheduler.start()


def _takes_one_message_at_a_time(stack: DeployedStack, function_logical_id: str) -> bool:
    return any(
        source.enabled and source.batch_size == 1 and source.function_logical_id == function_logical_id
        for source in stack.event_sources
    )


def _wait_until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("local consumers did not start polling in time")
        time.sleep(0.05)
