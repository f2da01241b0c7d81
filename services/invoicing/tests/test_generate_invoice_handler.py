from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pypdf import PdfReader

from invoicing.document import InvoiceDocument
from invoicing.handlers.generate_invoice import handler
from orderflow_devtools.testing import FakeLambdaContext, WorkflowAnswers, emitted_metric, sqs_event
from orderflow_shared.contracts.invoicing import InvoiceGenerated
from orderflow_shared.contracts.orders import GenerateInvoice, GenerateInvoiceData, InvoiceResult
from orderflow_shared.invoices import invoice_json_key, invoice_pdf_key

from .conftest import BUCKET, LINK_BASE_URL, TEMPLATE, Stack

ORDER_ID = "3f2a9c1b-77d0-4c1e-9d51-0a6f3c2b8e11"
PDF_KEY = f"invoices/{ORDER_ID}/invoice.pdf"
JSON_KEY = f"invoices/{ORDER_ID}/invoice.json"
INVOICE_LINK = f"{LINK_BASE_URL}/orders/{ORDER_ID}/invoice"


def _command(data: GenerateInvoiceData, occurred_at: datetime | None = None) -> GenerateInvoice:
    command = GenerateInvoice.create(ORDER_ID, data, task_token="tok-invoice")
    if occurred_at is None:
        return command
    metadata = command.metadata.model_copy(update={"occurred_at": occurred_at})
    return command.model_copy(update={"metadata": metadata})


def _deliver(*commands: GenerateInvoice | str) -> dict[str, Any]:
    return handler(sqs_event(*commands), FakeLambdaContext())


def test_invoice_copies_are_stored_and_the_task_answered_with_the_invoice_link(
    stack: Stack, workflow: WorkflowAnswers, invoice_data: GenerateInvoiceData
) -> None:
    response = _deliver(_command(invoice_data, datetime(2026, 5, 14, 9, 0, tzinfo=UTC)))

    assert response == {"batchItemFailures": []}
    pdf = stack.s3.get_object(Bucket=BUCKET, Key=PDF_KEY)
    assert pdf["ContentType"] == "application/pdf"
    assert pdf["ContentDisposition"] == 'inline; filename="INV-20260514-3F2A9C1B.pdf"'
    pdf_text = PdfReader(io.BytesIO(pdf["Body"].read())).pages[0].extract_text()
    assert "INV-20260514-3F2A9C1B" in pdf_text
    stored_json = stack.s3.get_object(Bucket=BUCKET, Key=JSON_KEY)
    assert stored_json["ContentType"] == "application/json"
    document = InvoiceDocument.model_validate_json(stored_json["Body"].read())
    assert document.invoice_number == "INV-20260514-3F2A9C1B"
    assert document.total_amount == 133454

    [answer] = workflow.success_outputs
    result = InvoiceResult.model_validate(answer)
    assert result.invoice_number == "INV-20260514-3F2A9C1B"
    assert result.invoice_url == INVOICE_LINK


def test_the_link_is_the_orders_apis_invoice_route_never_a_presigned_url(
    stack: Stack, workflow: WorkflowAnswers, invoice_data: GenerateInvoiceData
) -> None:
    _deliver(_command(invoice_data))
    [answer] = workflow.success_outputs

    assert answer["invoiceUrl"] == f"https://api.orderflow.test/Prod/orders/{ORDER_ID}/invoice"
    assert "X-Amz-" not in answer["invoiceUrl"]
    assert BUCKET not in answer["invoiceUrl"]


def test_a_base_url_ending_in_a_slash_gives_the_same_link(
    stack: Stack,
    workflow: WorkflowAnswers,
    invoice_data: GenerateInvoiceData,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INVOICE_LINK_BASE_URL", LINK_BASE_URL + "/")

    _deliver(_command(invoice_data))

    [answer] = workflow.success_outputs
    assert answer["invoiceUrl"] == INVOICE_LINK


def test_the_function_may_write_invoices_but_not_read_them() -> None:
    policies = TEMPLATE.properties("AWS::Serverless::Function")["GenerateInvoiceFunction"]["Policies"]
    statements = [s for policy in policies if "Statement" in policy for s in policy["Statement"]]
    s3 = [s for s in statements if any(str(a).startswith("s3:") for a in _listed(s["Action"]))]

    [write] = s3
    assert _listed(write["Action"]) == ["s3:PutObject"]
    # Exactly the keys the code writes (orderflow_shared.invoices), of its own bucket.
    assert [resource["Fn::Sub"] for resource in write["Resource"]] == [
        f"${{InvoicesBucket.Arn}}/{invoice_pdf_key('*')}",
        f"${{InvoicesBucket.Arn}}/{invoice_json_key('*')}",
    ]
    assert "S3ReadPolicy" not in str(policies)
    assert "S3WritePolicy" not in str(policies)  # it also grants PutObjectAcl and the bucket's lifecycle
    assert "s3:GetObject" not in str(policies)


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_invoice_generated_is_published_with_the_answered_invoice(
    stack: Stack, workflow: WorkflowAnswers, invoice_data: GenerateInvoiceData
) -> None:
    _deliver(_command(invoice_data))

    [event] = stack.published.drain()
    assert isinstance(event, InvoiceGenerated)
    [answer] = workflow.success_outputs
    assert event.order_id == ORDER_ID
    assert event.data.invoice_number == answer["invoiceNumber"]
    assert event.data.invoice_url == answer["invoiceUrl"]
    assert (event.data.total_amount, event.data.currency) == (133454, "USD")


def test_a_redelivered_or_retried_command_keeps_the_first_invoice_number(
    stack: Stack, workflow: WorkflowAnswers, invoice_data: GenerateInvoiceData
) -> None:
    first = _command(invoice_data, datetime(2026, 5, 14, 23, 59, tzinfo=UTC))
    _deliver(first)
    _deliver(first)
    _deliver(_command(invoice_data, datetime(2026, 5, 15, 0, 5, tzinfo=UTC)))

    numbers = {answer["invoiceNumber"] for answer in workflow.success_outputs}
    assert numbers == {"INV-20260514-3F2A9C1B"}
    assert len(workflow.success_outputs) == 3
    assert stack.table.scan()["Count"] == 1
    stored = stack.s3.get_object(Bucket=BUCKET, Key=JSON_KEY)["Body"].read()
    assert json.loads(stored)["invoiceNumber"] == "INV-20260514-3F2A9C1B"
    listed = stack.s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert sorted(obj["Key"] for obj in listed) == [JSON_KEY, PDF_KEY]


def test_the_record_names_the_number_and_both_keys(
    stack: Stack, workflow: WorkflowAnswers, invoice_data: GenerateInvoiceData
) -> None:
    _deliver(_command(invoice_data, datetime(2026, 5, 14, 9, 0, tzinfo=UTC)))

    item = stack.table.get_item(Key={"orderId": ORDER_ID})["Item"]
    assert item["invoiceNumber"] == "INV-20260514-3F2A9C1B"
    assert (item["pdfKey"], item["jsonKey"]) == (PDF_KEY, JSON_KEY)


def test_a_malformed_command_is_reported_and_nothing_is_answered(
    stack: Stack, workflow: WorkflowAnswers, invoice_data: GenerateInvoiceData
) -> None:
    event = sqs_event("{not json", _command(invoice_data))

    response = _deliver_raw(event)

    assert response == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert len(workflow.success_outputs) == 1


def test_when_storing_fails_the_workflow_is_told_of_a_fault_and_nothing_is_announced(
    stack: Stack,
    workflow: WorkflowAnswers,
    invoice_data: GenerateInvoiceData,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INVOICES_BUCKET", "no-such-bucket")

    # The message is done: the saga's Retry decides whether to send the command again.
    assert _deliver(_command(invoice_data)) == {"batchItemFailures": []}

    [(error, cause)] = workflow.failures.values()
    assert (error, cause.split(":")[0]) == ("ServiceFault", "NoSuchBucket")
    assert workflow.successes == {}
    assert stack.published.drain() == []


def _deliver_raw(event: dict[str, Any]) -> dict[str, Any]:
    return handler(event, FakeLambdaContext())


def test_the_steps_latency_from_the_command_to_the_answer_is_a_metric(
    stack: Stack,
    workflow: WorkflowAnswers,
    invoice_data: GenerateInvoiceData,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The workflow sent the command 42 s ago (the state's entry time): the step took at least that.
    sent = datetime.now(UTC) - timedelta(seconds=42)
    before = datetime.now(UTC)
    _deliver(_command(invoice_data, sent))
    elapsed = (datetime.now(UTC) - before).total_seconds()

    output = capsys.readouterr().out
    [seconds] = emitted_metric(output, "GenerateInvoiceStepSeconds")
    assert 42 <= seconds <= 42 + elapsed + 1
    [directive] = [
        blob["_aws"]["CloudWatchMetrics"][0]
        for blob in map(json.loads, output.splitlines())
        if "GenerateInvoiceStepSeconds" in blob
    ]
    assert {"Name": "GenerateInvoiceStepSeconds", "Unit": "Seconds"} in directive["Metrics"]
    assert workflow.success_outputs
