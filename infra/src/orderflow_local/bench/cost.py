"""What a million completed orders cost on AWS, from the operations a run counted.

A run counts what each order made AWS do (``RunCounts``: states entered, PutEvents entries, SQS
requests, Lambda invocations and their durations, DynamoDB units, ...); ``RunTally`` averages them
per completed order and per outcome into ``OrderOperations``; ``PriceTable.price`` charges those at
the dated list prices in ``prices.toml`` and gives ``CostBreakdown``: dollars per million orders for
each bill line, with the formula that produced it. The source design (a state machine invoking five
Lambda functions directly, ``source_design_operations``) goes through the same ``price``, and
``render_table`` sets the two side by side.

Only charges that grow with orders are modelled. Monthly charges (KMS keys, web ACLs and their rules,
secrets, alarms, metrics, the pollers' idle long polls, the scheduled sweeps) and storage are not: they
depend on the month's volume, not on the design of one order. KMS requests that AWS services make
with cached data keys (SQS, DynamoDB, Step Functions and EventBridge under customer-managed keys, S3
with bucket keys) are of that kind too; only the orders' own KMS calls (sealing and opening the
payment token) are counted per order.

The done-when figure of issue 9 is ``CostBreakdown.total_excluding_ses_s3``: every line but SES and
S3, which the email and the invoice cost whatever the design.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any, Literal, get_args

PRICES_FILE = Path(__file__).with_name("prices.toml")
ORDER_SAGA_ASL = Path(__file__).resolve().parents[4] / "services/orders/statemachine/order_saga.asl.json"

ORDERS_QUOTED = 1_000_000  # every figure is dollars per this many completed orders
TARGET_USD_PER_MILLION = 140.0  # issue 9: all AWS charges except SES and S3
EXCLUDED_FROM_TARGET = frozenset({"SES", "S3"})
CHUNK_BYTES = 64 * 1024  # EventBridge and SQS bill each 64 KB of a payload as one event / request
GB = 1024**3  # AWS bills data in binary gigabytes
COMPLETED = "COMPLETED"

Architecture = Literal["arm64", "x86_64"]
ApiType = Literal["REST", "HTTP"]

_REQUIRED_PRICES = (
    "step_functions_standard_transition",
    "eventbridge_custom_event",
    "eventbridge_archive_gb",
    "sqs_standard_request",
    "lambda_request",
    "lambda_arm64_gb_second",
    "lambda_x86_64_gb_second",
    "dynamodb_on_demand_write_unit",
    "dynamodb_on_demand_read_unit",
    "api_gateway_rest_request",
    "api_gateway_http_request",
    "waf_request",
    "kms_request",
    "cloudwatch_logs_ingested_gb",
    "secrets_manager_api_call",
    "xray_trace_recorded",
    "s3_put_request",
    "s3_get_request",
    "ses_email",
)


def billing_chunks(size_bytes: int) -> int:
    """How many 64 KB chunks EventBridge or SQS bills a payload of ``size_bytes`` as (at least one)."""
    return max(1, math.ceil(size_bytes / CHUNK_BYTES))


# --- what one order makes AWS do --------------------------------------------------------------


@dataclass(frozen=True)
class LambdaUsage:
    """One function's share of an order."""

    invocations: float
    mean_duration_ms: float  # billed duration of an invocation (handler time, rounded up to 1 ms)
    memory_mb: float = 512
    architecture: Architecture = "arm64"
    init_ms: float = 0.0  # INIT time per order (cold starts spread over the orders), billed since 2025-08

    def __post_init__(self) -> None:
        if self.architecture not in get_args(Architecture):
            raise ValueError(f"architecture {self.architecture!r} is not one of {get_args(Architecture)}")
        _non_negative(self, ("invocations", "mean_duration_ms", "memory_mb", "init_ms"))

    @property
    def gb_seconds(self) -> float:
        return self.memory_mb / 1024 * (self.invocations * self.mean_duration_ms + self.init_ms) / 1000


@dataclass(frozen=True)
class OrderOperations:
    """What one completed order makes AWS do, averaged over a run (or counted by hand).

    ``states_entered``: Step Functions Standard state transitions, every state entered (Pass, Choice,
    Succeed and Fail included) and every retry attempt. ``put_events_entries``: PutEvents entries on
    custom buses; ``put_events_extra_chunks``: the 64 KB chunks of large entries beyond their first.
    ``sqs_requests``: requests that moved messages, by API (SendMessage from EventBridge deliveries,
    ReceiveMessage that returned messages, DeleteMessageBatch, ChangeMessageVisibility, ...);
    ``sqs_empty_receives`` apart, because their number follows how long the pollers waited, not the
    design. ``lambdas``: by function. DynamoDB units are on-demand request units as
    ReturnConsumedCapacity reports them (indexes included). ``api_requests`` to an API Gateway API
    of ``api_type``; ``waf_requests`` that a web ACL inspected. ``kms_requests`` the code makes itself.
    ``log_bytes`` ingested by CloudWatch Logs (function logs with the platform's START/END/REPORT
    lines, access logs, the workflow's logs). ``xray_traces`` recorded. ``archive_bytes`` of events an
    EventBridge archive took in.
    """

    states_entered: float = 0.0
    put_events_entries: float = 0.0
    put_events_extra_chunks: float = 0.0
    sqs_requests: Mapping[str, float] = field(default_factory=dict)
    sqs_empty_receives: float = 0.0
    sqs_extra_chunks: float = 0.0
    lambdas: Mapping[str, LambdaUsage] = field(default_factory=dict)
    dynamodb_read_units: float = 0.0
    dynamodb_write_units: float = 0.0
    api_requests: float = 0.0
    api_type: ApiType = "REST"
    waf_requests: float = 0.0
    kms_requests: float = 0.0
    log_bytes: float = 0.0
    secrets_manager_calls: float = 0.0
    xray_traces: float = 0.0
    archive_bytes: float = 0.0
    s3_puts: float = 0.0
    s3_gets: float = 0.0
    ses_sends: float = 0.0

    def __post_init__(self) -> None:
        if self.api_type not in get_args(ApiType):
            raise ValueError(f"api_type {self.api_type!r} is not one of {get_args(ApiType)}")
        scalars = tuple(
            name
            for name, value in vars(self).items()
            if isinstance(value, float | int) and not isinstance(value, bool)
        )
        _non_negative(self, scalars)
        for api, count in self.sqs_requests.items():
            if count < 0:
                raise ValueError(f"sqs_requests[{api!r}] is negative: {count}")

    @property
    def lambda_invocations(self) -> float:
        return sum(usage.invocations for usage in self.lambdas.values())

    @property
    def sqs_request_total(self) -> float:
        """Every billed SQS request: those by API, the empty receives and the extra chunks."""
        return sum(self.sqs_requests.values()) + self.sqs_empty_receives + self.sqs_extra_chunks


def _non_negative(instance: object, names: Iterable[str]) -> None:
    for name in names:
        value = getattr(instance, name)
        if value < 0:
            raise ValueError(f"{name} is negative: {value}")


# --- what a run counted -------------------------------------------------------------------------


@dataclass
class LambdaRecord:
    """A function's invocations in a run: totals, not means."""

    memory_mb: float
    architecture: Architecture = "arm64"
    invocations: int = 0
    duration_ms: float = 0.0
    init_ms: float = 0.0


@dataclass
class RunCounts:
    """Totals a run counted over ``orders`` orders, filled by the bench runner.

    From moto's request counts (``add_aws_calls`` sorts "service:Operation" counts into the fields),
    the executions' histories (``states_entered``), the functions' invocation records
    (``record_invocations``) and whatever else the run can see. Fields mean what ``OrderOperations``'s
    do, summed instead of averaged.
    """

    orders: int = 0
    states_entered: int = 0
    put_events_entries: int = 0
    put_events_extra_chunks: int = 0
    sqs_requests: dict[str, int] = field(default_factory=dict)  # empty receives excluded
    sqs_empty_receives: int = 0
    sqs_extra_chunks: int = 0
    lambdas: dict[str, LambdaRecord] = field(default_factory=dict)
    dynamodb_read_units: float = 0.0
    dynamodb_write_units: float = 0.0
    api_requests: int = 0
    api_type: ApiType = "REST"
    waf_requests: int = 0
    kms_requests: int = 0
    log_bytes: int = 0
    secrets_manager_calls: int = 0
    xray_traces: int = 0
    archive_bytes: int = 0
    s3_puts: int = 0
    s3_gets: int = 0
    ses_sends: int = 0

    def record_put_events_entry(self, size_bytes: int) -> None:
        self.put_events_entries += 1
        self.put_events_extra_chunks += billing_chunks(size_bytes) - 1

    def record_sqs_request(self, api: str, *, empty: bool = False, size_bytes: int = 0) -> None:
        """One SQS request; ``empty`` for a ReceiveMessage that returned nothing."""
        if empty:
            self.sqs_empty_receives += 1
        else:
            self.sqs_requests[api] = self.sqs_requests.get(api, 0) + 1
        self.sqs_extra_chunks += billing_chunks(size_bytes) - 1

    def record_invocations(
        self,
        function: str,
        count: int,
        duration_ms: float,
        memory_mb: float,
        architecture: Architecture = "arm64",
        init_ms: float = 0.0,
    ) -> None:
        """``count`` invocations of ``function`` that ran ``duration_ms`` (and ``init_ms``) in all."""
        record = self.lambdas.setdefault(function, LambdaRecord(memory_mb, architecture))
        if (record.memory_mb, record.architecture) != (memory_mb, architecture):
            raise ValueError(
                f"{function}: recorded at {record.memory_mb} MB {record.architecture},"
                f" now at {memory_mb} MB {architecture}"
            )
        record.invocations += count
        record.duration_ms += duration_ms
        record.init_ms += init_ms

    def add_aws_calls(self, calls: Mapping[str, int], *, empty_receives: int = 0) -> None:
        """Sorts request counts keyed "service:Operation" (the local AWS's counters) into the fields.

        ``empty_receives``: how many of the ``sqs:ReceiveMessage`` calls returned nothing; they are
        counted apart (``sqs_empty_receives``). PutEvents entries, DynamoDB units and states are not
        request counts: set them directly.
        """
        for key, count in calls.items():
            service, _, operation = key.partition(":")
            if service == "sqs":
                self.sqs_requests[operation] = self.sqs_requests.get(operation, 0) + count
            elif service == "kms":
                self.kms_requests += count
            elif service == "secretsmanager":
                self.secrets_manager_calls += count
            elif service == "s3" and operation in _S3_PUT_TIER:
                self.s3_puts += count
            elif service == "s3":
                self.s3_gets += count
            elif service in ("ses", "sesv2") and operation in _SES_SENDS:
                self.ses_sends += count
        if empty_receives:
            receives = self.sqs_requests.get("ReceiveMessage", 0)
            if empty_receives > receives:
                raise ValueError(f"{empty_receives} empty receives, but only {receives} receives")
            self.sqs_requests["ReceiveMessage"] = receives - empty_receives
            self.sqs_empty_receives += empty_receives

    def average(self, orders: int | None = None) -> OrderOperations:
        """These totals per order: divided by ``orders`` (by default the orders they were counted over)."""
        per = self.orders if orders is None else orders
        if per <= 0:
            raise ValueError("no orders to average over")
        return OrderOperations(
            states_entered=self.states_entered / per,
            put_events_entries=self.put_events_entries / per,
            put_events_extra_chunks=self.put_events_extra_chunks / per,
            sqs_requests={api: count / per for api, count in self.sqs_requests.items()},
            sqs_empty_receives=self.sqs_empty_receives / per,
            sqs_extra_chunks=self.sqs_extra_chunks / per,
            lambdas={
                name: LambdaUsage(
                    invocations=record.invocations / per,
                    mean_duration_ms=record.duration_ms / record.invocations if record.invocations else 0.0,
                    memory_mb=record.memory_mb,
                    architecture=record.architecture,
                    init_ms=record.init_ms / per,
                )
                for name, record in self.lambdas.items()
            },
            dynamodb_read_units=self.dynamodb_read_units / per,
            dynamodb_write_units=self.dynamodb_write_units / per,
            api_requests=self.api_requests / per,
            api_type=self.api_type,
            waf_requests=self.waf_requests / per,
            kms_requests=self.kms_requests / per,
            log_bytes=self.log_bytes / per,
            secrets_manager_calls=self.secrets_manager_calls / per,
            xray_traces=self.xray_traces / per,
            archive_bytes=self.archive_bytes / per,
            s3_puts=self.s3_puts / per,
            s3_gets=self.s3_gets / per,
            ses_sends=self.ses_sends / per,
        )


_S3_PUT_TIER = frozenset(
    {
        "PutObject",
        "CopyObject",
        "PostObject",
        "ListObjects",
        "ListObjectsV2",
        "CreateMultipartUpload",
        "UploadPart",
        "CompleteMultipartUpload",
    }
)
_SES_SENDS = frozenset({"SendEmail", "SendRawEmail", "SendTemplatedEmail", "SendBulkTemplatedEmail"})


def merged(counts: Iterable[RunCounts]) -> RunCounts:
    """The sum of several runs' (or outcomes') counts."""
    total = RunCounts()
    api_types: set[ApiType] = set()
    for part in counts:
        api_types.add(part.api_type)
        for name in _SUMMED_FIELDS:
            setattr(total, name, getattr(total, name) + getattr(part, name))
        for api, count in part.sqs_requests.items():
            total.sqs_requests[api] = total.sqs_requests.get(api, 0) + count
        for function, record in part.lambdas.items():
            total.record_invocations(
                function,
                record.invocations,
                record.duration_ms,
                record.memory_mb,
                record.architecture,
                record.init_ms,
            )
    if len(api_types) > 1:
        raise ValueError(f"counts of different API types cannot be merged: {sorted(api_types)}")
    if api_types:
        total.api_type = api_types.pop()
    return total


_SUMMED_FIELDS = (
    "orders",
    "states_entered",
    "put_events_entries",
    "put_events_extra_chunks",
    "sqs_empty_receives",
    "sqs_extra_chunks",
    "dynamodb_read_units",
    "dynamodb_write_units",
    "api_requests",
    "waf_requests",
    "kms_requests",
    "log_bytes",
    "secrets_manager_calls",
    "xray_traces",
    "archive_bytes",
    "s3_puts",
    "s3_gets",
    "ses_sends",
)


@dataclass
class RunTally:
    """A run's counts: all of them, and those of the orders of each outcome.

    ``total`` holds everything the run made AWS do, including what no single order caused (the
    pollers' empty receives, the scheduled sweeps), and is what completed orders are charged with:
    a failed order's cost is part of the price of the completed ones. ``by_outcome`` maps an order's
    final status to the counts of the orders that ended so (``RunCounts.orders`` of each is how many).
    """

    total: RunCounts
    by_outcome: dict[str, RunCounts] = field(default_factory=dict)
    completed_status: str = COMPLETED

    @property
    def completed_orders(self) -> int:
        completed = self.by_outcome.get(self.completed_status)
        return completed.orders if completed is not None else 0

    def per_completed_order(self) -> OrderOperations:
        """The whole run's operations per completed order (what the cost per million is priced on)."""
        if self.completed_orders == 0:
            raise ValueError(f"no {self.completed_status} orders in the run")
        return self.total.average(self.completed_orders)

    def per_outcome(self) -> dict[str, OrderOperations]:
        """Each outcome's operations per order of that outcome."""
        return {outcome: counts.average() for outcome, counts in self.by_outcome.items() if counts.orders}


# --- what the run could not see -----------------------------------------------------------------


@dataclass(frozen=True)
class Assumptions:
    """Rates for what a local run cannot observe, per thing it can (defaults: as deployed, 2026-12).

    Logs: the templates deploy every function with Lambda's advanced logging controls at WARN, for
    the platform (whose START, END and REPORT lines, about 450 bytes with tracing on, are INFO) and
    for the handlers (LogLevel), which write nothing at WARN on the happy path (at INFO, a
    structured Powertools line or two and an EMF metrics document: about 1 KB more): no bytes per
    invocation. A function deployed with Lambda's defaults (the source design's) writes the
    platform's lines, ``platform_log_bytes_per_invocation``. Each API request writes one access-log
    line (the orders template's format, about 450 bytes). X-Ray: tracing is Active on every
    function, API stage and the workflow, and infra's sampling rule records ``TraceSampleRate``
    (5%) of API requests with no reservoir; the workflow, EventBridge and SQS carry the trace
    header on, so an order's saga is in the trace its POST began, or in none. Archive: 7 of the 11
    entries of an order go to the archived domain-events bus, at about 1 KB each. A test holds the
    log and trace rates to the templates' defaults.
    """

    log_bytes_per_invocation: float = 0.0
    platform_log_bytes_per_invocation: float = 450.0
    log_bytes_per_api_request: float = 450.0
    xray_traces_per_api_request: float = 0.05
    archive_bytes_per_put_events_entry: float = 640.0


def fill_unmeasured(operations: OrderOperations, assumptions: Assumptions | None = None) -> OrderOperations:
    """``operations`` with the log bytes, X-Ray traces and archived bytes a run left at zero estimated."""
    rates = assumptions or Assumptions()
    return replace(
        operations,
        log_bytes=operations.log_bytes
        or operations.lambda_invocations * rates.log_bytes_per_invocation
        + operations.api_requests * rates.log_bytes_per_api_request,
        xray_traces=operations.xray_traces or operations.api_requests * rates.xray_traces_per_api_request,
        archive_bytes=operations.archive_bytes
        or operations.put_events_entries * rates.archive_bytes_per_put_events_entry,
    )


# --- prices ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Price:
    key: str
    usd: float  # for `per` units
    per: float
    unit: str
    source: str
    note: str = ""

    @property
    def per_unit(self) -> float:
        return self.usd / self.per

    @property
    def rate(self) -> str:
        """The price as the formulas write it: "$25/M", "$0.03/10k", "$0.50/GB"."""
        scale = {1_000_000: "M", 10_000: "10k", 1_000: "1k"}.get(int(self.per))
        if self.per == 1:
            scale = self.unit
        return f"${_plain(self.usd)}/{scale or f'{self.per:,.0f}'}"


@dataclass(frozen=True)
class LineItem:
    """One bill line: ``usd_per_million`` = per-order quantity x price x a million orders."""

    key: str
    service: str
    label: str
    formula: str
    usd_per_million: float
    details: tuple[str, ...] = ()  # how the quantity is made up (e.g. GB-s by function)

    @property
    def counts_toward_target(self) -> bool:
        return self.service not in EXCLUDED_FROM_TARGET


@dataclass(frozen=True)
class CostBreakdown:
    design: str
    items: tuple[LineItem, ...]
    prices_checked: date
    region: str

    @property
    def total(self) -> float:
        return sum(item.usd_per_million for item in self.items)

    @property
    def total_excluding_ses_s3(self) -> float:
        """Every charge but SES and S3: the figure issue 9 holds to ``TARGET_USD_PER_MILLION``."""
        return sum(item.usd_per_million for item in self.items if item.counts_toward_target)

    @property
    def within_target(self) -> bool:
        return self.total_excluding_ses_s3 <= TARGET_USD_PER_MILLION

    def item(self, key: str) -> LineItem:
        for line in self.items:
            if line.key == key:
                return line
        raise KeyError(key)

    def usd(self, key: str) -> float:
        """A line's dollars per million orders; 0 for a line the design does not have."""
        return next((line.usd_per_million for line in self.items if line.key == key), 0.0)

    def to_json(self) -> dict[str, Any]:
        return {
            "design": self.design,
            "pricesChecked": self.prices_checked.isoformat(),
            "region": self.region,
            "usdPerMillionOrders": round(self.total, 2),
            "usdPerMillionOrdersExcludingSesS3": round(self.total_excluding_ses_s3, 2),
            "targetUsdPerMillionOrders": TARGET_USD_PER_MILLION,
            "lines": [
                {
                    "key": line.key,
                    "service": line.service,
                    "label": line.label,
                    "formula": line.formula,
                    "usdPerMillionOrders": round(line.usd_per_million, 4),
                    "details": list(line.details),
                }
                for line in self.items
            ],
        }


@dataclass(frozen=True)
class PriceTable:
    checked: date
    region: str
    currency: str
    prices: Mapping[str, Price]

    @classmethod
    def load(cls, path: Path = PRICES_FILE) -> PriceTable:
        with path.open("rb") as file:
            document = tomllib.load(file)
        checked = document.get("checked")
        if not isinstance(checked, date):
            raise ValueError(f"{path}: `checked` must be a date (YYYY-MM-DD), not {checked!r}")
        prices: dict[str, Price] = {}
        for key, entry in document.get("prices", {}).items():
            try:
                price = Price(
                    key=key,
                    usd=float(entry["usd"]),
                    per=float(entry["per"]),
                    unit=str(entry["unit"]),
                    source=str(entry["source"]),
                    note=str(entry.get("note", "")),
                )
            except KeyError as missing:
                raise ValueError(f"{path}: price {key} has no {missing}") from None
            if price.usd < 0 or price.per <= 0 or not price.source.strip():
                raise ValueError(f"{path}: price {key} needs usd >= 0, per > 0 and a source")
            prices[key] = price
        absent = [key for key in _REQUIRED_PRICES if key not in prices]
        if absent:
            raise ValueError(f"{path}: no price for {', '.join(absent)}")
        return cls(
            checked=checked,
            region=str(document.get("region", "")),
            currency=str(document.get("currency", "USD")),
            prices=prices,
        )

    def __getitem__(self, key: str) -> Price:
        return self.prices[key]

    def price(self, operations: OrderOperations, design: str = "orderflow") -> CostBreakdown:
        """Dollars per million orders, line by line, of ``operations`` (per order) at these prices."""
        lines = [line for line in self._lines(operations) if line is not None]
        return CostBreakdown(design, tuple(lines), self.checked, self.region)

    def _lines(self, ops: OrderOperations) -> Iterable[LineItem | None]:
        yield self._line(
            "step_functions.transitions",
            "Step Functions",
            "State transitions (Standard)",
            ops.states_entered,
            "transitions",
            "step_functions_standard_transition",
        )
        yield self._line(
            "eventbridge.events",
            "EventBridge",
            "Custom events (PutEvents entries)",
            ops.put_events_entries + ops.put_events_extra_chunks,
            "entries" + (" (64 KB chunks)" if ops.put_events_extra_chunks else ""),
            "eventbridge_custom_event",
        )
        yield self._bytes_line(
            "eventbridge.archive",
            "EventBridge",
            "Archive (events archived)",
            ops.archive_bytes,
            "eventbridge_archive_gb",
        )
        split = [
            f"{api} {_qty(count)}"
            for api, count in sorted(ops.sqs_requests.items(), key=lambda item: (-item[1], item[0]))
            if count
        ]
        if ops.sqs_extra_chunks:
            split.append(f"extra 64 KB chunks {_qty(ops.sqs_extra_chunks)}")
        yield self._line(
            "sqs.requests",
            "SQS",
            "Requests moving messages",
            sum(ops.sqs_requests.values()) + ops.sqs_extra_chunks,
            f"requests ({', '.join(split)})",
            "sqs_standard_request",
            details=tuple(split),
        )
        yield self._line(
            "sqs.empty_receives",
            "SQS",
            "Empty receives",
            ops.sqs_empty_receives,
            "receives",
            "sqs_standard_request",
        )
        yield self._line(
            "lambda.requests",
            "Lambda",
            "Invocations",
            ops.lambda_invocations,
            "invocations",
            "lambda_request",
            details=tuple(f"{name} {_qty(usage.invocations)}" for name, usage in sorted(ops.lambdas.items())),
        )
        for architecture in get_args(Architecture):
            usages = {n: u for n, u in sorted(ops.lambdas.items()) if u.architecture == architecture}
            yield self._line(
                f"lambda.duration.{architecture}",
                "Lambda",
                f"Duration ({architecture})",
                sum(usage.gb_seconds for usage in usages.values()),
                "GB-s",
                f"lambda_{architecture}_gb_second",
                details=tuple(
                    f"{name} {_qty(u.invocations)} x {_qty(u.mean_duration_ms)} ms"
                    + (f" + {_qty(u.init_ms)} ms INIT" if u.init_ms else "")
                    + f" x {_qty(u.memory_mb / 1024)} GB = {_qty(u.gb_seconds)} GB-s"
                    for name, u in usages.items()
                ),
            )
        yield self._line(
            "dynamodb.writes",
            "DynamoDB",
            "Write request units (on-demand)",
            ops.dynamodb_write_units,
            "WRU",
            "dynamodb_on_demand_write_unit",
        )
        yield self._line(
            "dynamodb.reads",
            "DynamoDB",
            "Read request units (on-demand)",
            ops.dynamodb_read_units,
            "RRU",
            "dynamodb_on_demand_read_unit",
        )
        yield self._line(
            "api_gateway.requests",
            "API Gateway",
            f"{ops.api_type} API requests",
            ops.api_requests,
            "requests",
            "api_gateway_rest_request" if ops.api_type == "REST" else "api_gateway_http_request",
        )
        yield self._line(
            "waf.requests",
            "WAF",
            "Requests inspected by a web ACL",
            ops.waf_requests,
            "requests",
            "waf_request",
        )
        yield self._line(
            "kms.requests", "KMS", "Requests made by the code", ops.kms_requests, "requests", "kms_request"
        )
        yield self._bytes_line(
            "cloudwatch.logs", "CloudWatch", "Logs ingested", ops.log_bytes, "cloudwatch_logs_ingested_gb"
        )
        yield self._line(
            "secrets_manager.calls",
            "Secrets Manager",
            "API calls",
            ops.secrets_manager_calls,
            "calls",
            "secrets_manager_api_call",
        )
        yield self._line(
            "xray.traces", "X-Ray", "Traces recorded", ops.xray_traces, "traces", "xray_trace_recorded"
        )
        yield self._line("s3.puts", "S3", "PUT requests", ops.s3_puts, "PUTs", "s3_put_request")
        yield self._line("s3.gets", "S3", "GET requests", ops.s3_gets, "GETs", "s3_get_request")
        yield self._line("ses.emails", "SES", "Emails sent", ops.ses_sends, "emails", "ses_email")

    def _line(
        self,
        key: str,
        service: str,
        label: str,
        quantity: float,
        what: str,
        price_key: str,
        details: tuple[str, ...] = (),
    ) -> LineItem | None:
        if quantity <= 0:
            return None
        price = self[price_key]
        return LineItem(
            key=key,
            service=service,
            label=label,
            formula=f"{_qty(quantity)} {_counted(what, quantity)} x {price.rate}",
            usd_per_million=quantity * price.per_unit * ORDERS_QUOTED,
            details=details,
        )

    def _bytes_line(self, key: str, service: str, label: str, size: float, price_key: str) -> LineItem | None:
        if size <= 0:
            return None
        price = self[price_key]
        return LineItem(
            key=key,
            service=service,
            label=label,
            formula=f"{_qty(size / 1024)} KB x {price.rate}",
            usd_per_million=size / GB * price.per_unit * ORDERS_QUOTED,
        )


def price(
    operations: OrderOperations, table: PriceTable | None = None, *, design: str = "orderflow"
) -> CostBreakdown:
    """``operations`` priced at ``table`` (by default the repository's ``prices.toml``)."""
    return (table or PriceTable.load()).price(operations, design)


# --- the source design ----------------------------------------------------------------------------

# The source design's five functions, one per service, each with the handler of ours that does its
# work (whose measured duration, memory and architecture it takes by default).
SOURCE_FUNCTIONS: tuple[tuple[str, str], ...] = (
    ("RecordOrderFunction", "OrdersApiFunction"),
    ("ReserveStockFunction", "ReserveStockFunction"),
    ("ProcessPaymentFunction", "ProcessPaymentFunction"),
    ("GenerateInvoiceFunction", "GenerateInvoiceFunction"),
    ("SendConfirmationFunction", "SendConfirmationFunction"),
)
SOURCE_DEFAULT_DURATION_MS = 150.0


def source_design_operations(
    ours: OrderOperations | None = None,
    *,
    durations_ms: Mapping[str, float] | None = None,
    choice_states: int = 2,
    pass_states: int = 0,
    dynamodb_write_units: float = 5.0,
    dynamodb_read_units: float = 1.0,
    api_requests: float = 1.0,
    waf_requests: float = 0.0,
    kms_requests: float = 0.0,
    xray_traces: float = 0.0,
    s3_puts: float = 1.0,
    ses_sends: float = 1.0,
    assumptions: Assumptions | None = None,
) -> OrderOperations:
    """One completed order of the source article's design, counted the way ``OrderOperations`` counts.

    The design: API Gateway starts a Step Functions Standard execution (a service integration, no
    function in between); the state machine invokes five Lambda functions directly and in turn
    (record the order, reserve stock, charge the payment, generate the invoice, send the
    confirmation), each a Task state whose result a Choice state may branch on, and ends in a Succeed
    state. No EventBridge bus, no queues, no task tokens.

    Assumptions, each a parameter:

    - States on the happy path: the 5 Tasks, ``choice_states`` Choices (default 2: "in stock?" after
      the reservation and "paid?" after the payment, the two branches the article's workflow takes),
      ``pass_states`` Pass states (default none) and the Succeed state: 8 transitions. No retries.
    - Functions: one invocation each. Durations, memory and architecture are those of our handler
      doing the same work (``SOURCE_FUNCTIONS``) when ``ours`` has it, so that the comparison is of
      designs, not of code; ``durations_ms`` overrides by source function name; otherwise
      ``SOURCE_DEFAULT_DURATION_MS`` at 512 MB arm64.
    - DynamoDB: one write of under 1 KB per function (the order, the stock level, the payment, the
      invoice record, the order's final status), 5 WRU; one strongly consistent read of the stock
      level, 1 RRU.
    - One REST API request (POST); no web ACL, no customer-managed keys, no tracing, no event
      archive unless given. Logs: each invocation's platform lines, at
      ``Assumptions.platform_log_bytes_per_invocation`` (Lambda's default logging); no access logs.
    - One S3 PUT (the invoice) and one SES email, like ours (both outside the done-when figure).
    """
    if choice_states < 0 or pass_states < 0:
        raise ValueError("state counts cannot be negative")
    rates = assumptions or Assumptions()
    measured = ours.lambdas if ours is not None else {}
    overrides = durations_ms or {}
    lambdas: dict[str, LambdaUsage] = {}
    for name, equivalent in SOURCE_FUNCTIONS:
        like = measured.get(equivalent)
        lambdas[name] = LambdaUsage(
            invocations=1.0,
            mean_duration_ms=overrides.get(
                name, like.mean_duration_ms if like is not None else SOURCE_DEFAULT_DURATION_MS
            ),
            memory_mb=like.memory_mb if like is not None else 512,
            architecture=like.architecture if like is not None else "arm64",
        )
    tasks = len(SOURCE_FUNCTIONS)
    return OrderOperations(
        states_entered=float(tasks + choice_states + pass_states + 1),
        lambdas=lambdas,
        dynamodb_write_units=dynamodb_write_units,
        dynamodb_read_units=dynamodb_read_units,
        api_requests=api_requests,
        api_type=ours.api_type if ours is not None else "REST",
        waf_requests=waf_requests,
        kms_requests=kms_requests,
        log_bytes=tasks * rates.platform_log_bytes_per_invocation,
        xray_traces=xray_traces,
        s3_puts=s3_puts,
        ses_sends=ses_sends,
    )


# --- orderflow, counted in its code ---------------------------------------------------------------


def happy_path_states(definition: Mapping[str, Any]) -> list[str]:
    """The states an execution of ``definition`` (ASL) enters when every Task succeeds first time.

    Follows ``Next`` from ``StartAt`` to a Succeed or Fail state or an ``End``; a Choice takes its
    ``Default`` (a definition whose happy path needs another branch must be walked by hand).
    """
    states: Mapping[str, Any] = definition["States"]
    path: list[str] = []
    name: str | None = definition["StartAt"]
    while name is not None:
        if name in path:
            raise ValueError(f"the happy path loops at {name}")
        path.append(name)
        state = states[name]
        if state["Type"] in ("Succeed", "Fail") or state.get("End"):
            break
        name = state.get("Default") if state["Type"] == "Choice" else state.get("Next")
        if name is None:
            raise ValueError(f"{path[-1]} has no way on for the happy path")
    return path


# Assumed, not measured: a run replaces these with the functions' measured means.
STATIC_DURATIONS_MS: Mapping[str, tuple[float, float]] = {
    # function: (invocations per order, mean ms)
    "OrdersApiFunction": (1, 150.0),  # POST: PutItem, PutEvents, StartExecution
    "ReserveStockFunction": (
        1,
        120.0,
    ),  # GetItem, BatchGetItem, TransactWriteItems, PutEvents, seals the total, SendTaskSuccess
    "OrderStatusProjectorFunction": (3, 40.0),  # StockReserved, PaymentSucceeded, InvoiceGenerated
    "ExecutionStatusFunction": (1, 60.0),  # SUCCEEDED: DescribeExecution, PutEvents, UpdateItem
    "ProcessPaymentFunction": (1, 300.0),  # the provider's charge, 2 writes, PutEvents
    "CommitStockFunction": (1, 80.0),
    "GenerateInvoiceFunction": (1, 400.0),  # renders the PDF, 2 PutObject
    "SendConfirmationFunction": (1, 150.0),  # SES SendEmail
    "EmailSentFunction": (1, 40.0),
}


def static_estimate(asl: Path = ORDER_SAGA_ASL, assumptions: Assumptions | None = None) -> OrderOperations:
    """orderflow's happy path per order, counted in the templates and handlers on 2026-12-02.

    One order at a time (every SQS batch holds one message). The states come from the workflow
    definition as it is now; everything else was counted by hand:

    - PutEvents entries, 11: the orders service's OrderReceived (API) and OrderCompleted (from the
      saga's SUCCEEDED status); the workflow's ReserveStock, ProcessPayment, GenerateInvoice,
      SendConfirmation; the services' StockReserved, PaymentSucceeded, StockCommitted,
      InvoiceGenerated, CustomerNotified.
    - SQS, 10 messages, each sent by EventBridge, received once and deleted in a batch of one: the 4
      commands; StockReserved to the status queue; PaymentSucceeded to the
      status and commit-stock queues; InvoiceGenerated to the status queue; the saga's SUCCEEDED
      status and SES's Email Sent (free events on the default bus) to the execution-status and
      email-sent queues.
    - Lambda, 11 invocations (``STATIC_DURATIONS_MS``, 512 MB arm64 as every template's Globals).
    - DynamoDB, 23 WRU for a one-line order: orders 7 (the order with its execution input, under
      1 KB, 1 + its pending-start index entry 1; the first status projection, which also drops the
      input, 1 + the index entry's removal 1; 3 more projections 1 each), inventory 10 (the
      reservation transaction: 2 items x 2 + the held-reservations index entry 1; the commit, which
      records the order's outcome in its transaction: 2 items x 2 + the index entry's removal 1),
      payments 2 (the ledger's attempt and success), invoicing 1,
      notifications 3 (the idempotency record and its completion, the sent-email record). 4 RRU:
      the reservation, the catalogue and the reservation again at commit (inventory), the sent-email
      lookup (notifications); all strongly consistent.
    - One POST through API Gateway (REST) and its web ACL; no KMS request per order: payment tokens
      and priced totals are sealed and opened under data keys each container makes or opens once per
      5 minutes (inventory seals each order's total for payments, where payments used to keep a copy
      of every StockReserved: a queue hop, an invocation, a write and a read), and
      the provider's secret is cached for 5 minutes (both a fixed monthly share, not an order's).
    - S3: the invoice's PDF and JSON, 2 PUTs; SES: 1 email.
    - Logs, traces and archived bytes from ``Assumptions``.

    Status polls (GET /orders/{orderId}) are left out: each adds an API request, a web ACL request,
    an invocation, a read and a trace, whatever the design.
    """
    states = happy_path_states(json.loads(asl.read_text()))
    lambdas = {
        name: LambdaUsage(invocations=count, mean_duration_ms=ms, memory_mb=512, architecture="arm64")
        for name, (count, ms) in STATIC_DURATIONS_MS.items()
    }
    counted = OrderOperations(
        states_entered=float(len(states)),
        put_events_entries=11.0,
        sqs_requests={"SendMessage": 10.0, "ReceiveMessage": 10.0, "DeleteMessageBatch": 10.0},
        lambdas=lambdas,
        dynamodb_write_units=23.0,
        dynamodb_read_units=4.0,
        api_requests=1.0,
        waf_requests=1.0,
        s3_puts=2.0,
        ses_sends=1.0,
    )
    return fill_unmeasured(counted, assumptions)


# --- the table ------------------------------------------------------------------------------------


def render_table(ours: CostBreakdown, source: CostBreakdown) -> str:
    """Markdown: both designs' lines side by side, with formulas, totals and the done-when figure."""
    keys: list[str] = []
    labels: dict[str, str] = {}
    for breakdown in (ours, source):
        for line in breakdown.items:
            if line.key not in labels:
                keys.append(line.key)
                labels[line.key] = f"{line.service}: {line.label}"
    order = {key: index for index, key in enumerate(_LINE_ORDER)}
    keys.sort(key=lambda key: order.get(key, len(order)))

    def cells(breakdown: CostBreakdown, key: str) -> tuple[str, str]:
        line = next((line for line in breakdown.items if line.key == key), None)
        return ("", "-") if line is None else (line.formula, f"{line.usd_per_million:,.2f}")

    checked = ours.prices_checked.isoformat()
    if source.prices_checked != ours.prices_checked:
        checked += f" (source design: {source.prices_checked.isoformat()})"
    rows = [
        f"Dollars per {ORDERS_QUOTED:,} completed orders, {ours.region} list prices checked {checked}"
        " (infra/src/orderflow_local/bench/prices.toml); each formula is per order quantity x price.",
        "",
        f"| Line | {ours.design}: per order x price | {ours.design} $/M | "
        f"{source.design}: per order x price | {source.design} $/M |",
        "|---|---|---:|---|---:|",
    ]
    for key in keys:
        our_formula, our_usd = cells(ours, key)
        their_formula, their_usd = cells(source, key)
        rows.append(f"| {labels[key]} | {our_formula} | {our_usd} | {their_formula} | {their_usd} |")
    rows.append(f"| **Total** | | **{ours.total:,.2f}** | | **{source.total:,.2f}** |")
    rows.append(
        f"| **Total excluding SES and S3** (target <= ${TARGET_USD_PER_MILLION:,.0f}) | "
        f"{_verdict(ours)} | **{ours.total_excluding_ses_s3:,.2f}** | "
        f"{_verdict(source)} | **{source.total_excluding_ses_s3:,.2f}** |"
    )
    return "\n".join(rows)


def _verdict(breakdown: CostBreakdown) -> str:
    return "within the target" if breakdown.within_target else "over the target"


_LINE_ORDER = (
    "step_functions.transitions",
    "eventbridge.events",
    "eventbridge.archive",
    "sqs.requests",
    "sqs.empty_receives",
    "lambda.requests",
    "lambda.duration.arm64",
    "lambda.duration.x86_64",
    "dynamodb.writes",
    "dynamodb.reads",
    "api_gateway.requests",
    "waf.requests",
    "kms.requests",
    "cloudwatch.logs",
    "secrets_manager.calls",
    "xray.traces",
    "s3.puts",
    "s3.gets",
    "ses.emails",
)


def _qty(value: float) -> str:
    """A quantity for a formula: whole numbers as such, others to 4 significant digits."""
    if value == int(value) and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def _counted(what: str, quantity: float) -> str:
    """``what`` agreeing with ``quantity``: "1 request", "2 requests", "1 PUT" (never "GB-s")."""
    word, space, rest = what.partition(" ")
    if quantity != 1 or not word.endswith("s") or "-" in word:
        return what
    singular = word[:-3] + "y" if word.endswith("ies") else word[:-1]
    return singular + space + rest


def _plain(value: float) -> str:
    """A price as a price list writes it, never in exponent notation: 25, 0.50, 0.03, 0.0000133334."""
    text = f"{value:.10f}".rstrip("0").rstrip(".")
    whole, _, cents = text.partition(".")
    return f"{whole}.{cents}0" if len(cents) == 1 else text


def main() -> None:
    """Prints the static estimate of orderflow beside the source design."""
    table = PriceTable.load()
    ours = static_estimate()
    source = source_design_operations(ours)
    print(render_table(table.price(ours, "orderflow"), table.price(source, "source design")))


if __name__ == "__main__":
    main()
