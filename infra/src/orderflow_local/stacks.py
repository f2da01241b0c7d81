"""Which stacks make up the local system, in deployment order, and the local values of their parameters.

This is deployment configuration, not a resource list: every table, queue, rule and function
comes from the templates themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

INFRA_STACK = "orderflow-infra"
PAYMENTS_STACK = "orderflow-payments"


@dataclass(frozen=True)
class LocalEndpoints:
    payment_provider_url: str


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
        },
    ),
    _service("invoicing"),
    _service("notifications"),
)
