"""What the invoicing handler needs: its telemetry and the issuer kept for the container's life.

Names come from the environment that template.yaml sets; the issuer is built on first use, so
importing the handler needs no AWS configuration, and imported then: it renders PDFs with fpdf2,
which (with the fontTools it loads) takes longer to import than everything else the function needs.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

from orderflow_shared.aws import dynamodb_table
from orderflow_shared.observability import telemetry
from orderflow_shared.publisher import EventPublisher

if TYPE_CHECKING:
    from invoicing.issuer import InvoiceIssuer

# The Powertools logger is named after POWERTOOLS_SERVICE_NAME ("invoicing"), so the domain's
# module loggers (invoicing.*) propagate to it and share its JSON format and correlation id.
TELEMETRY = telemetry()


@functools.cache
def issuer() -> InvoiceIssuer:
    from invoicing.archive import InvoiceArchive
    from invoicing.issuer import InvoiceIssuer
    from invoicing.registry import InvoiceRegistry

    return InvoiceIssuer(
        registry=InvoiceRegistry(dynamodb_table(os.environ["INVOICES_TABLE"])),
        archive=InvoiceArchive(os.environ["INVOICES_BUCKET"]),
        publisher=EventPublisher(),
        link_base_url=os.environ["INVOICE_LINK_BASE_URL"],
    )


CACHED = (issuer,)
"""Every object above, for tests that build them afresh in each fake AWS."""
