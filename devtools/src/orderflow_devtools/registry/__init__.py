"""The event contracts as published artefacts: registry schemas, samples, the catalogue, the docs.

Everything here is generated from ``orderflow_shared.contracts`` (the single source) and from what
each service declares it publishes (``services/<svc>/events.yaml``) and subscribes to (the
EventBridge rules of its ``template.yaml``). ``python -m orderflow_devtools.registry generate``
writes the files; ``check`` fails when a committed one is stale or the catalogue is inconsistent.
See docs/event-contracts.md.

A development tool: its third-party imports are the shared package's dev dependencies.
"""

from orderflow_devtools.registry.catalogue import Service, Subscription, load_services
from orderflow_devtools.registry.event_types import EventType, contract_models

__all__ = ["EventType", "Service", "Subscription", "contract_models", "load_services"]
