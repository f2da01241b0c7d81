"""The floor: a bare saga with orderflow's four callback steps and no-op answers, on moto as released.

What the local runtime cannot beat on this machine: the same four ``putEvents.waitForTaskToken``
steps, each routed by a bus rule to a queue, answered at once by a consumer that long-polls the
queue, calls SendTaskSuccess and deletes the message in a batch. No business logic, no
``moto_compat``, no API: the cost of the workflow engine, the bus and the queues alone, on the same
pinned moto in a process of its own, with the consumers in another.
"""

from __future__ import annotations

import itertools
import json
import multiprocessing
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from orderflow_local.aws_server import LocalAwsServer
from orderflow_local.bench.load import POLL_INTERVAL_SECONDS
from orderflow_local.launcher import free_port
from orderflow_local.settings import ACCOUNT_ID, local_client

STEPS = ("Reserve", "Pay", "Invoice", "Confirm")
BUS = "floor"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT_ID}:role/floor-saga"
EXECUTION_PATIENCE_SECONDS = 300
# As orderflow's pollers: a short long-poll so that a stop is noticed promptly.
RECEIVE_WAIT_SECONDS = 1

_spawn = multiprocessing.get_context("spawn")


@dataclass(frozen=True)
class ExecutionSample:
    status: str
    started: float  # monotonic seconds
    seen_final: float
    history_seconds: float  # stopDate - startDate

    @property
    def client_latency(self) -> float:
        return self.seen_final - self.started


def definition() -> dict[str, Any]:
    states: dict[str, Any] = {}
    for step, following in itertools.zip_longest(STEPS, STEPS[1:]):
        states[step] = {
            "Type": "Task",
            "Resource": "arn:aws:states:::events:putEvents.waitForTaskToken",
            "Parameters": {
                "Entries": [
                    {
                        "EventBusName": BUS,
                        "Source": "floor.saga",
                        "DetailType": step,
                        "Detail": {"orderId.$": "$.orderId", "taskToken.$": "$$.Task.Token"},
                    }
                ]
            },
            "ResultPath": f"$.{step.lower()}",
            **({"Next": following} if following else {"End": True}),
        }
    return {"StartAt": STEPS[0], "States": states}


class Floor:
    """The bare saga deployed on its own moto, with its answering consumers running."""

    def __init__(self) -> None:
        self._aws = LocalAwsServer("127.0.0.1", free_port(), fixed=False)
        self._answerers: Any = None
        self._stop: Any = None
        self.machine_arn = ""

    @property
    def processes(self) -> dict[str, int]:
        return {"aws": self._aws.pid or 0, "answerers": self._answerers.pid if self._answerers else 0}

    def start(self) -> None:
        self._aws.start()
        endpoint = self._aws.endpoint
        events, sqs, sfn = (local_client(name, endpoint) for name in ("events", "sqs", "stepfunctions"))
        events.create_event_bus(Name=BUS)
        queue_urls = []
        for step in STEPS:
            url = sqs.create_queue(QueueName=f"floor-{step.lower()}")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            events.put_rule(Name=step, EventBusName=BUS, EventPattern=json.dumps({"detail-type": [step]}))
            events.put_targets(Rule=step, EventBusName=BUS, Targets=[{"Id": "queue", "Arn": arn}])
            queue_urls.append(url)
        self.machine_arn = sfn.create_state_machine(
            name="floor-saga", definition=json.dumps(definition()), roleArn=ROLE_ARN
        )["stateMachineArn"]
        self._stop = _spawn.Event()
        self._answerers = _spawn.Process(
            target=_answer, args=(endpoint, queue_urls, self._stop), name="floor-answerers", daemon=True
        )
        self._answerers.start()

    def stop(self) -> None:
        if self._stop is not None:
            self._stop.set()
            self._answerers.join(timeout=RECEIVE_WAIT_SECONDS + 5)
        self._aws.stop()

    def call_counts(self) -> Any:
        return self._aws.call_counts()

    def drive(self, executions: int, concurrency: int) -> list[ExecutionSample]:
        """``executions`` runs by ``concurrency`` closed-loop clients, each waiting for its run to end."""
        remaining = itertools.count()
        samples: list[ExecutionSample] = []
        lock = threading.Lock()

        def client() -> None:
            sfn = local_client("stepfunctions", self._aws.endpoint)
            while next(remaining) < executions:
                sample = self._run_one(sfn)
                with lock:
                    samples.append(sample)

        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            for future in [pool.submit(client) for _ in range(concurrency)]:
                future.result()
        return samples

    def _run_one(self, sfn: Any) -> ExecutionSample:
        started = time.monotonic()
        order_id = str(uuid.uuid4())
        arn = sfn.start_execution(
            stateMachineArn=self.machine_arn, name=order_id, input=json.dumps({"orderId": order_id})
        )["executionArn"]
        deadline = started + EXECUTION_PATIENCE_SECONDS
        while time.monotonic() < deadline:
            description = sfn.describe_execution(executionArn=arn)
            if description["status"] != "RUNNING":
                history = (description["stopDate"] - description["startDate"]).total_seconds()
                return ExecutionSample(description["status"], started, time.monotonic(), history)
            time.sleep(POLL_INTERVAL_SECONDS)
        raise TimeoutError(f"floor execution {order_id} did not finish within {EXECUTION_PATIENCE_SECONDS} s")


def _answer(endpoint: str, queue_urls: list[str], stop: Any) -> None:
    """The consumers' process: one long-polling thread per queue, answering every command at once."""

    def consume(queue_url: str) -> None:
        sqs = local_client("sqs", endpoint)
        sfn = local_client("stepfunctions", endpoint)
        while not stop.is_set():
            messages = sqs.receive_message(
                QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=RECEIVE_WAIT_SECONDS
            ).get("Messages", [])
            for message in messages:
                token = json.loads(message["Body"])["detail"]["taskToken"]
                sfn.send_task_success(taskToken=token, output="{}")
            if messages:
                sqs.delete_message_batch(
                    QueueUrl=queue_url,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)
                    ],
                )

    threads = [threading.Thread(target=consume, args=(url,), daemon=True) for url in queue_urls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
