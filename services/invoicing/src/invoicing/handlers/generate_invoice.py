"""GenerateInvoice command (GenerateInvoiceQueue): issue the invoice, answer the workflow."""

from __future__ import annotations

from aws_lambda_powertools.metrics import MetricUnit

from invoicing.handlers.wiring import TELEMETRY, issuer
from orderflow_shared.consumer import answer_command
from orderflow_shared.contracts.orders import GenerateInvoice, InvoiceResult
from orderflow_shared.entry_points import events_handler

logger, metrics = TELEMETRY.logger, TELEMETRY.metrics


def generate_invoice(command: GenerateInvoice) -> InvoiceResult:
    result = issuer().issue(command)
    logger.info("invoice issued", extra={"invoice_number": result.invoice_number})
    metrics.add_metric(name="InvoiceCommandsHandled", unit=MetricUnit.Count, value=1)
    TELEMETRY.record_step_latency(command)
    return result


handler = events_handler(TELEMETRY, {GenerateInvoice: answer_command(generate_invoice)})
