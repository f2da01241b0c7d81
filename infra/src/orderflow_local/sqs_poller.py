"""Playing Lambda's SQS event source mapping: poll a queue, invoke the function, delete what succeeded.

The function receives the real Lambda SQS event. With ReportBatchItemFailures, only the messages
named in ``batchItemFailures`` stay on the queue; a function error keeps the whole batch. Kept
messages come back after the visibility timeout and, past the queue's maxReceiveCount, SQS moves
them to the DLQ, exactly the redrive path of AWS.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

from orderflow_local.lambda_runtime import FunctionError, LocalFunction
from orderflow_local.resources import EventSourceSpec
from orderflow_local.settings import REGION

logger = logging.getLogger(__name__)

POLL_WAIT_SECONDS = 1  # short long-poll, so a stop is noticed promptly


class SqsPoller:
    def __init__(
        self,
        source: EventSourceSpec,
        queue_url: str,
        function: LocalFunction,
        sqs: Any,
        time_scale: float = 1.0,
    ) -> None:
        self.source = source
        self._queue_url = queue_url
        self._function = function
        self._sqs = sqs
        self._time_scale = time_scale
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"poller:{source.logical_id}", daemon=True)
        self.polling = threading.Event()
        self._visibility_timeout = int(
            sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])["Attributes"][
                "VisibilityTimeout"
            ]
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=POLL_WAIT_SECONDS + 5)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once()
            except Exception:
                logger.exception("poller %s failed; retrying", self.source.logical_id)
                self._stop.wait(1)

    def poll_once(self) -> int:
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=min(self.source.batch_size, 10),
            WaitTimeSeconds=POLL_WAIT_SECONDS,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        self.polling.set()
        messages = response.get("Messages", [])
        if messages:
            self._deliver(messages)
        return len(messages)

    def _deliver(self, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [self._record(message) for message in messages]}
        try:
            result = self._function.invoke(event)
        except FunctionError as error:
            logger.error(
                "%s: batch of %d kept for redelivery: %s", self.source.logical_id, len(messages), error
            )
            self._return_to_queue(messages)
            return
        failed = self._failed_ids(result, messages)
        self._delete([m for m in messages if m["MessageId"] not in failed])
        self._return_to_queue([m for m in messages if m["MessageId"] in failed])

    def _failed_ids(self, result: Any, messages: list[dict[str, Any]]) -> set[str]:
        if not self.source.report_batch_item_failures:
            return set()
        all_ids = {m["MessageId"] for m in messages}
        try:
            failed = {item["itemIdentifier"] for item in (result or {}).get("batchItemFailures", [])}
        except (AttributeError, KeyError, TypeError):
            # Lambda treats an unreadable response as a failure of the whole batch.
            return all_ids
        if not failed <= all_ids:
            return all_ids
        return failed

    def _delete(self, messages: list[dict[str, Any]]) -> None:
        for start in range(0, len(messages), 10):
            chunk = messages[start : start + 10]
            self._sqs.delete_message_batch(
                QueueUrl=self._queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )

    def _return_to_queue(self, messages: list[dict[str, Any]]) -> None:
        # On AWS a kept message reappears after the queue's visibility timeout; the time scale
        # shortens that wait like every other timer of the local runtime.
        delay = math.ceil(self._visibility_timeout * self._time_scale)
        if delay >= self._visibility_timeout or not messages:
            return
        self._sqs.change_message_visibility_batch(
            QueueUrl=self._queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": delay}
                for i, m in enumerate(messages)
            ],
        )

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": message.get("Attributes", {}),
            "messageAttributes": {
                name: _lambda_message_attribute(value)
                for name, value in message.get("MessageAttributes", {}).items()
            },
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": self.source.queue_arn,
            "awsRegion": REGION,
        }


def _lambda_message_attribute(value: dict[str, Any]) -> dict[str, Any]:
    # Lambda spells message attributes in camelCase, unlike the SQS API.
    return {
        "stringValue": value.get("StringValue"),
        "binaryValue": value.get("BinaryValue"),
        "stringListValues": value.get("StringListValues", []),
        "binaryListValues": value.get("BinaryListValues", []),
        "dataType": value["DataType"],
    }
