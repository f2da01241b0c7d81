"""Which stacks make up the local system, in deployment order, and the local values of their parameters.

This is deployment configuration, not a resource list: every table, queue, rule and function
comes from the templates themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
    parameters: Callable[[LocalEndpoints, Mapping[str, str]], dict[str, str]] = field(
        default=lambda endpoints, infra_outputs: _bus_parameters(infra_outputs)
    )


def _service(name: str) -> StackDefinition:
    return StackDefinition(f"orderflow-{name}", f"services/{name}/template.yaml")


def _bus_parameters(infra_outputs: Mapping[str, str]) -> dict[str, str]:
    """What every service needs from infra: the domain-events bus and the order workflow's commands bus;
    and, locally, its handlers' INFO lines (production's default is WARNING), to follow orders by."""
    return {
        "EventBusName": infra_outputs["EventBusName"],
        "CommandsBusName": infra_outputs["CommandsBusName"],
        "LogLevel": "INFO",
    }


def _api_parameters(infra_outputs: Mapping[str, str]) -> dict[str, str]:
    """What a service with an API needs from infra: the buses, and the user pool its callers sign in to."""
    return {
        **_bus_parameters(infra_outputs),
        "UserPoolArn": infra_outputs["UserPoolArn"],
        "OperatorsGroupName": infra_outputs["OperatorsGroupName"],
    }


STACKS: tuple[StackDefinition, ...] = (
    StackDefinition(INFRA_STACK, "infra/template.yaml", parameters=lambda endpoints, outputs: {}),
    StackDefinition(
        "orderflow-orders",
        "services/orders/template.yaml",
        parameters=lambda endpoints, outputs: {
            **_api_parameters(outputs),
            "PaymentTokenKeyArn": outputs["PaymentTokenKeyArn"],
            "PendingStartGraceSeconds": f"{endpoints.scaled(30):g}",
            # InvoiceDownloadSeconds keeps its default: a link's lifetime is real time, not scaled.
            "InvoicesBucketName": INVOICES_BUCKET_NAME,
        },
    ),
    StackDefinition(
        "orderflow-inventory",
        "services/inventory/template.yaml",
        parameters=lambda endpoints, outputs: _api_parameters(outputs),
    ),
    StackDefinition(
        PAYMENTS_STACK,
        "services/payments/template.yaml",
        parameters=lambda endpoints, outputs: {
            **_bus_parameters(outputs),
            "PaymentTokenKeyArn": outputs["PaymentTokenKeyArn"],
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
        parameters=lambda endpoints, outputs: {
            **_bus_parameters(outputs),
            "InvoicesBucketName": INVOICES_BUCKET_NAME,
            "InvoiceLinkBaseUrl": endpoints.api_url,
        },
    ),
    _service("notifications"),
)
