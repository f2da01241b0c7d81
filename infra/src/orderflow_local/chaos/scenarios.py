"""The chaos scenarios: a workload, the faults armed while it runs, and what must hold after.

Every scenario is checked against G1-G6. The faults are the local runtime's (orderflow_local.faults);
their placement is drawn from the scenario's seeded generator, so a seed reproduces a run's plan.
Durations are given at real time and multiplied by the stack's time scale, like every other wait.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orderflow_local.chaos.workload import TOKEN_WEIGHTS, Workload, WorkloadShape

Faults = Callable[[Workload, random.Random, float], list[dict[str, Any]]]
Expectation = Callable[[Workload, Counter[str]], list[str]]

# The scale of the fault scenarios' stack: heartbeats of 3 to 6 s, redeliveries after 9 s.
FAST = 0.05
# Real time: 200 orders queue up behind one process per function, longer than a scaled heartbeat.
REAL = 1.0

# Every handler's side effects, by the fault point just after (or, for the reply, before) them.
DYNAMODB_WRITES = {
    "OrdersApiFunction": "PutItem",
    "OrderStatusProjectorFunction": "UpdateItem",
    "ReserveStockFunction": "TransactWriteItems",
    "CommitStockFunction": "TransactWriteItems",
    "ReleaseStockFunction": "TransactWriteItems",
    "ProcessPaymentFunction": "UpdateItem",
    "RefundFailedOrdersFunction": "UpdateItem",
    "GenerateInvoiceFunction": "PutItem",
    "SendConfirmationFunction": "PutItem",
    "CustomerAlertsFunction": "PutItem",
}
PROVIDER_CALLERS = ("ProcessPaymentFunction", "RefundFailedOrdersFunction")
EMAIL_SENDERS = ("SendConfirmationFunction", "CustomerAlertsFunction")
TASK_ANSWERERS = (
    "ReserveStockFunction",
    "ProcessPaymentFunction",
    "GenerateInvoiceFunction",
    "SendConfirmationFunction",
)
PUBLISHED = (
    "OrderReceived",
    "ReserveStock",
    "ProcessPayment",
    "GenerateInvoice",
    "SendConfirmation",
    "OrderCompleted",
    "OrderOutOfStock",
    "OrderPaymentFailed",
    "StockReserved",
    "StockReleased",
    "StockCommitted",
    "PaymentSucceeded",
    "PaymentRefunded",
    "InvoiceGenerated",
    "CustomerNotified",
)


@dataclass(frozen=True)
class Scenario:
    name: str
    what: str
    faults: Faults
    shape: WorkloadShape = field(default_factory=WorkloadShape)
    time_scale: float = FAST
    expect: Expectation | None = None
    quiet_within: float = 240.0  # seconds to quiescence before the scenario counts as stuck


def _none(workload: Workload, rng: random.Random, scale: float) -> list[dict[str, Any]]:
    return []


def _crash(point: str, function: str, times: int = 1) -> dict[str, Any]:
    return {
        "id": f"crash-{function}-{point.replace(':', '-')}",
        "point": point,
        "action": "crash",
        "function": function,
        "times": times,
    }


def _duplicates(workload: Workload, rng: random.Random, scale: float) -> list[dict[str, Any]]:
    return [
        {
            "id": "every-message-three-times",
            "point": "deliver",
            "queue": "*",
            "action": "duplicate",
            "copies": 3,
        }
    ]


def _concurrent_duplicates(workload: Workload, rng: random.Random, scale: float) -> list[dict[str, Any]]:
    return [
        {
            "id": "every-batch-twice-at-once",
            "point": "deliver",
            "queue": "*",
            "action": "duplicate",
            "concurrent": True,
            "copies": 2,
        }
    ]


def _reordering(workload: Workload, rng: random.Random, scale: float) -> list[dict[str, Any]]:
    """Messages of some SKUs and customers held back for a while, so later ones overtake them,
    within a queue and across queues (a fact overtaking the command that caused it)."""
    faults = [
        {
            "id": f"hold-{item.sku}",
            "point": "deliver",
            "queue": "*",
            "action": "delay",
            "match": item.sku,
            "seconds": round(rng.uniform(0.2, 2.0), 2),
            "times": rng.randint(1, 3),
        }
        for item in workload.skus
    ]
    for order in rng.sample(workload.orders, k=len(workload.orders) // 2):
        faults.append(
            {
                "id": f"hold-{order.customer_id}",
                "point": "deliver",
                "queue": "*",
                "action": "delay",
                "match": order.customer_id,
                "seconds": round(rng.uniform(0.2, 2.0), 2),
                "times": 2,
            }
        )
    return faults


def _crash_after_dynamodb_writes(
    workload: Workload, rng: random.Random, scale: float
) -> list[dict[str, Any]]:
    return [
        _crash(f"after:dynamodb.{operation}", function) for function, operation in DYNAMODB_WRITES.items()
    ]


def _crash_after_provider_calls(workload: Workload, rng: random.Random, scale: float) -> list[dict[str, Any]]:
    return [_crash("after:provider", function, times=2) for function in PROVIDER_CALLERS]


def _crash_after_s3_puts(workload: Workload, rng: random.Random, scale: float) -> list[dict[str, Any]]:
    return [_crash("after:s3.PutObject", "GenerateInvoiceFunction", times=2)]


def _crash_after_ses_sends(workload: Workload, rng: random.Random, scale: float) -> list[dict[str, Any]]:
    return [_crash("after:ses.SendEmail", function, times=2) for function in EMAIL_SENDERS]


def _crash_before_task_replies(workload: Workload, rng: random.Random, scale: float) -> list[dict[str, Any]]:
    return [
        _crash(f"before:stepfunctions.{answer}", function)
        for function in TASK_ANSWERERS
        for answer in ("SendTaskSuccess", "SendTaskFailure")
    ]


def _paused_consumers(workload: Workload, rng: random.Random, scale: float) -> list[dict[str, Any]]:
    # Past the payment step's heartbeat (120 s) and the release's redelivery window: the step is
    # retried with a fresh command, and the compensation lands late.
    return [
        {
            "id": "pause-payments",
            "point": "deliver",
            "queue": "ProcessPaymentFunction",
            "action": "pause",
            "seconds": round(150 * scale, 2),
            "times": 1,
        },
        {
            "id": "pause-releases",
            "point": "deliver",
            "queue": "ReleaseStockFunction",
            "action": "pause",
            "seconds": round(150 * scale, 2),
            "times": 1,
        },
    ]


def _throttled_put_events(workload: Workload, rng: random.Random, scale: float) -> list[dict[str, Any]]:
    return [
        {
            "id": f"throttle-{detail_type}",
            "point": "putEvents",
            "action": "throttle",
            "match": f'"DetailType": "{detail_type}"',
            "times": 2,
        }
        for detail_type in PUBLISHED
    ]


def _provider_faults(workload: Workload, rng: random.Random, scale: float) -> list[dict[str, Any]]:
    charge = ["POST ", "/v1/charges\n"]
    return [
        {
            "id": "provider-slow",
            "point": "before:provider",
            "action": "delay",
            "function": "ProcessPaymentFunction",
            "seconds": round(max(1.0, 20 * scale) * 0.8, 2),
            "times": 4,
        },
        {
            "id": "provider-unreachable",
            "point": "before:provider",
            "action": "raise",
            "error": "connection",
            "function": "ProcessPaymentFunction",
            "match": charge,
            "times": 3,
        },
        {
            "id": "provider-charged-then-dropped",
            "point": "after:provider",
            "action": "raise",
            "error": "connection",
            "function": "ProcessPaymentFunction",
            "match": charge,
            "times": 3,
        },
    ]


def _exactly(completed: int, out_of_stock: int) -> Expectation:
    def expect(workload: Workload, statuses: Counter[str]) -> list[str]:
        wanted = Counter({"COMPLETED": completed, "OUT_OF_STOCK": out_of_stock})
        return [] if statuses == wanted else [f"expected {dict(wanted)}, got {dict(statuses)}"]

    return expect


def _load_duplicates(workload: Workload, rng: random.Random, scale: float) -> list[dict[str, Any]]:
    return [
        {"id": "every-message-twice", "point": "deliver", "queue": "*", "action": "duplicate", "copies": 2},
        {
            "id": "reservations-at-once",
            "point": "deliver",
            "queue": "ReserveStockFunction",
            "action": "duplicate",
            "concurrent": True,
            "copies": 2,
        },
    ]


ON_TEN_UNITS = WorkloadShape(
    orders=200,
    scarce_skus=1,
    scarce_units=10,
    plentiful_skus=0,
    max_lines=1,
    max_quantity=1,
    tokens={"tok_visa": 1},
    concurrency=25,
)
# Every test token as often as every other: each of the provider's failure modes, many times.
EVERY_TOKEN_ALIKE = WorkloadShape(tokens=dict.fromkeys(TOKEN_WEIGHTS, 1))

SCENARIOS: tuple[Scenario, ...] = (
    Scenario("baseline", "no fault: the mix as it runs every day", _none),
    Scenario("duplicates", "every message delivered three times, one after another", _duplicates),
    Scenario(
        "concurrent-duplicates",
        "every batch delivered twice at once, to two instances of its function",
        _concurrent_duplicates,
    ),
    Scenario(
        "reordering",
        "messages of some SKUs and customers held back, so later ones overtake them",
        _reordering,
    ),
    Scenario(
        "crash-after-dynamodb-write",
        "every handler killed once right after its DynamoDB write",
        _crash_after_dynamodb_writes,
    ),
    Scenario(
        "crash-after-provider-call",
        "payments killed right after the provider answered (charges and refunds)",
        _crash_after_provider_calls,
    ),
    Scenario("crash-after-s3-put", "invoicing killed right after storing the invoice", _crash_after_s3_puts),
    Scenario(
        "crash-after-ses-send",
        "notifications killed right after SES accepted an email",
        _crash_after_ses_sends,
    ),
    Scenario(
        "crash-before-task-reply",
        "every command handler killed once just before answering its task token",
        _crash_before_task_replies,
    ),
    Scenario(
        "paused-consumers",
        "payments and stock releases stop consuming past their step's heartbeat, then resume",
        _paused_consumers,
    ),
    Scenario(
        "throttled-putevents",
        "EventBridge throttles the first two entries of every event type",
        _throttled_put_events,
    ),
    Scenario(
        "provider-faults",
        "the provider slow, unreachable, or charging and then dropping the connection, with every test token",
        _provider_faults,
        EVERY_TOKEN_ALIKE,
    ),
    Scenario(
        "scarce-stock-load",
        "200 concurrent orders for the last 10 units of one SKU",
        _none,
        ON_TEN_UNITS,
        REAL,
        _exactly(10, 190),
        600.0,
    ),
    Scenario(
        "scarce-stock-load-duplicates",
        "200 concurrent orders for 10 units, every message delivered twice and reservations twice at once",
        _load_duplicates,
        ON_TEN_UNITS,
        REAL,
        _exactly(10, 190),
        600.0,
    ),
)

# The few that `make test` runs on the end-to-end tests' stack, with fewer orders.
CORE = ("duplicates", "crash-before-task-reply", "throttled-putevents")


def scenario_named(name: str) -> Scenario:
    for scenario in SCENARIOS:
        if scenario.name == name:
            return scenario
    raise KeyError(f"no scenario {name!r}; there are: {', '.join(s.name for s in SCENARIOS)}")
