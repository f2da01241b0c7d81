"""Starting the whole local system in a process of its own, exactly as `make run` does, on free ports.

For the tools and tests that drive the system from outside: the end-to-end tests and the chaos
runner. The returned ``LocalStack`` knows its endpoints, gives AWS clients for the local AWS (and,
when it records its calls, clients acting with one function's credentials: ``client_as``), signs
callers in to its user pool (``signed_in``), and reads what an operator would look at (its log, its
dead-letter queues).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orderflow_local.access import enforce
from orderflow_local.access.recording import ACCESS_LOG_VARIABLE
from orderflow_local.settings import local_client
from orderflow_local.tokens import Identity, issue_token

# infra/src/orderflow_local/launcher.py -> the repository root
REPO_ROOT = Path(__file__).resolve().parents[3]

# ID tokens live an hour; one is reused for half of that, well clear of its expiry.
TOKEN_REUSE_SECONDS = 30 * 60


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> HttpResponse:
    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    # Only the local system's own http:// endpoints are ever called.
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})  # noqa: S310
    if data is not None and "Content-Type" not in (headers or {}):
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            return HttpResponse(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return HttpResponse(error.code, dict(error.headers), error.read())


@dataclass
class LocalStack:
    api_url: str
    aws_url: str
    payment_provider_url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    fault_plan: Path
    access_log: Path | None = None  # its ORDERFLOW_ACCESS_LOG, when it records its functions' calls
    repo_root: Path = REPO_ROOT  # the checkout whose templates and code it runs
    _tokens: dict[Identity, tuple[float, str]] = field(default_factory=dict, repr=False)
    _tokens_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def signed_in(self, identity: Identity) -> dict[str, str]:
        """The Authorization header of `identity` (created in the local user pool when new).

        Issued one at a time: one username asked for with two emails at once must not get a token
        carrying the other's."""
        with self._tokens_lock:
            issued = self._tokens.get(identity)
            if issued is None or time.monotonic() - issued[0] > TOKEN_REUSE_SECONDS:
                issued = (time.monotonic(), issue_token(self.client("cognito-idp"), identity))
                self._tokens[identity] = issued
        return {"Authorization": f"Bearer {issued[1]}"}

    def client(self, service: str) -> Any:
        return local_client(service, self.aws_url)

    def client_as(self, function: str, service: str) -> Any:
        """A client of the local AWS with ``function``'s credentials (its logical id, e.g.
        ``CustomerAlertsFunction``): a call that function's role does not allow is refused, as AWS
        would refuse it (``access.enforce.client_as``). Needs the stack to record its calls."""
        if self.access_log is None:
            raise RuntimeError(
                f"the stack was started without {ACCESS_LOG_VARIABLE}: no function's grants are known"
            )
        return enforce.client_as(function, service, self.aws_url, self.access_log, self.repo_root)

    def schemas_client(self) -> Any:
        """The Schemas API, which the local stack serves on its API port (moto has none)."""
        return local_client("schemas", self.api_url)

    def dead_letters(self) -> dict[str, int]:
        """Messages sitting in any queue that another queue's RedrivePolicy, or an event bus's
        DeadLetterConfig, names as its DLQ."""
        return self.queue_backlog()[1]

    def queue_backlog(self) -> tuple[dict[str, int], dict[str, int]]:
        """Messages left (visible or in flight) per queue: orderflow's queues, then the DLQs.

        Queues that only receive a schedule's ticks are left out: a tick is always about to arrive.
        """
        sqs = self.client("sqs")
        urls = sqs.list_queues().get("QueueUrls", [])
        dead_letter_names = set()
        for url in urls:
            policy = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"]).get(
                "Attributes", {}
            )
            if "RedrivePolicy" in policy:
                dead_letter_names.add(
                    json.loads(policy["RedrivePolicy"])["deadLetterTargetArn"].rsplit(":", 1)[1]
                )
        dead_letter_names |= self._bus_dead_letter_queues()
        ticking = self._schedule_targets()
        backlog: dict[str, int] = {}
        dead: dict[str, int] = {}
        for url in urls:
            name = url.rsplit("/", 1)[1]
            if name in ticking:
                continue
            attributes = sqs.get_queue_attributes(
                QueueUrl=url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            ).get("Attributes", {})
            count = sum(int(value) for value in attributes.values())
            if count:
                (dead if name in dead_letter_names else backlog)[name] = count
        return backlog, dead

    def _bus_dead_letter_queues(self) -> set[str]:
        events = self.client("events")
        return {
            config["Arn"].rsplit(":", 1)[1]
            for bus in events.list_event_buses()["EventBuses"]
            if (config := events.describe_event_bus(Name=bus["Name"]).get("DeadLetterConfig", {})).get("Arn")
        }

    def _schedule_targets(self) -> set[str]:
        events = self.client("events")
        return {
            target["Arn"].rsplit(":", 1)[1]
            for rule in events.list_rules(EventBusName="default")["Rules"]
            if "ScheduleExpression" in rule
            for target in events.list_targets_by_rule(Rule=rule["Name"], EventBusName="default")["Targets"]
        }

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def start_local_stack(
    log_path: Path,
    time_scale: float,
    startup_timeout: float = 180,
    repo_root: Path | None = None,
    faults: bool = True,
) -> LocalStack:
    """The stack as `make run` starts it, with fault injection armed by a plan file next to its log
    (empty: no faults until one is written), or with no fault hooks at all when ``faults`` is False."""
    api_port, aws_port, provider_port = free_port(), free_port(), free_port()
    fault_plan = log_path.with_name("faults.json")
    environment = {
        **os.environ,
        **({"ORDERFLOW_FAULT_PLAN": str(fault_plan)} if faults else {}),
        **({"ORDERFLOW_REPO_ROOT": str(repo_root)} if repo_root else {}),
        "ORDERFLOW_API_PORT": str(api_port),
        "ORDERFLOW_AWS_PORT": str(aws_port),
        "ORDERFLOW_PAYMENT_PROVIDER_PORT": str(provider_port),
        "ORDERFLOW_XRAY_PORT": "0",  # any free port: stacks of several test runs side by side
        "ORDERFLOW_TIME_SCALE": str(time_scale),
        "PYTHONUNBUFFERED": "1",
    }
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "orderflow_local"],
        cwd=REPO_ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    stack = LocalStack(
        api_url=f"http://127.0.0.1:{api_port}",
        aws_url=f"http://127.0.0.1:{aws_port}",
        payment_provider_url=f"http://127.0.0.1:{provider_port}",
        process=process,
        log_path=log_path,
        fault_plan=fault_plan,
        access_log=Path(environment[ACCESS_LOG_VARIABLE]) if environment.get(ACCESS_LOG_VARIABLE) else None,
        repo_root=Path(environment.get("ORDERFLOW_REPO_ROOT") or REPO_ROOT).resolve(),
    )
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the local stack exited with {process.returncode}:\n{stack.log_tail()}")
        try:
            if http("GET", f"{stack.api_url}/health").status == 200:
                return stack
        except OSError:
            pass
        time.sleep(0.5)
    stack.stop()
    raise TimeoutError(f"the local stack was not healthy within {startup_timeout} s:\n{stack.log_tail()}")
