"""What every inventory handler shares: its telemetry and the objects kept for the container's life.

Table and bus names come from the environment that template.yaml sets; the objects are built on
first use, so importing a handler needs no AWS configuration.
"""

from __future__ import annotations

import functools
import os
from datetime import timedelta
from typing import TYPE_CHECKING

from inventory.books_store import StockBooks
from inventory.service import Inventory
from inventory.stock_keeping import StockKeeping
from inventory.store import InventoryStore
from inventory.sweep import Sweeper
from orderflow_shared.aws import client, dynamodb_table
from orderflow_shared.observability import telemetry
from orderflow_shared.publisher import EventPublisher

if TYPE_CHECKING:
    from orderflow_shared.priced_reservations import PricedReservationSealer

# The Powertools logger is named after POWERTOOLS_SERVICE_NAME ("inventory"), so the use cases'
# module loggers (inventory.*) propagate to it and share its JSON format and correlation id.
TELEMETRY = telemetry()


@functools.cache
def store() -> InventoryStore:
    return InventoryStore(
        catalogue=dynamodb_table(os.environ["CATALOGUE_TABLE"]),
        reservations=dynamodb_table(os.environ["RESERVATIONS_TABLE"]),
    )


@functools.cache
def inventory() -> Inventory:
    return Inventory(store())


@functools.cache
def stock_keeping() -> StockKeeping:
    return StockKeeping(
        StockBooks(
            catalogue=dynamodb_table(os.environ["CATALOGUE_TABLE"]),
            adjustments=dynamodb_table(os.environ["ADJUSTMENTS_TABLE"]),
        )
    )


@functools.cache
def sweeper() -> Sweeper:
    overdue_after = timedelta(seconds=int(os.environ["RESERVATION_OVERDUE_SECONDS"]))
    return Sweeper(inventory(), store().held_reservations, overdue_after)


@functools.cache
def publisher() -> EventPublisher:
    return EventPublisher()


@functools.cache
def priced_reservation_sealer() -> PricedReservationSealer:
    """One per container: its data key, and so its KMS call, serves the reservations it answers."""
    from orderflow_shared.priced_reservations import PricedReservationSealer

    return PricedReservationSealer(client("kms"), os.environ["PRICED_RESERVATION_KEY_ARN"])


CACHED = (store, inventory, stock_keeping, sweeper, publisher, priced_reservation_sealer)
"""Every object above, for tests that build them afresh in each fake AWS."""
