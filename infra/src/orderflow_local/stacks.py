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


@dataclass(frozen=True)
class LocalEndpoints:
    payment_provider_url: str
    time_scale: float = 1.0  # the local system's ORDERFLOW_TIME_SCALE

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
        default=lambda endpoints, infra_outputs: {"EventBusName": infra_outputs["EventBusName"]}
    )


def _service(name: str) -> StackDefinition:
    return StackDefinition(f"orderflow-{name}", f"services/{name}/template.yaml")


def _api_parameters(infra_outputs: Mapping[str, str]) -> dict[str, str]:
    """What a service with an API needs from infra: the bus, and the user pool its callers sign in to."""
    return {
        "EventBusName": infra_outputs["EventBusName"],
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
            "PendingStartGraceSeconds": f"{endpoints.scaled(30):g}",
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
            "EventBusName": outputs["EventBusName"],
            "PaymentProviderUrl": endpoints.payment_provider_url,
            "PaymentProviderReadTimeoutSeconds": f"{endpoints.provider_read_timeout_seconds:g}",
            # The reconciler's clock, scaled like its schedule: a recheck every 5 minutes for an hour.
            "ReconcileRecheckSeconds": f"{endpoints.scaled(300):g}",
            "ReconcileWindowSeconds": f"{endpoints.scaled(3600):g}",
        },
    ),
    _service("invoicing"),
    _service("notifications"),
)
