"""The public API against the OpenAPI document it serves, on the real local stack.

schemathesis (tests/fuzzing/schemathesis.toml) runs every check it has over every operation, in
every phase: no 5xx, no status, header, media type or body the document does not declare, invalid
data refused and valid data accepted, undeclared methods answered 405 with Allow, created orders
readable. The data is derived, not random, so a failure reproduces; the run is bounded by its
examples per operation and a time limit on each request and on the whole run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from orderflow_local.tokens import operator
from tests.support.local_stack import REPO_ROOT, LocalStack, http
from tests.support.saga import as_customer, as_operator, inventory, new_sku, order_body, stock, wait_until

FUZZING_CONFIG = REPO_ROOT / "tests" / "fuzzing" / "schemathesis.toml"
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
RUN_TIMEOUT = 150  # seconds; the run takes about a minute on two cores
DRAIN_TIMEOUT = 120  # seconds for the sagas of the orders it placed to end
NOT_OBJECTS = [b'"x"', b"1", b"null", b"true", b"[]"]


def busy(stack: LocalStack) -> int:
    """Sagas still running and messages still queued: the work the fuzzed requests left behind."""
    sfn, sqs = stack.client("stepfunctions"), stack.client("sqs")
    running = sum(
        len(page["executions"])
        for machine in sfn.list_state_machines()["stateMachines"]
        for page in sfn.get_paginator("list_executions").paginate(
            stateMachineArn=machine["stateMachineArn"], statusFilter="RUNNING"
        )
    )
    queued = sum(
        int(value)
        for url in sqs.list_queues().get("QueueUrls", [])
        for value in sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        )["Attributes"].values()
    )
    return running + queued


def operations(document: dict[str, object]) -> int:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return sum(len(methods) for methods in paths.values())


def test_the_gateway_serves_the_committed_document_with_itself_as_server(stack: LocalStack) -> None:
    response = http("GET", f"{stack.api_url}/openapi.json")

    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json"
    served = response.json()
    committed = json.loads((REPO_ROOT / "docs" / "openapi.json").read_text())
    assert served["servers"] == [{"url": stack.api_url, "description": "the local gateway"}]
    assert {**served, "servers": committed["servers"]} == committed


@pytest.mark.timeout(RUN_TIMEOUT + DRAIN_TIMEOUT + 30)
def test_schemathesis_finds_the_api_true_to_its_document(stack: LocalStack) -> None:
    document_url = f"{stack.api_url}/openapi.json"
    caller = operator()
    (authorization,) = stack.signed_in(caller).values()
    run = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(FUZZING_CONFIG),
            "run",
            document_url,
            "--checks",
            "all",
            "--header",
            f"Authorization: {authorization}",
            "--no-color",
        ],
        cwd=REPO_ROOT,
        env={**os.environ, "ORDERFLOW_FUZZ_USERNAME": caller.username, "ORDERFLOW_FUZZ_EMAIL": caller.email},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )

    report = run.stdout + run.stderr
    assert run.returncode == 0, report
    tested = re.search(r"Tested: (\d+)", report)
    assert tested is not None, report
    assert int(tested.group(1)) == operations(http("GET", document_url).json()), report
    # The orders it placed run their sagas to the end before the next test shares the stack.
    wait_until(lambda: busy(stack) == 0, timeout=DRAIN_TIMEOUT, message="the fuzzed orders to finish")


@pytest.mark.parametrize("body", [*NOT_OBJECTS, "array"], ids=[*map(bytes.decode, NOT_OBJECTS), "array"])
def test_a_stock_update_that_is_not_a_json_object_is_refused_and_creates_nothing(
    stack: LocalStack, body: bytes | str
) -> None:
    sku = new_sku()
    update = {"available": 5, "unitPrice": 100, "currency": "USD"}
    sent = json.dumps([update]).encode() if body == "array" else body

    response = http("PUT", f"{stack.api_url}/inventory/{sku}", sent, as_operator(stack))

    assert response.status == 422, response.body
    assert response.json()["detail"]
    assert http("GET", f"{stack.api_url}/inventory/{sku}", headers=as_operator(stack)).status == 404


@pytest.mark.parametrize("body", [*NOT_OBJECTS, "array"], ids=[*map(bytes.decode, NOT_OBJECTS), "array"])
def test_an_adjustment_that_is_not_a_json_object_is_refused_and_changes_nothing(
    stack: LocalStack, body: bytes | str
) -> None:
    sku = new_sku()
    stock(stack, sku, available=5)
    sent = json.dumps([{"delta": 3, "reason": "delivery"}]).encode() if body == "array" else body

    response = http(
        "POST",
        f"{stack.api_url}/inventory/{sku}/adjustments",
        sent,
        {"Idempotency-Key": sku, **as_operator(stack)},
    )

    assert response.status == 422, response.body
    assert response.json()["detail"]
    assert inventory(stack, sku)["available"] == 5


def test_a_body_that_is_not_json_media_is_refused_with_415(stack: LocalStack) -> None:
    body = json.dumps(order_body(new_sku(), 1, "tok_visa")).encode()
    for media_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        response = http(
            "POST", f"{stack.api_url}/orders", body, {"Content-Type": media_type, **as_customer(stack)}
        )
        assert response.status == 415, (media_type, response.body)
        assert response.json()["detail"] == [{"loc": ["body"], "type": "unsupported_content_type"}]
