"""GenerateInvoice command (GenerateInvoiceQueue): issue the invoice, answer the workflow."""

from __future__ import annotations

import functools
import os
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from invoicing.archive import InvoiceArchive
from invoicing.issuer import InvoiceIssuer
from invoicing.registry import InvoiceRegistry
from orderflow_shared.aws import dynamodb_table
from orderflow_shared.consumer import EventRouter, answer_command
from orderflow_shared.contracts.orders import GenerateInvoice, InvoiceResult
from orderflow_shared.observability import telemetry
from orderflow_shared.publisher import EventPublisher

tools = telemetry()
logger, tracer, metrics = tools.logger, tools.tracer, tools.metrics


@functools.cache
def _issuer() -> InvoiceIssuer:
    return InvoiceIssuer(
        registry=InvoiceRegistry(dynamodb_table(os.environ["INVOICES_TABLE"])),
        archive=InvoiceArchive(os.environ["INVOICES_BUCKET"]),
        publisher=EventPublisher(),
        link_base_url=os.environ["INVOICE_LINK_BASE_URL"],
    )


def _generate_invoice(command: GenerateInvoice) -> InvoiceResult:
    result = _issuer().issue(command)
    logger.info("invoice issued", extra={"invoice_number": result.invoice_number})
    metrics.add_metric(name="InvoiceCommandsHandled", unit=MetricUnit.Count, value=1)
    return result


@functools.cache
def _router() -> EventRouter:
    return EventRouter({GenerateInvoice: answer_command(_generate_invoice)}, logger)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return _router().handle(event, context)
