"""Which stacks make up the local system, in deployment order, and the local values of their parameters.

This is deployment configuration, not a resource list: every table, queue, rule and function
comes from the templates themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

INFRA_STACK = "orderflow-infra"
PAYMENTS_STACK = "orderflow-payments"


# The payments template's default read timeout for provider calls, in seconds of real time.
PROVIDER_READ_TIMEOUT_SECONDS = 20.0


@dataclass(frozen=True)
class LocalEndpoints:
    payment_provider_url: str
    time_scale: float = 1.0  # the local system's ORDERFLOW_TIME_SCALE

    @property
    def provider_read_timeout_seconds(self) -> float:
        """The payments adapter's read timeout, scaled like every other wait of the local system but
        never under a second, so an ordinary provider answer is not mistaken for a lost one."""
        return max(1.0, round(PROVIDER_READ_TIMEOUT_SECONDS * self.time_scale, 2))


@dataclass(frozen=True)
class StackDefinition:
    name: str
    template: str  # relative to the repository root
    parameters: Callable[[LocalEndpoints, Mapping[str, str]], dict[str, str]] = field(
        default=lambda endpoints, infra_outputs: {"EventBusName": infra_outputs["EventBusName"]}
    )


def _service(name: str) -> StackDefinition:
    return StackDefinition(f"orderflow-{name}", f"services/{name}/template.yaml")


STACKS: tuple[StackDefinition, ...] = (
    StackDefinition(INFRA_STACK, "infra/template.yaml", parameters=lambda endpoints, outputs: {}),
    _service("orders"),
    _service("inventory"),
    StackDefinition(
        PAYMENTS_STACK,
        "services/payments/template.yaml",
        parameters=lambda endpoints, outputs: {
            "EventBusName": outputs["EventBusName"],
            "PaymentProviderUrl": endpoints.payment_provider_url,
            "PaymentProviderReadTimeoutSeconds": f"{endpoints.provider_read_timeout_seconds:g}",
        },
    ),
    _service("invoicing"),
    _service("notifications"),
)
