"""Each speed-up of ``moto_compat.SPEEDUPS``: the repeated work on stock moto, and its absence with them.

In-process under ``mock_aws`` (no socket): what is counted is how often moto redoes the work, not
how long it takes (timings belong in ``make bench``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import jsonpath_ng.ext.parser
import pytest
from moto import backends, mock_aws
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.utils import json_path

from orderflow_local import moto_compat
from orderflow_local.moto_compat.time_scale import _CLOCK

pytestmark = pytest.mark.timeout(60)

SCALE = 0.01
REGION = "us-east-1"
ROLE_ARN = "arn:aws:iam::123456789012:role/saga"
PASS_ONLY = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
WITH_PARALLEL = {
    "StartAt": "Both",
    "States": {
        "Both": {
            "Type": "Parallel",
            "Branches": [{"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}}],
            "End": True,
        }
    },
}


@pytest.fixture(autouse=True)
def restore_moto_compat() -> Iterator[None]:
    was_applied = all(fix.applied for fix in (*moto_compat.FIXES, *moto_compat.SPEEDUPS))
    scale = _CLOCK.scale
    yield
    moto_compat.revert()
    if was_applied:
        moto_compat.apply(time_scale=scale)


@pytest.fixture(params=["unpatched", "patched"])
def variant(request: pytest.FixtureRequest) -> str:
    moto_compat.revert()
    if request.param == "patched":
        moto_compat.apply(time_scale=SCALE)
    return str(request.param)


@pytest.fixture
def sfn(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield boto3.client("stepfunctions", region_name=REGION)


def counting(
    monkeypatch: pytest.MonkeyPatch, owner: Any, name: str, wrap: Callable[..., Any] = staticmethod
) -> list[int]:
    """Count the calls of ``owner.name`` (a list, so the count can be read as it grows)."""
    calls = [0]
    original = getattr(owner, name)

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, wrap(counted) if wrap is not None else counted)
    return calls


def run_to_end(sfn: Any, definition: dict[str, Any], executions: int) -> list[str]:
    arn = sfn.create_state_machine(
        name=f"m-{uuid.uuid4().hex[:8]}", definition=json.dumps(definition), roleArn=ROLE_ARN
    )["stateMachineArn"]
    return [wait_for_end(sfn, start(sfn, arn)) for _ in range(executions)]


def start(sfn: Any, machine_arn: str) -> str:
    execution_arn: str = sfn.start_execution(stateMachineArn=machine_arn, name=uuid.uuid4().hex)[
        "executionArn"
    ]
    return execution_arn


def wait_for_end(sfn: Any, execution_arn: str, timeout: float = 10.0) -> str:
    deadline = time.monotonic() + timeout
    while (status := str(sfn.describe_execution(executionArn=execution_arn)["status"])) == "RUNNING":
        assert time.monotonic() < deadline, f"{execution_arn} still RUNNING"
        time.sleep(0.01)
    return status


def test_the_backend_of_a_host_is_resolved_once(monkeypatch: pytest.MonkeyPatch, variant: str) -> None:
    listings = counting(monkeypatch, backends, "list_of_moto_modules", wrap=None)  # type: ignore[arg-type]
    app = DomainDispatcherApplication(create_backend_app)

    answers = {app.get_backend_for_host(host) for host in ["sqs", "sqs", "sqs"]}

    assert answers == {"sqs"}
    assert listings[0] == (3 if variant == "unpatched" else 1)


def test_a_definition_is_parsed_once(sfn: Any, monkeypatch: pytest.MonkeyPatch, variant: str) -> None:
    parses = counting(monkeypatch, AmazonStateLanguageParser, "parse")
    arn = sfn.create_state_machine(name="m", definition=json.dumps(PASS_ONLY), roleArn=ROLE_ARN)[
        "stateMachineArn"
    ]
    created = parses[0]

    statuses = [wait_for_end(sfn, start(sfn, arn)) for _ in range(3)]

    assert statuses == ["SUCCEEDED"] * 3
    assert parses[0] - created == (3 if variant == "unpatched" else 1)


def test_a_definition_with_a_parallel_state_is_parsed_for_each_execution(
    sfn: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    moto_compat.apply(time_scale=SCALE)
    parses = counting(monkeypatch, AmazonStateLanguageParser, "parse")
    arn = sfn.create_state_machine(name="p", definition=json.dumps(WITH_PARALLEL), roleArn=ROLE_ARN)[
        "stateMachineArn"
    ]
    created = parses[0]

    statuses = [wait_for_end(sfn, start(sfn, arn)) for _ in range(3)]

    assert statuses == ["SUCCEEDED"] * 3
    assert parses[0] - created == 3


def test_concurrent_executions_of_one_parsed_definition_each_get_the_scaled_timeout(sfn: Any) -> None:
    # Scaled, each times out after 1 s; a timeout written into the shared program would be scaled twice.
    moto_compat.apply(time_scale=SCALE)
    definition = {
        "TimeoutSeconds": 100,
        "StartAt": "Hang",
        "States": {"Hang": {"Type": "Wait", "Seconds": 10**5, "End": True}},
    }
    arn = sfn.create_state_machine(name="t", definition=json.dumps(definition), roleArn=ROLE_ARN)[
        "stateMachineArn"
    ]

    def timed() -> tuple[str, float]:
        started = time.monotonic()
        status = wait_for_end(sfn, start(sfn, arn))
        return status, time.monotonic() - started

    with ThreadPoolExecutor(4) as pool:
        outcomes = [future.result() for future in [pool.submit(timed) for _ in range(4)]]

    assert [status for status, _ in outcomes] == ["TIMED_OUT"] * 4
    assert all(0.9 <= elapsed < 3.0 for _, elapsed in outcomes), outcomes


def test_a_json_path_is_parsed_once(monkeypatch: pytest.MonkeyPatch, variant: str) -> None:
    builds = counting(monkeypatch, jsonpath_ng.ext.parser.ExtendedJsonPathParser, "__init__", wrap=None)  # type: ignore[arg-type]
    key = f"k{uuid.uuid4().hex}"  # an expression no earlier test has parsed

    values = [json_path.extract_json(f"$.{key}.value", {key: {"value": n}}) for n in range(3)]

    assert values == [0, 1, 2]
    assert builds[0] == (3 if variant == "unpatched" else 1)


def test_task_states_reuse_their_service_client(
    sfn: Any, monkeypatch: pytest.MonkeyPatch, variant: str
) -> None:
    clients = [0]
    create = boto3.client

    def client(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("service_name") == "events":
            clients[0] += 1
        return create(*args, **kwargs)

    monkeypatch.setattr(boto3, "client", client)
    publish = {
        "Type": "Task",
        "Resource": "arn:aws:states:::events:putEvents",
        "Parameters": {"Entries": [{"Source": "bench", "DetailType": "Ping", "Detail": {}}]},
    }
    definition = {
        "StartAt": "One",
        "States": {"One": {**publish, "Next": "Two"}, "Two": {**publish, "End": True}},
    }

    statuses = run_to_end(sfn, definition, executions=2)

    assert statuses == ["SUCCEEDED"] * 2
    # Patched, the client may already exist from an earlier test in this process.
    assert clients[0] == 4 if variant == "unpatched" else clients[0] <= 1
