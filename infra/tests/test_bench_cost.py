"""The cost model: the dated price table, each line's formula, the done-when total, the source design
and averaging a run's counts per completed order and per outcome."""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any, cast

import pytest

from orderflow_local.bench import cost
from orderflow_local.bench.cost import (
    Assumptions,
    LambdaUsage,
    OrderOperations,
    PriceTable,
    RunCounts,
    RunTally,
)


@pytest.fixture(scope="module")
def table() -> PriceTable:
    return PriceTable.load()


# --- the price table ------------------------------------------------------------------------------


def test_the_price_table_is_dated_for_us_east_1_and_every_price_names_its_source(table: PriceTable) -> None:
    assert isinstance(table.checked, datetime.date)
    assert table.checked >= datetime.date(2026, 12, 1)
    assert table.region == "us-east-1"
    assert table.currency == "USD"
    for price in table.prices.values():
        assert price.source.startswith("https://"), price.key
        assert price.unit, price.key
        assert price.per > 0, price.key
        assert price.usd > 0, price.key


def test_the_prices_are_those_checked_in_december_2026(table: PriceTable) -> None:
    per_million = {key: price.per_unit * 1_000_000 for key, price in table.prices.items()}
    assert per_million["step_functions_standard_transition"] == pytest.approx(25.0)
    assert per_million["eventbridge_custom_event"] == pytest.approx(1.0)
    assert per_million["sqs_standard_request"] == pytest.approx(0.40)
    assert per_million["lambda_request"] == pytest.approx(0.20)
    # DynamoDB on-demand after the November 2024 cut, not the $1.25 / $0.25 before it.
    assert per_million["dynamodb_on_demand_write_unit"] == pytest.approx(0.625)
    assert per_million["dynamodb_on_demand_read_unit"] == pytest.approx(0.125)
    assert per_million["api_gateway_rest_request"] == pytest.approx(3.50)
    assert per_million["kms_request"] == pytest.approx(3.0)  # $0.03 per 10,000
    assert table["lambda_arm64_gb_second"].per_unit == pytest.approx(0.0000133334)
    assert table["lambda_x86_64_gb_second"].per_unit == pytest.approx(0.0000166667)


def test_a_price_file_without_a_date_or_a_price_is_refused(tmp_path: Path) -> None:
    text = cost.PRICES_FILE.read_text()
    undated = tmp_path / "undated.toml"
    undated.write_text(text.replace("checked = 2026-12-02", 'checked = "recently"'))
    with pytest.raises(ValueError, match="checked"):
        PriceTable.load(undated)
    incomplete = tmp_path / "incomplete.toml"
    incomplete.write_text(text.replace("[prices.kms_request]", "[prices.kms_request_renamed]"))
    with pytest.raises(ValueError, match="kms_request"):
        PriceTable.load(incomplete)


# --- formulas ---------------------------------------------------------------------------------------


def test_four_transitions_cost_100_dollars_per_million_orders(table: PriceTable) -> None:
    line = table.price(OrderOperations(states_entered=4)).item("step_functions.transitions")
    assert line.usd_per_million == pytest.approx(100.0)
    assert line.formula == "4 transitions x $25/M"


def test_lambda_is_charged_per_invocation_and_per_gb_second_of_its_architecture(table: PriceTable) -> None:
    operations = OrderOperations(
        lambdas={
            "Arm": LambdaUsage(invocations=2, mean_duration_ms=500, memory_mb=1024, architecture="arm64"),
            "Intel": LambdaUsage(invocations=1, mean_duration_ms=250, memory_mb=2048, architecture="x86_64"),
        }
    )
    breakdown = table.price(operations)
    assert breakdown.usd("lambda.requests") == pytest.approx(3 * 0.20)
    assert breakdown.usd("lambda.duration.arm64") == pytest.approx(1.0 * 13.3334)  # 2 x 0.5 s x 1 GB
    assert breakdown.usd("lambda.duration.x86_64") == pytest.approx(0.5 * 16.6667)  # 0.25 s x 2 GB
    assert breakdown.item("lambda.duration.arm64").formula == "1 GB-s x $0.0000133334/GB-second"


def test_init_time_is_billed_like_duration(table: PriceTable) -> None:
    warm = LambdaUsage(invocations=1, mean_duration_ms=100, memory_mb=1024)
    cold = LambdaUsage(invocations=1, mean_duration_ms=100, memory_mb=1024, init_ms=900)
    assert cold.gb_seconds == pytest.approx(10 * warm.gb_seconds)


def test_large_events_are_billed_per_64_kb_chunk(table: PriceTable) -> None:
    assert [cost.billing_chunks(size) for size in (0, 1, 65_536, 65_537, 200_000)] == [1, 1, 1, 2, 4]
    counts = RunCounts(orders=1)
    counts.record_put_events_entry(1_000)
    counts.record_put_events_entry(100_000)
    breakdown = table.price(counts.average())
    assert breakdown.usd("eventbridge.events") == pytest.approx(3.0)
    assert breakdown.item("eventbridge.events").formula == "3 entries (64 KB chunks) x $1/M"


def test_empty_receives_are_a_line_of_their_own(table: PriceTable) -> None:
    counts = RunCounts(orders=2)
    counts.add_aws_calls(
        {"sqs:SendMessage": 2, "sqs:ReceiveMessage": 10, "sqs:DeleteMessageBatch": 2, "dynamodb:GetItem": 5},
        empty_receives=8,
    )
    operations = counts.average()
    assert operations.sqs_requests == {"SendMessage": 1.0, "ReceiveMessage": 1.0, "DeleteMessageBatch": 1.0}
    breakdown = table.price(operations)
    assert breakdown.usd("sqs.requests") == pytest.approx(3 * 0.40)
    assert breakdown.usd("sqs.empty_receives") == pytest.approx(4 * 0.40)
    assert "SendMessage 1" in breakdown.item("sqs.requests").formula


def test_aws_calls_are_sorted_into_their_bill_lines() -> None:
    counts = RunCounts(orders=1)
    counts.add_aws_calls(
        {
            "kms:Encrypt": 1,
            "kms:Decrypt": 1,
            "s3:PutObject": 2,
            "s3:GetObject": 1,
            "ses:SendEmail": 1,
            "secretsmanager:GetSecretValue": 1,
            "events:PutEvents": 9,  # requests, not entries: not a bill line
        }
    )
    assert (counts.kms_requests, counts.s3_puts, counts.s3_gets, counts.ses_sends) == (2, 2, 1, 1)
    assert counts.secrets_manager_calls == 1
    assert counts.put_events_entries == 0
    with pytest.raises(ValueError, match="empty receives"):
        RunCounts().add_aws_calls({"sqs:ReceiveMessage": 1}, empty_receives=2)


def test_data_is_charged_per_binary_gigabyte(table: PriceTable) -> None:
    line = table.price(OrderOperations(log_bytes=1024)).item("cloudwatch.logs")
    assert line.formula == "1 KB x $0.50/GB"
    assert line.usd_per_million == pytest.approx(1024 / 2**30 * 0.50 * 1_000_000)


def test_an_http_api_is_charged_at_its_own_price(table: PriceTable) -> None:
    assert table.price(OrderOperations(api_requests=1)).usd("api_gateway.requests") == pytest.approx(3.50)
    http = table.price(OrderOperations(api_requests=1, api_type="HTTP"))
    assert http.usd("api_gateway.requests") == pytest.approx(1.00)
    assert http.item("api_gateway.requests").formula == "1 request x $1/M"


def test_a_design_without_an_operation_has_no_line_for_it(table: PriceTable) -> None:
    breakdown = table.price(OrderOperations(states_entered=4))
    assert [line.key for line in breakdown.items] == ["step_functions.transitions"]
    assert breakdown.usd("ses.emails") == 0.0
    with pytest.raises(KeyError):
        breakdown.item("ses.emails")


def test_negative_counts_are_refused() -> None:
    with pytest.raises(ValueError, match="states_entered"):
        OrderOperations(states_entered=-1)
    with pytest.raises(ValueError, match="ReceiveMessage"):
        OrderOperations(sqs_requests={"ReceiveMessage": -1})
    with pytest.raises(ValueError, match="architecture"):
        LambdaUsage(invocations=1, mean_duration_ms=1, architecture=cast(Any, "sparc"))


# --- the done-when figure -------------------------------------------------------------------------------


def test_ses_and_s3_are_left_out_of_the_done_when_total_only(table: PriceTable) -> None:
    breakdown = table.price(
        OrderOperations(states_entered=4, put_events_entries=6, ses_sends=1, s3_puts=2, s3_gets=1)
    )
    assert breakdown.usd("ses.emails") == pytest.approx(100.0)
    assert breakdown.usd("s3.puts") == pytest.approx(10.0)
    assert breakdown.total == pytest.approx(100 + 6 + 100 + 10 + 0.4)
    assert breakdown.total_excluding_ses_s3 == pytest.approx(106.0)
    assert breakdown.within_target


def test_the_target_is_140_dollars_inclusive(table: PriceTable) -> None:
    at_target = table.price(OrderOperations(states_entered=5.6))
    assert at_target.total_excluding_ses_s3 == pytest.approx(140.0)
    assert at_target.within_target
    assert not table.price(OrderOperations(states_entered=5.61)).within_target


# --- the source design ------------------------------------------------------------------------------


def test_the_source_design_enters_more_states_than_a_four_callback_design(table: PriceTable) -> None:
    four_callbacks = OrderOperations(
        states_entered=4,
        lambdas={
            name: LambdaUsage(invocations=1, mean_duration_ms=100)
            for name in ("ReserveStockFunction", "ProcessPaymentFunction", "GenerateInvoiceFunction")
        },
    )
    source = cost.source_design_operations(four_callbacks)
    assert source.states_entered == 8  # 5 Tasks, 2 Choices, Succeed
    assert source.states_entered > four_callbacks.states_entered
    assert source.lambda_invocations == 5
    assert source.lambda_invocations > four_callbacks.lambda_invocations
    assert source.put_events_entries == 0
    assert source.sqs_request_total == 0
    assert table.price(source).usd("step_functions.transitions") == pytest.approx(200.0)
    assert cost.source_design_operations(choice_states=0, pass_states=1).states_entered == 7


def test_the_source_design_takes_our_handlers_measured_durations() -> None:
    ours = OrderOperations(
        lambdas={
            "ProcessPaymentFunction": LambdaUsage(invocations=1, mean_duration_ms=321, memory_mb=1024),
            "OrdersApiFunction": LambdaUsage(invocations=3, mean_duration_ms=45),
        }
    )
    source = cost.source_design_operations(ours, durations_ms={"SendConfirmationFunction": 77})
    assert source.lambdas["ProcessPaymentFunction"].mean_duration_ms == 321
    assert source.lambdas["ProcessPaymentFunction"].memory_mb == 1024
    assert source.lambdas["RecordOrderFunction"].mean_duration_ms == 45
    assert source.lambdas["RecordOrderFunction"].invocations == 1
    assert source.lambdas["SendConfirmationFunction"].mean_duration_ms == 77
    assert source.lambdas["GenerateInvoiceFunction"].mean_duration_ms == cost.SOURCE_DEFAULT_DURATION_MS


# --- averaging a run --------------------------------------------------------------------------------


def _counts(orders: int, states: int, invocations: int, duration_ms: float) -> RunCounts:
    counts = RunCounts(orders=orders, states_entered=states, put_events_entries=orders * 2)
    counts.record_invocations("ReserveStockFunction", invocations, duration_ms, memory_mb=512)
    return counts


def test_a_run_is_averaged_per_completed_order_and_per_outcome(table: PriceTable) -> None:
    completed = _counts(orders=3, states=21, invocations=3, duration_ms=300.0)
    failed = _counts(orders=1, states=4, invocations=2, duration_ms=400.0)
    total = cost.merged([completed, failed])
    total.sqs_empty_receives = 40  # the pollers' idle receives belong to no order
    tally = RunTally(total=total, by_outcome={"COMPLETED": completed, "OUT_OF_STOCK": failed})

    assert tally.completed_orders == 3
    per_completed = tally.per_completed_order()
    # Completed orders carry the failed order's operations too.
    assert per_completed.states_entered == pytest.approx(25 / 3)
    assert per_completed.sqs_empty_receives == pytest.approx(40 / 3)
    assert per_completed.lambdas["ReserveStockFunction"].invocations == pytest.approx(5 / 3)
    assert per_completed.lambdas["ReserveStockFunction"].mean_duration_ms == pytest.approx(700 / 5)

    outcomes = tally.per_outcome()
    assert outcomes["COMPLETED"].states_entered == pytest.approx(7)
    assert outcomes["OUT_OF_STOCK"].states_entered == pytest.approx(4)
    assert outcomes["OUT_OF_STOCK"].lambdas["ReserveStockFunction"].mean_duration_ms == pytest.approx(200)
    assert table.price(outcomes["COMPLETED"]).usd("step_functions.transitions") == pytest.approx(175)


def test_a_run_without_completed_orders_cannot_be_priced_per_completed_order() -> None:
    tally = RunTally(total=_counts(1, 4, 1, 1.0), by_outcome={"FAILED": _counts(1, 4, 1, 1.0)})
    with pytest.raises(ValueError, match="COMPLETED"):
        tally.per_completed_order()


def test_one_function_cannot_be_recorded_at_two_sizes() -> None:
    counts = RunCounts()
    counts.record_invocations("F", 1, 10.0, memory_mb=512)
    with pytest.raises(ValueError, match="F"):
        counts.record_invocations("F", 1, 10.0, memory_mb=1024)


def test_what_a_run_cannot_see_is_estimated_only_where_it_counted_nothing() -> None:
    operations = OrderOperations(
        api_requests=2,
        put_events_entries=10,
        lambdas={"F": LambdaUsage(invocations=4, mean_duration_ms=10)},
        xray_traces=7,
    )
    rates = Assumptions(log_bytes_per_invocation=1000, log_bytes_per_api_request=100)
    filled = cost.fill_unmeasured(operations, rates)
    assert filled.log_bytes == 4 * 1000 + 2 * 100
    assert filled.xray_traces == 7  # counted: kept
    assert filled.archive_bytes == 10 * rates.archive_bytes_per_put_events_entry


# --- the happy path and the table -----------------------------------------------------------------


def test_the_happy_path_follows_next_and_choice_defaults() -> None:
    definition = {
        "StartAt": "A",
        "States": {
            "A": {
                "Type": "Task",
                "Next": "Check",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Oops"}],
            },
            "Check": {"Type": "Choice", "Choices": [{"Next": "Oops"}], "Default": "B"},
            "B": {"Type": "Task", "End": True},
            "Oops": {"Type": "Fail"},
        },
    }
    assert cost.happy_path_states(definition) == ["A", "Check", "B"]


def test_the_static_estimate_counts_the_workflow_as_it_is_defined() -> None:
    estimate = cost.static_estimate()
    assert estimate.states_entered == 4  # the four callback steps and nothing else
    assert estimate.lambda_invocations == 11
    assert estimate.log_bytes > 0
    assert estimate.xray_traces == Assumptions().xray_traces_per_api_request


def test_the_table_sets_both_designs_side_by_side_with_the_done_when_figures(table: PriceTable) -> None:
    ours = table.price(OrderOperations(states_entered=4, put_events_entries=6, ses_sends=1), "orderflow")
    source = table.price(cost.source_design_operations(), "source design")
    text = cost.render_table(ours, source)
    assert "checked 2026-12-02" in text
    assert "| Step Functions: State transitions (Standard) | 4 transitions x $25/M | 100.00 |" in text
    assert "8 transitions x $25/M | 200.00 |" in text
    # A line only one design has shows a dash for the other.
    assert "| EventBridge: Custom events (PutEvents entries) | 6 entries x $1/M | 6.00 |  | - |" in text
    done_when = next(row for row in text.splitlines() if row.startswith("| **Total excluding SES and S3**"))
    assert f"**{ours.total_excluding_ses_s3:,.2f}**" in done_when
    assert f"**{source.total_excluding_ses_s3:,.2f}**" in done_when
    assert "within the target" in done_when
    assert "over the target" in done_when


def test_a_breakdown_serialises_its_lines_and_totals(table: PriceTable) -> None:
    document = table.price(OrderOperations(states_entered=4, ses_sends=1)).to_json()
    assert document["pricesChecked"] == "2026-12-02"
    assert document["usdPerMillionOrdersExcludingSesS3"] == 100.0
    assert document["usdPerMillionOrders"] == 200.0
    assert [line["key"] for line in document["lines"]] == ["step_functions.transitions", "ses.emails"]


def test_the_log_and_trace_rates_are_the_templates_production_defaults() -> None:
    # The cost figure prices orderflow as its templates deploy it: a changed default must change
    # the model too (and the model's figure in docs/performance.md).
    from orderflow_local.settings import Settings
    from orderflow_local.templates import load_template

    root = Settings().repo_root
    infra = load_template(root / "infra/template.yaml")
    rule = infra["Resources"]["ApiSamplingRule"]["Properties"]["SamplingRule"]
    assert rule["ReservoirSize"] == 0
    assert rule["FixedRate"] == {"Ref": "TraceSampleRate"}
    assert infra["Parameters"]["TraceSampleRate"]["Default"] == Assumptions().xray_traces_per_api_request
    for service in ("orders", "inventory", "payments", "invoicing", "notifications"):
        template = load_template(root / f"services/{service}/template.yaml")
        assert template["Parameters"]["LogLevel"]["Default"] == "WARN", service
        logging = template["Globals"]["Function"]["LoggingConfig"]
        assert logging == {
            "LogFormat": "JSON",
            "ApplicationLogLevel": {"Ref": "LogLevel"},
            "SystemLogLevel": "WARN",
        }
    # Neither the platform's INFO lines nor the handlers' reach the logs on the happy path.
    assert Assumptions().log_bytes_per_invocation == 0.0
