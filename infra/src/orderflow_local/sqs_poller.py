"""Playing Lambda's SQS event source mapping: poll a queue, invoke the function, delete what succeeded.

The function receives the real Lambda SQS event. With ReportBatchItemFailures, only the messages
named in ``batchItemFailures`` stay on the queue; a function error keeps the whole batch. Kept
messages come back after the visibility timeout and, past the queue's maxReceiveCount, SQS moves
them to the DLQ, exactly the redrive path of AWS.

With a batching window (MaximumBatchingWindowInSeconds, scaled by the time scale), a receive that
brings fewer messages than the batch size is followed by more receives until the batch is full or
the window, counted from that first receive, has passed; the function is then invoked once with
everything gathered.

With a fault plan (``faults``), ``deliver`` faults act on each batch (with a window, the gathered
batch) before the function sees it, in this order: ``pause`` (the batch goes back, the poller
stops receiving for a while), ``delay`` (a message is held and delivered alone later),
``duplicate`` (extra copies sent back to the queue, or the batch run on several instances of the
function at once). Messages this poller re-sent as copies or delivers after a hold are never
subject to faults again.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from fnmatch import fnmatchcase
from typing import Any

from orderflow_local.faults import DELIVER, Fault, FaultPlan
from orderflow_local.lambda_runtime import FunctionError, LocalFunction
from orderflow_local.resources import EventSourceSpec
from orderflow_local.settings import REGION

logger = logging.getLogger(__name__)

# As Lambda's pollers: a receive waits up to 20 s for a message (the SQS maximum), so an idle queue
# costs three requests a minute, not sixty. A stop does not wait for it: the thread is a daemon,
# and the local AWS that answers it stops with the system.
POLL_WAIT_SECONDS = 20
STOP_GRACE_SECONDS = 2.0  # for a delivery in progress to finish


class SqsPoller:
    def __init__(
        self,
        source: EventSourceSpec,
        queue_url: str,
        function: LocalFunction,
        sqs: Any,
        time_scale: float = 1.0,
        faults: FaultPlan | None = None,
        wait_seconds: int = POLL_WAIT_SECONDS,
        scale_out: Sequence[LocalFunction] = (),
    ) -> None:
        self.source = source
        self._queue_url = queue_url
        self._queue_name = source.queue_arn.rsplit(":", 1)[1]
        self._function = function
        self._sqs = sqs
        self._time_scale = time_scale
        self._faults = faults
        self._wait_seconds = wait_seconds
        self._batch_size = min(source.batch_size, 10)  # a receive's most
        self._paused_until = 0.0
        self._copies: set[str] = set()  # ids of the duplicates this poller sent
        self._held: set[threading.Timer] = set()
        self._held_lock = threading.Lock()
        self._stop = threading.Event()
        # One receive loop per instance of the function: Lambda runs a batch-size-1 source's
        # messages on several containers at once, not one after another.
        self._threads = [
            threading.Thread(
                target=self._run, args=(instance,), name=f"poller:{source.logical_id}:{n}", daemon=True
            )
            for n, instance in enumerate([function, *scale_out])
        ]
        self.polling = threading.Event()
        self._visibility_timeout = int(
            sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["VisibilityTimeout"])["Attributes"][
                "VisibilityTimeout"
            ]
        )

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def request_stop(self) -> None:
        """Receive no more; what was received is still delivered."""
        self._stop.set()
        with self._held_lock:
            for timer in self._held:
                timer.cancel()  # held messages return to the queue after their visibility timeout

    def stop(self) -> None:
        self.request_stop()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def _run(self, instance: LocalFunction) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(instance)
            except Exception:
                logger.exception("poller %s failed; retrying", self.source.logical_id)
                self._stop.wait(1)

    def poll_once(self, instance: LocalFunction | None = None) -> int:
        """Receive once and deliver what came to ``instance`` (by default the function itself)."""
        paused_for = self._paused_until - time.monotonic()
        if paused_for > 0:  # a pause fault: receive nothing until it ends
            self._stop.wait(min(paused_for, self._wait_seconds))
            return 0
        # Polling from the moment the first receive is asked for: on an idle queue it answers only
        # when its long poll ends.
        self.polling.set()
        messages = self._receive(self._batch_size, self._wait_seconds)
        if messages:
            messages = self._gather(messages)
        if messages and self._faults is not None:
            self._deliver_with_faults(messages, self._faults, instance or self._function)
        elif messages:
            self._deliver(messages, instance or self._function)
        return len(messages)

    def _receive(self, count: int, wait_seconds: int) -> list[dict[str, Any]]:
        response = self._sqs.receive_message(
            QueueUrl=self._queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait_seconds,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages: list[dict[str, Any]] = response.get("Messages", [])
        return messages

    def _gather(self, messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The batch that began with ``messages``, filled until it is full or the window has passed."""
        window = self.source.maximum_batching_window_seconds * self._time_scale
        if window <= 0:
            return messages
        deadline = time.monotonic() + window
        batch = list(messages)
        # A stop ends the gathering: what was received is still delivered, at once.
        while len(batch) < self._batch_size and not self._stop.is_set():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            # A long poll answers as soon as messages come, so a batch that fills early goes early.
            # Capped like the idle long poll: a stop during it is seen when it answers.
            wait = min(int(remaining), self._wait_seconds, POLL_WAIT_SECONDS)
            if wait == 0:
                # SQS waits in whole seconds only: sit out the rest of the window, then take
                # whatever came in it with one last receive.
                if self._stop.wait(remaining):
                    break
                batch += self._receive(self._batch_size - len(batch), 0)
                break
            batch += self._receive(self._batch_size - len(batch), wait)
        return batch

    def _deliver(self, messages: list[dict[str, Any]], function: LocalFunction, instances: int = 1) -> None:
        event = {"Records": [self._record(message) for message in messages]}
        if instances == 1:
            failed = self._invoke(function, event, messages)
        else:
            functions = [function, *(self._function.twin(n) for n in range(1, instances))]
            with ThreadPoolExecutor(max_workers=instances) as pool:
                outcomes = list(pool.map(lambda f: self._invoke(f, event, messages), functions))
            # Each instance had its own delivery: a message is done once any of them processed it.
            failed = set.intersection(*outcomes)
        if failed:
            logger.warning(
                "%s: %d of %d kept for redelivery", self.source.logical_id, len(failed), len(messages)
            )
        self._delete([m for m in messages if m["MessageId"] not in failed])
        self._return_to_queue([m for m in messages if m["MessageId"] in failed])

    def _invoke(
        self, function: LocalFunction, event: dict[str, Any], messages: list[dict[str, Any]]
    ) -> set[str]:
        """The ids of the messages the function did not process."""
        try:
            result = function.invoke(event)
        except FunctionError as error:
            logger.error("%s: batch of %d failed: %s", self.source.logical_id, len(messages), error)
            return {m["MessageId"] for m in messages}
        return self._failed_ids(result, messages)

    # --- faults ---------------------------------------------------------------------------------

    def _deliver_with_faults(
        self, messages: list[dict[str, Any]], plan: FaultPlan, function: LocalFunction
    ) -> None:
        faults = plan.at(lambda f: f.point == DELIVER and self._is_queue(f.queue))
        fresh = [m for m in messages if m["MessageId"] not in self._copies]
        if not faults or not fresh:
            self._deliver(messages, function)
            return
        pause = next(
            (f for f in faults if f.action == "pause" and any(plan.fires(f, m["Body"]) for m in fresh)), None
        )
        if pause is not None:
            self._pause(pause, messages)
            return
        held: dict[str, tuple[dict[str, Any], Fault]] = {}
        for message in fresh:
            delay = next((f for f in faults if f.action == "delay" and plan.fires(f, message["Body"])), None)
            if delay is not None:
                held[message["MessageId"]] = (message, delay)
        instances = 1
        for message in fresh:
            if message["MessageId"] in held:
                continue
            duplicate = next(
                (f for f in faults if f.action == "duplicate" and plan.fires(f, message["Body"])), None
            )
            if duplicate is None:
                continue
            self._log_fault(duplicate, message)
            if duplicate.concurrent:
                instances = max(instances, duplicate.copies)
            else:
                self._send_copies(message, duplicate.copies - 1)
        for message, delay in held.values():
            self._hold(message, delay)
        remaining = [m for m in messages if m["MessageId"] not in held]
        if remaining:
            self._deliver(remaining, function, instances)

    def _is_queue(self, pattern: str) -> bool:
        # Local queue names are "<stack>-<queue logical id>", so the logical id is the name's tail.
        names = (self.source.logical_id, self.source.function_logical_id, self._queue_name)
        return any(fnmatchcase(name, pattern) for name in names) or fnmatchcase(
            self._queue_name, f"*-{pattern}"
        )

    def _log_fault(self, fault: Fault, message: dict[str, Any]) -> None:
        logger.warning(
            "fault %s: %s of message %s on %s", fault.id, fault.action, message["MessageId"], self._queue_name
        )

    def _pause(self, fault: Fault, messages: list[dict[str, Any]]) -> None:
        logger.warning("fault %s: %s stops receiving for %s s", fault.id, self._queue_name, fault.seconds)
        self._paused_until = time.monotonic() + fault.seconds
        # Back on the queue at once, as from a consumer that received but could not take the batch.
        self._sqs.change_message_visibility_batch(
            QueueUrl=self._queue_url,
            Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": 0}
                for i, m in enumerate(messages)
            ],
        )

    def _hold(self, message: dict[str, Any], fault: Fault) -> None:
        self._log_fault(fault, message)
        if fault.seconds >= self._visibility_timeout / 2:
            # Kept invisible for the hold and a full processing window after it, or SQS would hand
            # it out again while it is still held.
            self._sqs.change_message_visibility(
                QueueUrl=self._queue_url,
                ReceiptHandle=message["ReceiptHandle"],
                VisibilityTimeout=math.ceil(fault.seconds) + self._visibility_timeout,
            )
        timer = threading.Timer(fault.seconds, self._deliver_held, [message])
        timer.daemon = True
        timer.name = f"held:{message['MessageId']}"
        with self._held_lock:
            self._held.add(timer)
        timer.start()

    def _deliver_held(self, message: dict[str, Any]) -> None:
        with self._held_lock:
            self._held.discard(threading.current_thread())  # type: ignore[arg-type]
        try:
            self._deliver([message], self._function)
        except Exception:
            logger.exception("%s: delivering held message %s failed", self._queue_name, message["MessageId"])

    def _send_copies(self, message: dict[str, Any], count: int) -> None:
        attributes = message.get("MessageAttributes")
        for _ in range(count):
            sent = self._sqs.send_message(
                QueueUrl=self._queue_url,
                MessageBody=message["Body"],
                **({"MessageAttributes": attributes} if attributes else {}),
            )
            self._copies.add(sent["MessageId"])

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
