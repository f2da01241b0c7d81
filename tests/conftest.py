"""End-to-end tests: they start the real local stack once and drive it through its HTTP API only."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.local_stack import LocalStack, start_local_stack

# Scales the workflow's Retry/Timeout policy (payment retries 5 s, 10 s, 20 s) and queue
# visibility timeouts, so the real policies run in a fraction of their wall-clock time.
TIME_SCALE = 0.02


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if Path(str(item.fspath)).is_relative_to(Path(__file__).parent):
            item.add_marker(pytest.mark.enable_socket)
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    log_path = tmp_path_factory.mktemp("local-stack") / "orderflow.log"
    running = start_local_stack(log_path, time_scale=TIME_SCALE)
    yield running
    try:
        # Nothing the tests did may have been lost to a dead-letter queue.
        assert dead_letters(running) == {}, running.log_tail()
    finally:
        running.stop()


def dead_letters(stack: LocalStack) -> dict[str, int]:
    """Messages sitting in any queue that another queue's RedrivePolicy names as its DLQ."""
    sqs = stack.client("sqs")
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
    counts: dict[str, int] = {}
    for url in urls:
        if url.rsplit("/", 1)[1] not in dead_letter_names:
            continue
        attributes = sqs.get_queue_attributes(
            QueueUrl=url,
            AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
        ).get("Attributes", {})
        count = sum(int(value) for value in attributes.values())
        if count:
            counts[url] = count
    return counts
