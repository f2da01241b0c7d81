"""Fault injection: a plan file breaks functions, pollers and EventBridge on purpose, and only then.

Function faults run a tiny handler through LocalFunction against a moto server in this process
(the function's own process needs a real endpoint); poller and EventBridge faults use moto
in-process; the operator command talks to the moto server with RedriveExecution stubbed.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws
from moto.events.models import EventsBackend

from orderflow_local import faults, operator
from orderflow_local.faults import FaultPlan, FaultPlanError
from orderflow_local.lambda_runtime import FunctionError, LocalFunction
from orderflow_local.resources import EventSourceSpec, FunctionSpec
from orderflow_local.settings import Settings
from orderflow_local.sqs_poller import SqsPoller

pytestmark = pytest.mark.timeout(120)

network = pytest.mark.enable_socket  # a moto server or the provider stand-in in this process
BUCKET = "faults"
REGION = "us-east-1"


def wait_for(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture
def plan(tmp_path: Path) -> Path:
    return tmp_path / "faults.json"


# --- the plan ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fault", "complaint"),
    [
        ({"id": "a", "point": "after:everything", "action": "crash"}, "unknown point"),
        ({"id": "a", "point": "deliver", "action": "crash"}, "supports"),
        ({"id": "a", "point": "putEvents", "action": "delay", "seconds": 1}, "supports"),
        ({"id": "a", "point": "before:s3.PutObject", "action": "crash", "queue": "Q"}, "do not apply"),
        ({"id": "a", "point": "before:s3.PutObject", "action": "crash", "tims": 1}, "do not apply"),
        ({"id": "a", "point": "before:s3.PutObject", "action": "delay"}, "seconds > 0"),
        ({"id": "a", "point": "deliver", "action": "duplicate", "copies": 1}, "at least 2"),
        ({"id": "a", "point": "before:provider", "action": "raise", "error": "client"}, "not an AWS service"),
        ({"id": "a", "point": "after:s3.PutObject", "action": "raise", "error": "boom"}, "error must be"),
        ({"id": "a", "point": "after:s3.PutObject", "action": "crash", "times": 0}, "at least 1"),
        ({"id": "a", "point": "after:s3.PutObject", "action": "crash", "times": True}, "times must be"),
        ({"id": "../escape", "point": "after:s3.PutObject", "action": "crash"}, "names a file"),
    ],
)
def test_an_invalid_fault_is_rejected_with_its_reason(fault: dict[str, Any], complaint: str) -> None:
    with pytest.raises(FaultPlanError, match=complaint):
        faults.parse_plan({"faults": [fault]})


def test_fault_ids_are_unique() -> None:
    crash = {"id": "same", "point": "after:s3.PutObject", "action": "crash"}
    with pytest.raises(FaultPlanError, match="unique"):
        faults.parse_plan({"faults": [crash, crash]})


def test_the_plan_is_reloaded_when_the_file_changes(plan: Path) -> None:
    live = FaultPlan(plan)
    assert live.faults() == ()  # no file yet: no faults
    faults.write_plan(plan, [{"id": "one", "point": "deliver", "action": "pause", "seconds": 1}])
    assert [f.id for f in live.faults()] == ["one"]
    faults.write_plan(plan, [{"id": "two", "point": "putEvents", "action": "throttle", "match": "x"}])
    (two,) = live.faults()
    assert (two.id, two.match, two.times) == ("two", "x", None)
    plan.unlink()
    assert live.faults() == ()


def test_a_broken_rewrite_keeps_the_previous_plan_until_it_is_fixed(plan: Path) -> None:
    live = FaultPlan(plan)
    faults.write_plan(plan, [{"id": "kept", "point": "deliver", "action": "pause", "seconds": 1}])
    assert [f.id for f in live.faults()] == ["kept"]
    plan.write_text('{"faults": [{"id": "half')  # a writer caught mid-way, not through write_plan
    assert [f.id for f in live.faults()] == ["kept"]
    plan.write_text(json.dumps({"faults": []}))
    assert live.faults() == ()


def test_the_system_refuses_an_invalid_plan_at_start_and_is_off_without_one(
    plan: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plan.write_text('{"faults": [{"id": "x", "point": "nowhere", "action": "crash"}]}')
    with pytest.raises(FaultPlanError, match="unknown point"):
        faults.open_plan(plan)
    assert faults.open_plan(None) is None
    monkeypatch.delenv(faults.PLAN_ENV, raising=False)
    assert Settings.from_env().fault_plan is None
    monkeypatch.setenv(faults.PLAN_ENV, str(plan))
    assert Settings.from_env().fault_plan == plan.resolve()


CLAIMER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from orderflow_local import faults

    live = faults.FaultPlan(Path(sys.argv[1]))
    (fault,) = live.faults()
    print(sum(live.fires(fault, "order o-1 for cust-1") for _ in range(int(sys.argv[2]))))
    """
)


def test_times_is_shared_by_processes_firing_at_the_same_time(plan: Path) -> None:
    faults.arm(plan, {"id": "shared", "point": "deliver", "action": "pause", "seconds": 1, "times": 7})
    claimers = [
        subprocess.Popen([sys.executable, "-c", CLAIMER, str(plan), "100"], stdout=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outputs = [claimer.communicate(timeout=60)[0] for claimer in claimers]
    assert sum(int(output) for output in outputs) == 7
    assert faults.fired(plan, "shared") == 7


def test_match_selects_the_payload_and_arm_starts_a_fresh_count(plan: Path) -> None:
    fault = {"id": "m", "point": "deliver", "action": "pause", "seconds": 1, "match": "cust-1", "times": 1}
    faults.arm(plan, fault)
    live = FaultPlan(plan)
    (armed,) = live.faults()
    assert not live.fires(armed, "order for cust-2")
    assert live.fires(armed, "order for cust-1")
    assert not live.fires(armed, "order for cust-1")  # used up
    faults.write_plan(plan, [fault])  # rewriting keeps the count
    assert not live.fires(live.faults()[0], "order for cust-1")
    faults.arm(plan, fault)
    assert live.fires(live.faults()[0], "order for cust-1")


def test_a_list_match_needs_every_part(plan: Path) -> None:
    faults.arm(
        plan,
        {"id": "both", "point": "putEvents", "action": "throttle", "match": ["cust-1", "PaymentRequested"]},
    )
    live = FaultPlan(plan)
    (both,) = live.faults()
    assert not live.fires(both, '{"DetailType": "OrderReceived", "Detail": "cust-1"}')
    assert not live.fires(both, '{"DetailType": "PaymentRequested", "Detail": "cust-2"}')
    assert live.fires(both, '{"DetailType": "PaymentRequested", "Detail": "cust-1"}')
    with pytest.raises(FaultPlanError, match="non-empty list"):
        faults.parse_plan({"faults": [{"id": "x", "point": "putEvents", "action": "throttle", "match": []}]})


# --- faults inside a function's process ---------------------------------------------------------

PROBE_HANDLER = textwrap.dedent(
    """
    import json, os, time
    import boto3, boto3.session, urllib3

    AT_INIT = boto3.client("s3")  # made while the module loads, like the services' clients

    def handler(event, context):
        started = time.monotonic()
        try:
            result = run(event)
        except Exception as error:
            code = (getattr(error, "response", None) or {}).get("Error", {}).get("Code")
            result = {"error": type(error).__name__, "code": code}
        return {**result, "pid": os.getpid(), "seconds": time.monotonic() - started}

    def run(event):
        if "url" in event:
            http = urllib3.PoolManager()
            response = http.request("POST", event["url"], body=json.dumps(event), retries=False)
            return {"status": response.status}
        clients = {
            "init": lambda: AT_INIT,
            "late": lambda: boto3.client("s3"),
            "session": lambda: boto3.session.Session().client("s3"),  # as Powertools makes its own
        }
        clients[event.get("client", "init")]().put_object(Bucket="faults", Key=event["key"], Body=b"x")
        return {"ok": True}
    """
)


class ProviderStandIn:
    """An HTTP server that counts the requests that reached it."""

    def __init__(self) -> None:
        self.requests = 0
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                stand_in.requests += 1
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Probe:
    function: LocalFunction
    plan: Path
    s3: Any
    provider: ProviderStandIn
    aws_url: str

    def stored(self, key: str) -> bool:
        return "Contents" in self.s3.list_objects_v2(Bucket=BUCKET, Prefix=key)


@pytest.fixture(scope="module")
def probe_function(
    moto_server: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LocalFunction, Path, ProviderStandIn]]:
    root = tmp_path_factory.mktemp("probe")
    (root / "code").mkdir()
    (root / "code" / "fault_probe.py").write_text(PROBE_HANDLER)
    provider = ProviderStandIn()
    spec = FunctionSpec("ProbeFunction", "probe", "fault_probe.handler", root / "code", 30, 128, {})
    environment = {
        "AWS_ACCESS_KEY_ID": "local",
        "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_ENDPOINT_URL": moto_server,
        "PAYMENT_PROVIDER_URL": f"{provider.url}/provider",
    }
    function = LocalFunction(spec, environment, fault_plan=root / "faults.json")
    function.start()
    function.wait_ready(timeout=60)
    yield function, root / "faults.json", provider
    function.stop()
    provider.stop()


@pytest.fixture
def probe(moto_server: str, probe_function: tuple[LocalFunction, Path, ProviderStandIn]) -> Iterator[Probe]:
    function, plan, provider = probe_function
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_server,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    s3.create_bucket(Bucket=BUCKET)  # again each test: in-process moto tests reset the backends
    provider.requests = 0
    yield Probe(function, plan, s3, provider, moto_server)
    faults.disarm(plan)


def fault(fault_id: str, point: str, action: str, **fields: Any) -> dict[str, Any]:
    return {"id": fault_id, "point": point, "action": action, "function": "ProbeFunction", **fields}


@network
def test_a_crash_after_a_call_is_a_function_error_and_the_next_invocation_gets_a_fresh_process(
    probe: Probe,
) -> None:
    faults.arm(probe.plan, fault("crash-after-put", "after:s3.PutObject", "crash", match="o-crash", times=1))
    before = probe.function.invoke({"key": "o-warm"})["pid"]
    with pytest.raises(FunctionError, match=r"process exited \(status 137\)"):
        probe.function.invoke({"key": "o-crash"})
    assert probe.stored("o-crash")  # the call went through; the crash came after it
    again = probe.function.invoke({"key": "o-crash"})  # the count survived the crash: no second one
    assert again["ok"]
    assert again["pid"] != before
    assert faults.fired(probe.plan, "crash-after-put") == 1


@network
def test_a_crash_before_a_call_means_the_call_never_happened(probe: Probe) -> None:
    faults.arm(
        probe.plan, fault("crash-before-put", "before:s3.PutObject", "crash", match="o-early", times=1)
    )
    with pytest.raises(FunctionError, match="status 137"):
        probe.function.invoke({"key": "o-early"})
    assert not probe.stored("o-early")


@network
def test_raise_before_a_call_gives_the_modelled_error_and_the_call_never_happens(probe: Probe) -> None:
    faults.arm(
        probe.plan,
        fault("no-bucket", "before:s3.PutObject", "raise", match="o-raise", code="NoSuchBucket", status=404),
    )
    assert probe.function.invoke({"key": "o-raise"})["error"] == "NoSuchBucket"
    assert not probe.stored("o-raise")
    assert probe.function.invoke({"key": "o-other"})["ok"]


@network
@pytest.mark.parametrize(
    ("error", "seen"), [("connection", "ConnectionClosedError"), ("timeout", "ReadTimeoutError")]
)
def test_raise_after_a_call_means_it_happened_but_the_caller_saw_an_error(
    probe: Probe, error: str, seen: str
) -> None:
    faults.arm(probe.plan, fault("lost-answer", "after:s3.*", "raise", match="o-lost", error=error, times=1))
    assert probe.function.invoke({"key": f"o-lost-{error}"})["error"] == seen
    assert probe.stored(f"o-lost-{error}")


@network
@pytest.mark.parametrize("client", ["init", "late", "session"])
def test_every_client_is_hooked_whenever_and_however_it_was_made(probe: Probe, client: str) -> None:
    faults.arm(probe.plan, fault("any-client", "before:s3.PutObject", "raise", code="SlowDown"))
    result = probe.function.invoke({"key": f"o-{client}", "client": client})
    assert (result["error"], result["code"]) == ("ClientError", "SlowDown")


@network
def test_delay_slows_the_matching_invocations_only(probe: Probe) -> None:
    faults.arm(probe.plan, fault("slow-put", "before:s3.PutObject", "delay", match="o-slow", seconds=1.0))
    assert probe.function.invoke({"key": "o-slow"})["seconds"] >= 1.0
    assert probe.function.invoke({"key": "o-quick"})["seconds"] < 1.0


@network
def test_only_the_named_function_and_the_event_match_count(probe: Probe) -> None:
    other = {**fault("elsewhere", "before:s3.PutObject", "raise"), "function": "OtherFunction"}
    mine = {**fault("mine", "before:s3.PutObject", "raise", match="cust-7", times=2), "function": "Probe*"}
    faults.arm(probe.plan, other, mine)
    assert probe.function.invoke({"key": "o-1"})["ok"]  # cust-7 is not in the event: no match
    event = {"key": "o-2", "customerId": "cust-7"}
    assert [probe.function.invoke(event).get("error") for _ in range(3)] == [
        "ClientError",
        "ClientError",
        None,
    ]
    assert (faults.fired(probe.plan, "mine"), faults.fired(probe.plan, "elsewhere")) == (2, 0)


@network
def test_provider_faults_wrap_requests_to_the_provider_only(probe: Probe) -> None:
    charges = f"{probe.provider.url}/provider/v1/charges"
    faults.arm(probe.plan, fault("unreachable", "before:provider", "raise", match="o-p1"))
    assert probe.function.invoke({"url": charges, "orderId": "o-p1"})["error"] == "NewConnectionError"
    assert probe.provider.requests == 0
    # Not under PAYMENT_PROVIDER_URL: untouched, though the event matches.
    assert probe.function.invoke({"url": f"{probe.provider.url}/other", "orderId": "o-p1"})["status"] == 200
    assert probe.provider.requests == 1

    faults.arm(probe.plan, fault("slow-answer", "after:provider", "raise", error="timeout", match="o-p2"))
    assert probe.function.invoke({"url": charges, "orderId": "o-p2"})["error"] == "ReadTimeoutError"
    assert probe.provider.requests == 2

    faults.arm(probe.plan, fault("crash-after-charge", "after:provider", "crash", match="o-p3", times=1))
    with pytest.raises(FunctionError, match="status 137"):
        probe.function.invoke({"url": charges, "orderId": "o-p3"})
    assert probe.provider.requests == 3
    assert probe.function.invoke({"url": charges, "orderId": "o-p3"})["status"] == 200


@network
def test_without_a_plan_the_function_has_no_hooks(probe: Probe, tmp_path: Path) -> None:
    # The same fault armed, but the function was started without a plan, as with the variable unset.
    spec = FunctionSpec(
        "ProbeFunction", "probe-plain", "fault_probe.handler", probe.function.spec.code_dir, 30, 128, {}
    )
    plain = LocalFunction(spec, dict(probe.function._environment))
    plain.start()
    try:
        plain.wait_ready(timeout=60)
        faults.arm(probe.plan, fault("everywhere", "before:s3.*", "crash"))
        assert plain.invoke({"key": "o-plain"})["ok"]
    finally:
        plain.stop()
        faults.disarm(probe.plan)


# --- faults in the SQS pollers ------------------------------------------------------------------


class RecordingFunction:
    def __init__(self) -> None:
        self.bodies: list[list[str]] = []

    def invoke(self, event: dict[str, Any]) -> dict[str, Any]:
        self.bodies.append([record["body"] for record in event["Records"]])
        return {"batchItemFailures": []}

    def delivered(self) -> list[str]:
        return [body for batch in self.bodies for body in batch]


@pytest.fixture
def sqs(fake_aws: None) -> Any:
    return boto3.client("sqs", region_name=REGION)


@pytest.fixture
def queue(sqs: Any) -> str:
    return str(sqs.create_queue(QueueName="orderflow-payments-ProcessPaymentQueue")["QueueUrl"])


def make_poller(
    sqs: Any, queue: str, function: Any, plan: Path | None, window: int = 0, time_scale: float = 0.0
) -> SqsPoller:
    source = EventSourceSpec(
        logical_id="ProcessPaymentFunctionCommands",
        function_logical_id="ProcessPaymentFunction",
        queue_arn="arn:aws:sqs:us-east-1:123456789012:orderflow-payments-ProcessPaymentQueue",
        batch_size=10,
        report_batch_item_failures=True,
        enabled=True,
        maximum_batching_window_seconds=window,
    )
    return SqsPoller(
        source,
        queue,
        function,
        sqs,
        time_scale=time_scale,
        faults=FaultPlan(plan) if plan else None,
        wait_seconds=1,
    )


def left(sqs: Any, queue: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def drain(poller: SqsPoller, sqs: Any, queue: str) -> None:
    wait_for(lambda: poller.poll_once() >= 0 and left(sqs, queue) == 0)


def test_sequential_duplicates_arrive_as_separate_deliveries_and_are_not_duplicated_again(
    sqs: Any, queue: str, plan: Path
) -> None:
    # No `times`: the fault fires on every delivery of a matching message, but never on its copies.
    faults.arm(
        plan,
        {
            "id": "dup",
            "point": "deliver",
            "action": "duplicate",
            "queue": "ProcessPaymentQueue",
            "match": "o-dup",
            "copies": 3,
        },
    )
    sqs.send_message(QueueUrl=queue, MessageBody='{"orderId": "o-dup"}')
    sqs.send_message(QueueUrl=queue, MessageBody='{"orderId": "o-single"}')
    function = RecordingFunction()
    drain(make_poller(sqs, queue, function, plan), sqs, queue)
    assert function.delivered().count('{"orderId": "o-dup"}') == 3
    assert function.delivered().count('{"orderId": "o-single"}') == 1
    assert function.bodies[0].count('{"orderId": "o-dup"}') == 1  # the copies came later
    assert sum('{"orderId": "o-dup"}' in batch for batch in function.bodies) >= 2


def test_a_fault_for_another_queue_or_without_a_plan_changes_nothing(
    sqs: Any, queue: str, plan: Path
) -> None:
    faults.arm(plan, {"id": "dup", "point": "deliver", "action": "duplicate", "queue": "InventoryQueue"})
    sqs.send_message(QueueUrl=queue, MessageBody="o-1")
    function = RecordingFunction()
    drain(make_poller(sqs, queue, function, plan), sqs, queue)
    faults.arm(plan, {"id": "dup", "point": "deliver", "action": "duplicate"})
    sqs.send_message(QueueUrl=queue, MessageBody="o-2")
    drain(make_poller(sqs, queue, function, None), sqs, queue)
    assert function.delivered() == ["o-1", "o-2"]


def test_a_delayed_message_is_delivered_behind_later_ones(sqs: Any, queue: str, plan: Path) -> None:
    faults.arm(
        plan,
        {
            "id": "late",
            "point": "deliver",
            "action": "delay",
            "queue": "ProcessPaymentFunction",
            "match": "o-slow",
            "seconds": 1.0,
            "times": 1,
        },
    )
    sqs.send_message(QueueUrl=queue, MessageBody="o-slow")
    function = RecordingFunction()
    poller = make_poller(sqs, queue, function, plan)
    wait_for(lambda: poller.poll_once() > 0)
    sqs.send_message(QueueUrl=queue, MessageBody="o-fast")
    wait_for(lambda: poller.poll_once() > 0)
    assert function.delivered() == ["o-fast"]
    wait_for(lambda: function.delivered() == ["o-fast", "o-slow"])
    wait_for(lambda: left(sqs, queue) == 0)


def test_pause_stops_receiving_for_a_while_then_delivers(sqs: Any, queue: str, plan: Path) -> None:
    faults.arm(
        plan,
        {
            "id": "stall",
            "point": "deliver",
            "action": "pause",
            "match": "o-stall",
            "seconds": 1.0,
            "times": 1,
        },
    )
    sqs.send_message(QueueUrl=queue, MessageBody="o-stall")
    function = RecordingFunction()
    poller = make_poller(sqs, queue, function, plan)
    paused_at = time.monotonic()
    assert poller.poll_once() == 1  # received, handed back, and the pause begins
    assert function.bodies == []
    while time.monotonic() - paused_at < 0.8:
        assert poller.poll_once() == 0  # the message is visible, but nobody receives it
    assert function.bodies == []
    wait_for(lambda: poller.poll_once() > 0)
    assert time.monotonic() - paused_at >= 1.0
    assert function.delivered() == ["o-stall"]


def test_with_a_batching_window_a_fault_acts_on_the_whole_gathered_batch(
    sqs: Any, queue: str, plan: Path
) -> None:
    faults.arm(
        plan,
        {
            "id": "stall",
            "point": "deliver",
            "action": "pause",
            "match": "o-stall",
            "seconds": 30.0,
            "times": 1,
        },
    )
    function = RecordingFunction()
    poller = make_poller(sqs, queue, function, plan, window=2, time_scale=1.0)
    sqs.send_message(QueueUrl=queue, MessageBody="o-1")
    thread = threading.Thread(target=poller.poll_once, daemon=True)
    thread.start()
    wait_for(lambda: in_flight(sqs, queue) == 1)  # received: the batch has begun
    sqs.send_message(QueueUrl=queue, MessageBody="o-stall")
    thread.join(10)
    assert not thread.is_alive(), "the poll did not end"
    # The pause matched the second message and sent both back: the first was not delivered alone.
    assert function.bodies == []
    assert in_flight(sqs, queue) == 0
    assert left(sqs, queue) == 2


def in_flight(sqs: Any, queue: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessagesNotVisible"]
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessagesNotVisible"])


TWIN_HANDLER = textwrap.dedent(
    """
    import json, os, time

    def handler(event, context):
        started = time.time()
        time.sleep(1.0)
        with open(os.environ["RUNS"], "a") as runs:
            runs.write(json.dumps({"pid": os.getpid(), "start": started, "end": time.time()}) + "\\n")
        return {"batchItemFailures": []}
    """
)


def test_a_concurrent_duplicate_runs_the_batch_on_a_twin_at_the_same_time(
    sqs: Any, queue: str, plan: Path, tmp_path: Path
) -> None:
    (tmp_path / "code").mkdir()
    (tmp_path / "code" / "twin_probe.py").write_text(TWIN_HANDLER)
    runs = tmp_path / "runs.jsonl"
    spec = FunctionSpec("ProcessPaymentFunction", "pay", "twin_probe.handler", tmp_path / "code", 10, 128, {})
    function = LocalFunction(spec, {"RUNS": str(runs)}, fault_plan=plan)
    function.start()
    try:
        function.wait_ready(timeout=60)
        faults.arm(
            plan,
            {
                "id": "twice",
                "point": "deliver",
                "action": "duplicate",
                "concurrent": True,
                "match": "o-twice",
                "times": 1,
            },
        )
        sqs.send_message(QueueUrl=queue, MessageBody="o-twice")
        drain(make_poller(sqs, queue, function, plan), sqs, queue)
        first, second = (json.loads(line) for line in runs.read_text().splitlines())
        assert first["pid"] != second["pid"]
        assert max(first["start"], second["start"]) < min(first["end"], second["end"])  # they overlapped
    finally:
        function.stop()


# --- EventBridge throttling in moto's backend ---------------------------------------------------


@pytest.fixture
def throttling(plan: Path) -> Iterator[None]:
    undo = faults.throttle_put_events(FaultPlan(plan))
    yield
    undo()


def test_a_throttled_entry_fails_alone_and_is_not_delivered(
    fake_aws: None, plan: Path, throttling: None
) -> None:
    events, sqs = boto3.client("events", region_name=REGION), boto3.client("sqs", region_name=REGION)
    queue = sqs.create_queue(QueueName="seen")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    events.put_rule(Name="all", EventPattern=json.dumps({"source": ["orderflow.test"]}))
    events.put_targets(Rule="all", Targets=[{"Id": "q", "Arn": queue_arn}])
    faults.arm(
        plan,
        {
            "id": "throttle-once",
            "point": "putEvents",
            "action": "throttle",
            "match": "o-throttled",
            "times": 1,
        },
    )

    def entry(order_id: str) -> dict[str, str]:
        return {"Source": "orderflow.test", "DetailType": "Ping", "Detail": json.dumps({"orderId": order_id})}

    response = events.put_events(Entries=[entry("o-throttled"), entry("o-fine")])
    assert response["FailedEntryCount"] == 1
    assert response["Entries"][0] == faults.THROTTLED_ENTRY
    assert "EventId" in response["Entries"][1]
    assert events.put_events(Entries=[entry("o-throttled")])["FailedEntryCount"] == 0  # once only
    delivered = [
        json.loads(m["Body"])["detail"]["orderId"]
        for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    ]
    assert sorted(delivered) == ["o-fine", "o-throttled"]  # the retried one, not the throttled one
    assert faults.fired(plan, "throttle-once") == 1


def test_a_state_machine_put_events_step_is_throttled_and_its_retry_succeeds(
    plan: Path, throttling: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "t",
        "AWS_SECRET_ACCESS_KEY": "t",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    definition = {
        "StartAt": "Publish",
        "States": {
            "Publish": {
                "Type": "Task",
                "Resource": "arn:aws:states:::events:putEvents",
                "Parameters": {
                    "Entries": [
                        {"Source": "orderflow.test", "DetailType": "Ping", "Detail": {"orderId.$": "$.id"}}
                    ]
                },
                "Retry": [
                    {"ErrorEquals": ["EventBridge.FailedEntry"], "IntervalSeconds": 1, "MaxAttempts": 2}
                ],
                "End": True,
            }
        },
    }
    # The entry carries the execution's ARN, named after the order: that is what the fault matches.
    faults.arm(
        plan,
        {"id": "throttle-step", "point": "putEvents", "action": "throttle", "match": ":o-step", "times": 1},
    )
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name=REGION)
        machine = sfn.create_state_machine(
            name="saga", definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/saga"
        )["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine, name="o-step", input='{"id": "o-step"}')
        wait_for(
            lambda: sfn.describe_execution(executionArn=execution["executionArn"])["status"] != "RUNNING"
        )
        assert sfn.describe_execution(executionArn=execution["executionArn"])["status"] == "SUCCEEDED"
        history = sfn.get_execution_history(executionArn=execution["executionArn"])["events"]
        failures = [e["taskFailedEventDetails"]["error"] for e in history if e["type"] == "TaskFailed"]
        assert failures == ["EventBridge.FailedEntry"]


def test_undo_restores_moto(plan: Path) -> None:
    original = EventsBackend.put_events
    undo = faults.throttle_put_events(FaultPlan(plan))
    assert EventsBackend.put_events is not original
    undo()
    assert EventsBackend.put_events is original


# --- the operator command -----------------------------------------------------------------------

SAGA = "orderflow-orders-OrderSagaStateMachine"


@pytest.fixture
def local_sfn(moto_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.setenv("ORDERFLOW_AWS_PORT", moto_server.rsplit(":", 1)[1])
    sfn = operator.stepfunctions_client()
    for machine in sfn.list_state_machines()["stateMachines"]:
        sfn.delete_state_machine(stateMachineArn=machine["stateMachineArn"])
    boto3.setup_default_session()  # the operator's client comes from it: the stub goes there
    yield sfn
    boto3.DEFAULT_SESSION = None


def stub_redrive(answer: Callable[[dict[str, Any]], tuple[int, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Answer RedriveExecution (moto may not have it) with `answer(request)`; returns the requests."""
    requests: list[dict[str, Any]] = []

    def handler(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        request = json.loads(params["body"])
        requests.append(request)
        status, parsed = answer(request)
        return AWSResponse(params["url"], status, {}, None), parsed  # type: ignore[arg-type]

    assert boto3.DEFAULT_SESSION is not None
    boto3.DEFAULT_SESSION.events.register("before-call.sfn.RedriveExecution", handler)
    return requests


def create_machine(sfn: Any, name: str) -> str:
    definition = {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}
    return str(
        sfn.create_state_machine(
            name=name, definition=json.dumps(definition), roleArn="arn:aws:iam::123456789012:role/x"
        )["stateMachineArn"]
    )


def test_the_execution_arn_is_the_saga_arn_with_the_order_id() -> None:
    machine = f"arn:aws:states:us-east-1:123456789012:stateMachine:{SAGA}"
    assert (
        operator.execution_arn(machine, "o-1")
        == f"arn:aws:states:us-east-1:123456789012:execution:{SAGA}:o-1"
    )


@pytest.mark.parametrize("arguments", [[], ["redrive"], ["redrive", "a", "b"], ["rewind", "o-1"]])
def test_bad_arguments_exit_with_2(arguments: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        operator.main(arguments)
    assert exit_.value.code == 2


def test_a_string_that_cannot_be_an_order_id_is_refused_before_any_call(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert operator.main(["redrive", "o-1/../x"]) == 2
    assert "not an order id" in capsys.readouterr().err


@network
def test_redrive_calls_redrive_execution_on_the_orders_execution(
    local_sfn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    create_machine(local_sfn, "another-machine")
    saga = create_machine(local_sfn, SAGA)
    requests = stub_redrive(lambda request: (200, {"redriveDate": "2026-01-01T00:00:00Z"}))
    assert operator.main(["redrive", "o-42"]) == 0
    expected = saga.replace(":stateMachine:", ":execution:") + ":o-42"
    assert [request["executionArn"] for request in requests] == [expected]
    printed = json.loads(capsys.readouterr().out)
    assert (printed["orderId"], printed["executionArn"]) == ("o-42", expected)


@network
@pytest.mark.parametrize(
    ("code", "status", "says"),
    [
        ("ExecutionDoesNotExist", 2, "has no execution"),
        ("ExecutionNotRedrivable", 2, "cannot be redriven: it SUCCEEDED"),
        ("InternalFailure", 1, "RedriveExecution failed"),
    ],
)
def test_redrive_errors_are_explained(
    local_sfn: Any, capsys: pytest.CaptureFixture[str], code: str, status: int, says: str
) -> None:
    create_machine(local_sfn, SAGA)
    stub_redrive(lambda request: (400, {"Error": {"Code": code, "Message": "it SUCCEEDED"}}))
    assert operator.main(["redrive", "o-42"]) == status
    assert says in capsys.readouterr().err


@network
def test_redrive_without_a_saga_says_so(local_sfn: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert operator.main(["redrive", "o-42"]) == 2
    assert "is the system running" in capsys.readouterr().err
