"""Which stacks make up the local system, in deployment order, and the local values of their parameters.

This is deployment configuration, not a resource list: every table, queue, rule and function
comes from the templates themselves. Nothing here hands infra's outputs to a service: infra publishes
what it shares as SSM parameters, and each service stack reads them when it deploys, as on AWS
(docs/architecture.md). Infra deploys first so that they exist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

INFRA_STACK = "orderflow-infra"
PAYMENTS_STACK = "orderflow-payments"


# The public API's OpenAPI document, relative to the repository root: generated from the API handlers
# (python -m orderflow_iac.openapi generate) and served by the local gateway at /openapi.json.
OPENAPI_DOCUMENT = "docs/openapi.json"

# The payments template's default read timeout for provider calls, in seconds of real time.
PROVIDER_READ_TIMEOUT_SECONDS = 20.0

# The invoices bucket's name, which the invoicing stack creates and the orders stack presigns
# downloads from: both receive it (InvoicesBucketName), so neither reads the other's outputs.
INVOICES_BUCKET_NAME = "orderflow-invoices"


@dataclass(frozen=True)
class LocalEndpoints:
    payment_provider_url: str
    time_scale: float = 1.0  # the local system's ORDERFLOW_TIME_SCALE
    # The local gateway's base URL: the public API's, which invoice links point at.
    api_url: str = "http://127.0.0.1:8000"

    def scaled(self, seconds: float) -> float:
        """A wait of the deployed system at the local time scale (never under a second)."""
        return max(1.0, round(seconds * self.time_scale, 2))

    @property
    def provider_read_timeout_seconds(self) -> float:
        """The payments adapter's read timeout, scaled like every other wait of the local system but
        never under a second, so an ordinary provider answer is not mistaken for a lost one."""
        return self.scaled(PROVIDER_READ_TIMEOUT_SECONDS)


@dataclass(frozen=True)
class StackDefinition:
    name: str
    template: str  # relative to the repository root
    # The stack's parameter values that differ locally from the template's defaults.
    parameters: Callable[[LocalEndpoints], dict[str, str]] = field(default=lambda endpoints: _local_logs())


def _service(name: str) -> StackDefinition:
    return StackDefinition(f"orderflow-{name}", f"services/{name}/template.yaml")


def _local_logs() -> dict[str, str]:
    """Every service's handlers log their INFO lines locally (production's default is WARN), to follow
    orders by."""
    return {"LogLevel": "INFO"}


STACKS: tuple[StackDefinition, ...] = (
    StackDefinition(INFRA_STACK, "infra/template.yaml", parameters=lambda endpoints: {}),
    StackDefinition(
        "orderflow-orders",
        "services/orders/template.yaml",
        parameters=lambda endpoints: {
            **_local_logs(),
            "PendingStartGraceSeconds": f"{endpoints.scaled(30):g}",
            # InvoiceDownloadSeconds keeps its default: a link's lifetime is real time, not scaled.
            "InvoicesBucketName": INVOICES_BUCKET_NAME,
        },
    ),
    _service("inventory"),
    StackDefinition(
        PAYMENTS_STACK,
        "services/payments/template.yaml",
        parameters=lambda endpoints: {
            **_local_logs(),
            "PaymentProviderUrl": endpoints.payment_provider_url,
            "PaymentProviderReadTimeoutSeconds": f"{endpoints.provider_read_timeout_seconds:g}",
            # The reconciler's clock, scaled like its schedule: a recheck every 5 minutes for an hour.
            "ReconcileRecheckSeconds": f"{endpoints.scaled(300):g}",
            "ReconcileWindowSeconds": f"{endpoints.scaled(3600):g}",
        },
    ),
    StackDefinition(
        "orderflow-invoicing",
        "services/invoicing/template.yaml",
        parameters=lambda endpoints: {
            **_local_logs(),
            "InvoicesBucketName": INVOICES_BUCKET_NAME,
            "InvoiceLinkBaseUrl": endpoints.api_url,
        },
    ),
    _service("notifications"),
)
