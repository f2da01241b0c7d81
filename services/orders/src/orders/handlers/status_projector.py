"""Projects the lifecycle events of every service onto the order's status and history."""

from __future__ import annotations

from orderflow_shared.contracts import Event
from orderflow_shared.entry_points import events_handler
from orders.domain.projection import PROJECTED_EVENTS, status_change
from orders.handlers.wiring import TELEMETRY, repository

logger = TELEMETRY.logger


def project(event: Event) -> None:
    change = status_change(event)
    moved = repository().apply(change)
    logger.info(
        "status projected" if moved else "late or duplicate event recorded without moving the status",
        extra={"status": change.status.value},
    )


handler = events_handler(TELEMETRY, dict.fromkeys(PROJECTED_EVENTS, project))
