"""Operator commands against the running local system.

``python -m orderflow_local.operator redrive <orderId>`` (``make redrive ORDER=<orderId>``)
resumes a stalled order: it finds the order saga's state machine on the local AWS (the one whose
name starts with ``orderflow-orders-``; endpoint ``http://127.0.0.1:$ORDERFLOW_AWS_PORT``, default
4566), and calls RedriveExecution on the order's execution, which is named after the order id.
On AWS the same call resumes a FAILED, TIMED_OUT or ABORTED execution from the step that failed.

``python -m orderflow_local.operator redrive-dlq <queue name>`` (``make redrive-dlq QUEUE=<name>``)
sends every message of a dead-letter queue back to the queue it came from (the queue whose
RedrivePolicy names it), with its attributes, and deletes it from the DLQ: what SQS's
StartMessageMoveTask does on AWS (``aws sqs start-message-move-task --source-arn <DLQ ARN>``), which
moto lacks. A bus's DLQ has no source queue and is refused.

``python -m orderflow_local.operator reconcile`` (``make reconcile``) runs the payments reconciler now
instead of at its next scheduled run: it sends its schedule's "Scheduled Event" to the rule's queue,
as the schedule does.

Prints the result as JSON. Exit status: 0 redriven; 2 the order cannot be redriven (no
execution for it, not redrivable, not an order id, no saga deployed) or bad arguments; 1 the local
AWS did not answer or refused for another reason.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
from typing import Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from orderflow_local.scheduler import find_scheduled_rules, scheduled_event
from orderflow_local.settings import Settings, local_client

SAGA_PREFIX: Final = "orderflow-orders-"
EXIT_REFUSED: Final = 2
EXIT_UNAVAILABLE: Final = 1

# Step Functions execution names: 1-80 characters, none of whitespace or these.
_EXECUTION_NAME: Final = re.compile(r"[^\s<>{}\[\]?*\"#%\\^|~`$&,;:/]{1,80}")


class OperatorError(Exception):
    """A request the operator must fix, reported with its exit status."""

    def __init__(self, message: str, status: int = EXIT_REFUSED) -> None:
        super().__init__(message)
        self.status = status


def stepfunctions_client() -> Any:
    return local_client("stepfunctions", Settings.from_env().aws_endpoint)


def order_saga_arn(sfn: Any) -> str:
    machines = [
        machine["stateMachineArn"]
        for page in sfn.get_paginator("list_state_machines").paginate()
        for machine in page["stateMachines"]
        if machine["name"].startswith(SAGA_PREFIX)
    ]
    if not machines:
        raise OperatorError(f"no state machine named {SAGA_PREFIX}*: is the system running (make run)?")
    if len(machines) > 1:
        raise OperatorError(f"more than one order saga: {', '.join(machines)}")
    return machines[0]


def check_order_id(order_id: str) -> None:
    # Anything else could not name an execution; refuse it before asking the local AWS.
    if not _EXECUTION_NAME.fullmatch(order_id):
        raise OperatorError(f"not an order id: {order_id!r}")


def execution_arn(state_machine_arn: str, order_id: str) -> str:
    """The order's execution: the saga starts one per order, named after the order id."""
    if ":stateMachine:" not in state_machine_arn:
        raise OperatorError(f"not a state machine ARN: {state_machine_arn}")
    check_order_id(order_id)
    return f"{state_machine_arn.replace(':stateMachine:', ':execution:', 1)}:{order_id}"


def redrive(sfn: Any, order_id: str) -> dict[str, Any]:
    check_order_id(order_id)
    arn = execution_arn(order_saga_arn(sfn), order_id)
    try:
        response = sfn.redrive_execution(executionArn=arn)
    except ClientError as error:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", "")
        if code == "ExecutionDoesNotExist":
            raise OperatorError(f"order {order_id} has no execution (no such order?): {arn}") from error
        if code == "ExecutionNotRedrivable":
            raise OperatorError(f"order {order_id} cannot be redriven: {message}") from error
        raise OperatorError(f"RedriveExecution failed: {code}: {message}", EXIT_UNAVAILABLE) from error
    return {"orderId": order_id, "executionArn": arn, "redriveDate": str(response["redriveDate"])}


def sqs_client() -> Any:
    return local_client("sqs", Settings.from_env().aws_endpoint)


def events_client() -> Any:
    return local_client("events", Settings.from_env().aws_endpoint)


def redrive_dead_letters(sqs: Any, queue_name: str) -> dict[str, Any]:
    """Moves every message of the DLQ ``queue_name`` back to its source queue."""
    try:
        dlq_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
    except ClientError as error:
        raise OperatorError(f"no queue named {queue_name!r}") from error
    sources = sqs.list_dead_letter_source_queues(QueueUrl=dlq_url).get("queueUrls", [])
    if len(sources) != 1:
        raise OperatorError(
            f"{queue_name} is the dead-letter queue of {len(sources)} queues, not of one: "
            "a bus's DLQ holds events EventBridge could not deliver (docs/operations.md)"
        )
    [source] = sources
    moved = 0
    while messages := sqs.receive_message(
        QueueUrl=dlq_url,
        MaxNumberOfMessages=10,
        MessageAttributeNames=["All"],
        VisibilityTimeout=30,
        WaitTimeSeconds=0,
    ).get("Messages", []):
        for message in messages:
            attributes = message.get("MessageAttributes")
            sqs.send_message(
                QueueUrl=source,
                MessageBody=message["Body"],
                **({"MessageAttributes": attributes} if attributes else {}),
            )
            sqs.delete_message(QueueUrl=dlq_url, ReceiptHandle=message["ReceiptHandle"])
            moved += 1
    return {"deadLetterQueue": dlq_url, "sourceQueue": source, "moved": moved}


RECONCILER_SCHEDULE: Final = "orderflow-payments-ReconcilePaymentsSchedule"


def run_reconciler(events: Any, sqs: Any) -> dict[str, Any]:
    """Sends the reconciler's schedule's event to its queue now."""
    rules = [rule for rule in find_scheduled_rules(events, sqs) if rule.name == RECONCILER_SCHEDULE]
    if not rules:
        raise OperatorError(f"no scheduled rule {RECONCILER_SCHEDULE}: is the system running (make run)?")
    [rule] = rules
    event = scheduled_event(rule, datetime.datetime.now(datetime.UTC))
    for target in rule.targets:
        sqs.send_message(QueueUrl=target.queue_url, MessageBody=json.dumps(event))
    return {
        "rule": rule.name,
        "eventId": event["id"],
        "queues": [target.queue_url for target in rule.targets],
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m orderflow_local.operator", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    command = commands.add_parser("redrive", help="resume a stalled order's execution from its failed step")
    command.add_argument("order_id", metavar="orderId")
    command = commands.add_parser(
        "redrive-dlq", help="send a dead-letter queue's messages back to their queue"
    )
    command.add_argument("queue_name", metavar="queueName")
    commands.add_parser("reconcile", help="run the payments reconciler now")
    return parser


def main(argv: list[str] | None = None) -> int:
    arguments = _parser().parse_args(argv)  # exits with 2 on bad arguments
    try:
        result: dict[str, Any]
        if arguments.command == "redrive-dlq":
            result = redrive_dead_letters(sqs_client(), arguments.queue_name)
        elif arguments.command == "reconcile":
            result = run_reconciler(events_client(), sqs_client())
        else:
            result = redrive(stepfunctions_client(), arguments.order_id)
    except OperatorError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.status
    except (BotoCoreError, ClientError) as error:
        print(f"error: the local AWS did not answer: {error}", file=sys.stderr)
        return EXIT_UNAVAILABLE
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
